import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SparePool, sparePaths } from '../../../src/containerizer/provisioner/spares.js';

/** A pool whose "rootfs" is a marker file; builds wait for `release()` when gated. */
function pool(options: { limit?: number; depth?: number; idleMs?: number; failBuild?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-spares-'));
  const built: string[] = [];
  const destroyed: string[] = [];
  const errors: unknown[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const spares = new SparePool({
    dir,
    limit: options.limit ?? 2,
    ...(options.depth !== undefined ? { depth: options.depth } : {}),
    idleMs: options.idleMs ?? 60_000,
    build: async (key, rootfs) => {
      if (gate) await gate;
      if (options.failBuild) throw new Error('mount failed');
      writeFileSync(join(rootfs, 'image'), key);
      built.push(key);
    },
    destroy: async (rootfs) => {
      destroyed.push(rootfs);
    },
    onError: (err) => errors.push(err),
  });
  return {
    dir,
    spares,
    built,
    destroyed,
    errors,
    hold() {
      gate = new Promise((r) => {
        open = r;
      });
    },
    release() {
      gate = undefined;
      open?.();
    },
  };
}

async function settle(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), 'condition not reached');
}

describe('SparePool: rootfses built ahead for the next container of an image', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('builds `depth` spares per image and hands each out once', async () => {
    const p = pool();
    dirs.push(p.dir);
    p.spares.refill('img-a');
    await settle(() => p.spares.size === 2);
    assert.deepEqual(p.built, ['img-a', 'img-a']);
    const one = p.spares.take('img-a')!;
    const two = p.spares.take('img-a')!;
    assert.notEqual(one.id, two.id);
    assert.equal(p.spares.take('img-a'), undefined, 'a spare is never handed out twice');
    assert.equal(p.spares.take('img-b'), undefined);
    assert.ok(existsSync(join(sparePaths(one).rootfs, 'image')));
  });

  it('does not build more while builds are in flight; refill tops up to depth', async () => {
    const p = pool({ depth: 2 });
    dirs.push(p.dir);
    p.hold();
    p.spares.refill('img');
    p.spares.refill('img');
    p.spares.refill('img');
    p.release();
    await settle(() => p.spares.size === 2);
    assert.equal(p.built.length, 2);
    p.spares.take('img');
    p.spares.refill('img');
    await settle(() => p.spares.size === 2);
    assert.equal(p.built.length, 3);
  });

  it('keeps spares of the `limit` most recently used images only', async () => {
    const p = pool({ limit: 1, depth: 1 });
    dirs.push(p.dir);
    p.spares.refill('old');
    await settle(() => p.spares.size === 1);
    p.spares.refill('new');
    await settle(() => p.built.includes('new') && p.spares.size === 1);
    assert.equal(p.spares.take('old'), undefined, "the older image's spare was evicted");
    assert.ok(p.spares.take('new'));
    assert.equal(p.destroyed.length, 1);
  });

  it('destroys a spare nobody claimed within idleMs', async () => {
    const p = pool({ idleMs: 30, depth: 1 });
    dirs.push(p.dir);
    p.spares.refill('img');
    await settle(() => p.spares.size === 1);
    await settle(() => p.spares.size === 0);
    await settle(() => readdirSync(p.dir).length === 0);
    assert.equal(p.destroyed.length, 1);
  });

  it('drain waits for builds in flight and destroys everything; nothing is built until resume', async () => {
    const p = pool({ depth: 1 });
    dirs.push(p.dir);
    p.spares.refill('ready');
    await settle(() => p.spares.size === 1);
    p.hold();
    p.spares.refill('building');
    const drained = p.spares.drain();
    p.release();
    await drained;
    assert.equal(p.spares.size, 0);
    assert.equal(p.destroyed.length, 2, 'the ready spare and the one finished during the drain');
    p.spares.refill('ready');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.spares.size, 0, 'paused');
    p.spares.resume();
    p.spares.refill('ready');
    await settle(() => p.spares.size === 1);
    await p.spares.close();
    assert.equal(p.spares.size, 0);
    p.spares.refill('ready');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.spares.size, 0, 'closed for good');
  });

  it('a failed build is reported and leaves nothing', async () => {
    const p = pool({ failBuild: true, depth: 1 });
    dirs.push(p.dir);
    p.spares.refill('img');
    await settle(() => p.errors.length === 1);
    await settle(() => readdirSync(p.dir).length === 0);
    assert.equal(p.spares.size, 0);
    assert.match(String(p.errors[0]), /mount failed/);
  });

  it('sweep destroys spares left on disk by an earlier run', async () => {
    const p = pool();
    dirs.push(p.dir);
    p.spares.refill('img');
    await settle(() => p.spares.size === 2);
    const q = pool();
    dirs.push(q.dir);
    const again = new SparePool({
      dir: p.dir,
      limit: 1,
      idleMs: 1000,
      build: async () => undefined,
      destroy: async (rootfs) => {
        q.destroyed.push(rootfs);
      },
    });
    await again.sweep();
    assert.equal(q.destroyed.length, 2);
    assert.deepEqual(readdirSync(p.dir), []);
  });

  it('is off with limit 0', () => {
    const p = pool({ limit: 0 });
    dirs.push(p.dir);
    assert.equal(p.spares.enabled, false);
    p.spares.refill('img');
    assert.equal(p.spares.size, 0);
  });
});
