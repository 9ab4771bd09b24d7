import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStrataError } from '../../../src/common/errors.js';
import { assertValidId, IdMinter, invalidIdReason, newMasterId } from '../../../src/common/ids.js';
import { formatBytes, formatDuration, parseBytes, parseDuration } from '../../../src/common/units.js';

describe('ids', () => {
  it('mints Mesos-formatted ids', () => {
    const masterId = newMasterId();
    assert.match(masterId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ids = new IdMinter(masterId);
    assert.equal(ids.frameworkId(), `${masterId}-0000`);
    assert.equal(ids.frameworkId(), `${masterId}-0001`);
    assert.equal(ids.agentId(), `${masterId}-S0`);
    assert.equal(ids.agentId(), `${masterId}-S1`);
    assert.equal(ids.offerId(), `${masterId}-O0`);
  });

  it('pads framework ids to 4 digits and grows past them', () => {
    const ids = new IdMinter('m');
    for (let i = 0; i < 10_000; i++) ids.frameworkId();
    assert.equal(ids.frameworkId(), 'm-10000');
  });

  it('rejects ids that cannot be path components', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\nb', 'x'.repeat(256)]) assert.ok(invalidIdReason(bad), bad);
    for (const good of ['task-1', 'a.b', 'ünïcode', 'x'.repeat(255)])
      assert.equal(invalidIdReason(good), undefined);
    assert.throws(
      () => assertValidId('task ID', 'a/b'),
      (e: unknown) => isStrataError(e, 'ID_INVALID') && /task ID 'a\/b'/.test(e.message),
    );
  });
});

describe('units', () => {
  it('parses and formats Mesos durations', () => {
    assert.equal(parseDuration('30secs'), 30_000);
    assert.equal(parseDuration('1.5mins'), 90_000);
    assert.equal(parseDuration('100ms'), 100);
    assert.equal(parseDuration('2weeks'), 2 * 604_800_000);
    assert.equal(parseDuration('30'), undefined);
    assert.equal(parseDuration('30s'), undefined);
    assert.equal(formatDuration(15_000), '15secs');
    assert.equal(formatDuration(600_000), '10mins');
    assert.equal(formatDuration(1500), '1.5secs');
    assert.equal(formatDuration(0), '0ns');
  });

  it('parses and formats byte sizes', () => {
    assert.equal(parseBytes('512MB'), 512 * 1024 * 1024);
    assert.equal(parseBytes('1024B'), 1024);
    assert.equal(parseBytes('10 GB'), 10 * 1024 ** 3);
    assert.equal(parseBytes('10'), undefined);
    assert.equal(formatBytes(2 * 1024 ** 3), '2GB');
    assert.equal(formatBytes(1000), '1000B');
  });
});
