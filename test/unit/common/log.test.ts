import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/common/clock.js';
import { createLogger, LogLevelControl } from '../../../src/common/log.js';

describe('LogLevelControl', () => {
  it('raises the verbosity of the root and its existing children, then reverts after the duration', () => {
    const root = createLogger('test', 'warn');
    const child = root.child({ component: 'a' });
    const grandchild = child.child({ id: 1 });
    const clock = new ManualClock();
    const control = new LogLevelControl(root, 'warn', clock);
    assert.equal(control.verbosity, 0);
    control.set(1, 60_000);
    assert.equal(control.verbosity, 1);
    assert.deepEqual([root.level, child.level, grandchild.level], ['debug', 'debug', 'debug']);
    // Children made while raised start raised.
    assert.equal(root.child({}).level, 'debug');
    control.set(3, 60_000);
    assert.equal(grandchild.level, 'trace');
    clock.advance(59_999);
    assert.equal(child.level, 'trace');
    clock.advance(1);
    assert.equal(control.verbosity, 0);
    assert.deepEqual([root.level, child.level, grandchild.level], ['warn', 'warn', 'warn']);
  });

  it('maps verbosity like glog: 0 is the configured level', () => {
    assert.equal(LogLevelControl.levelFor(0, 'info'), 'info');
    assert.equal(LogLevelControl.levelFor(1, 'info'), 'debug');
    assert.equal(LogLevelControl.levelFor(2, 'info'), 'trace');
  });
});
