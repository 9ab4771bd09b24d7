import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/common/clock.js';

describe('ManualClock', () => {
  it('fires timeouts and intervals in due order as time advances', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
    const tick = clock.setInterval(() => fired.push(`i@${clock.now()}`), 150);
    clock.advance(99);
    assert.deepEqual(fired, []);
    clock.advance(251);
    assert.deepEqual(fired, ['a@100', 'i@150', 'b@200', 'i@300']);
    tick.cancel();
    clock.advance(1000);
    assert.equal(fired.length, 4);
    assert.equal(clock.now(), 1350);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('lets a cancelled timeout never fire', () => {
    const clock = new ManualClock();
    let fired = false;
    clock
      .setTimeout(() => {
        fired = true;
      }, 10)
      .cancel();
    clock.advance(100);
    assert.equal(fired, false);
  });
});
