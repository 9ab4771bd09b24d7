import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addScalars,
  compareScalars,
  fromMilli,
  roundScalar,
  Scalar,
  subtractScalars,
  toMilli,
} from '../../../src/resources/scalar.js';

describe('fixed-point scalars', () => {
  it('0.1 + 0.2 is exactly 0.3', () => {
    assert.equal(addScalars(0.1, 0.2), 0.3);
    assert.equal(Scalar.of(0.1).add(Scalar.of(0.2)).value, 0.3);
    assert.ok(Scalar.of(0.1).add(Scalar.of(0.2)).equals(Scalar.of(0.3)));
  });

  it('repeated add and subtract never drifts', () => {
    let sum = Scalar.ZERO;
    for (let i = 0; i < 10_000; i++) sum = sum.add(Scalar.of(0.1));
    assert.equal(sum.value, 1000);
    for (let i = 0; i < 10_000; i++) sum = sum.subtract(Scalar.of(0.1));
    assert.equal(sum.milli, 0);
    assert.ok(sum.isEmpty());

    let float = 0;
    for (let i = 0; i < 10_000; i++) float += 0.1;
    assert.notEqual(float, 1000, 'the naive float sum does drift (the reason for fixed point)');
  });

  it('rounds to thousandths half away from zero, like llround', () => {
    assert.equal(toMilli(1.0005), 1001);
    assert.equal(toMilli(0.0005), 1);
    assert.equal(toMilli(0.0004), 0);
    assert.equal(toMilli(-0.0005), -1);
    assert.equal(toMilli(-2.5e-3), -3);
    assert.equal(Object.is(toMilli(-0.0001), 0), true, 'no negative zero');
    assert.equal(roundScalar(1.23456), 1.235);
    assert.equal(fromMilli(1500), 1.5);
  });

  it('compares at 0.001 resolution', () => {
    assert.equal(compareScalars(1.0001, 1.0), 0);
    assert.ok(compareScalars(1.001, 1.0) > 0);
    assert.ok(Scalar.of(2).contains(Scalar.of(1.999)));
    assert.ok(!Scalar.of(1.999).contains(Scalar.of(2)));
    assert.equal(subtractScalars(1, 0.9), 0.1);
  });

  it('prints the shortest text', () => {
    assert.equal(Scalar.of(1024).toString(), '1024');
    assert.equal(Scalar.of(0.5).toString(), '0.5');
    assert.equal(Scalar.of(0.001).toString(), '0.001');
  });
});
