import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LaunchGate } from '../../../src/agent/launch-gate.js';

describe('LaunchGate', () => {
  it('admits up to its limit, then first come first served as slots are released', async () => {
    const gate = new LaunchGate(2);
    const order: number[] = [];
    const releases = await Promise.all([gate.acquire(), gate.acquire()]);
    assert.equal(gate.booting, 2);
    const third = gate.acquire().then((r) => {
      order.push(3);
      return r;
    });
    const fourth = gate.acquire().then((r) => {
      order.push(4);
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, []);
    assert.equal(gate.queued, 2);
    releases[0]!();
    releases[0]!(); // idempotent: frees one slot only
    const r3 = await third;
    assert.deepEqual(order, [3]);
    assert.equal(gate.booting, 2);
    releases[1]!();
    const r4 = await fourth;
    assert.deepEqual(order, [3, 4]);
    r3();
    r4();
    assert.equal(gate.booting, 0);
  });

  it('gives a slot back by itself after holdMs', async () => {
    const gate = new LaunchGate(1, 20);
    // The gate's timer is unref'd (it never holds the agent open): keep this test alive meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    await gate.acquire();
    const next = await gate.acquire();
    clearInterval(keepAlive);
    assert.equal(gate.booting, 1);
    next();
    assert.equal(gate.booting, 0);
  });

  it('refuses a limit below 1', () => {
    assert.throws(() => new LaunchGate(0), /at least 1/);
  });
});
