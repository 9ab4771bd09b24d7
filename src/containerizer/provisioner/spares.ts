/**
 * Spare rootfses. Building an overlay rootfs for a cached image takes a handful of directory
 * operations, the layer links and one `mount`: 5–12 ms of a launch on a busy agent. After a
 * container of an image is provisioned, the pool builds one more rootfs of that image in the
 * background; the next container of the image claims it with one rename. A spare is exactly
 * what a launch would have built (an empty upper directory over the image's layers); nobody
 * has used it before it is claimed, and a claimed spare is never handed out again.
 *
 * A spare lives in `<dir>/<id>/` with the same inside as a container's backend directory
 * (`rootfses/<id>`, `scratch/<id>`), so claiming it is a rename of that directory onto the
 * container's `backends/overlay` (renaming a directory above a mount point moves the mount).
 *
 * Bounds: `depth` spares per image (two: the next launch must not find the pool empty while the
 * one it would take is still being rebuilt), at most `limit` images (the least recently used
 * one's spares go first), and a spare not claimed within `idleMs` is destroyed. `drain()` (before image GC) and
 * `close()` (agent stop) destroy them all; a spare found on disk at start is a dead agent's and
 * is destroyed by `sweep()`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { listDir } from './backends.js';

export interface SparePoolOptions {
  /** Where spares are built (`<provisioner>/spares`). */
  readonly dir: string;
  /** Images with spares, at most (0: the pool is off). */
  readonly limit: number;
  /** Spares per image (default 2). */
  readonly depth?: number;
  /** A spare not claimed for this long is destroyed. */
  readonly idleMs: number;
  /** Builds a rootfs of `key`'s image at `rootfs` (an empty directory) with `scratch`. */
  readonly build: (key: string, rootfs: string, scratch: string) => Promise<void>;
  /** Undoes build; idempotent. */
  readonly destroy: (rootfs: string, scratch: string) => Promise<void>;
  /** A background build or destroy failed (the launch that would have used it builds its own). */
  readonly onError?: (err: unknown) => void;
}

export interface Spare {
  readonly id: string;
  /** Holds `rootfses/<id>` and `scratch/<id>`. */
  readonly dir: string;
}

interface ReadySpare extends Spare {
  readonly timer: NodeJS.Timeout;
}

export class SparePool {
  private readonly ready = new Map<string, ReadySpare[]>();
  private readonly building = new Map<string, Set<Promise<void>>>();
  /** Keys by last use, oldest first (a Map keeps insertion order). */
  private readonly recent = new Map<string, true>();
  private paused = 0;
  private closed = false;

  constructor(private readonly options: SparePoolOptions) {}

  get enabled(): boolean {
    return this.options.limit > 0 && !this.closed;
  }

  private get depth(): number {
    return this.options.depth ?? 2;
  }

  /** A ready spare of `key`, now the caller's (its to rename or destroy); undefined if none. */
  take(key: string): Spare | undefined {
    const spares = this.ready.get(key);
    const spare = spares?.shift();
    if (!spare) return undefined;
    if (spares!.length === 0) this.ready.delete(key);
    clearTimeout(spare.timer);
    return { id: spare.id, dir: spare.dir };
  }

  /** Gives back a spare taken but not used (its claim failed): destroyed. */
  discard(spare: Spare): void {
    void this.destroySpare(spare);
  }

  /** Builds spares of `key` in the background until `depth` are ready or being built. */
  refill(key: string): void {
    if (!this.enabled || this.paused > 0) return;
    this.recent.delete(key);
    this.recent.set(key, true);
    this.evictBeyondLimit();
    let building = this.building.get(key);
    if (!building) {
      building = new Set();
      this.building.set(key, building);
    }
    const inFlight = building;
    while ((this.ready.get(key)?.length ?? 0) + inFlight.size < this.depth) {
      const build: Promise<void> = this.buildSpare(key).finally(() => {
        inFlight.delete(build);
        if (inFlight.size === 0 && this.building.get(key) === inFlight) this.building.delete(key);
      });
      inFlight.add(build);
    }
  }

  /** Destroys every spare (waiting for builds in flight); none is built until `resume()`. */
  async drain(): Promise<void> {
    this.paused++;
    await Promise.all([...this.building.values()].flatMap((set) => [...set]));
    const spares = [...this.ready.values()].flat();
    this.ready.clear();
    for (const spare of spares) clearTimeout(spare.timer);
    await Promise.all(spares.map((s) => this.destroySpare(s)));
  }

  resume(): void {
    this.paused = Math.max(0, this.paused - 1);
  }

  /** The agent stops: every spare goes, and none is built again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** Destroys spares left on disk by an earlier run of the agent. */
  async sweep(): Promise<void> {
    for (const id of await listDir(this.options.dir))
      await this.destroySpare({ id, dir: join(this.options.dir, id) });
  }

  /** How many spares are ready (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const spares of this.ready.values()) n += spares.length;
    return n;
  }

  private evictBeyondLimit(): void {
    while (this.recent.size > this.options.limit) {
      const oldest = this.recent.keys().next().value as string;
      this.recent.delete(oldest);
      for (let spare = this.take(oldest); spare; spare = this.take(oldest)) void this.destroySpare(spare);
    }
  }

  private async buildSpare(key: string): Promise<void> {
    const id = randomUUID();
    const spare: Spare = { id, dir: join(this.options.dir, id) };
    const { rootfs, scratch } = sparePaths(spare);
    try {
      await mkdir(rootfs, { recursive: true, mode: 0o755 });
      await this.options.build(key, rootfs, scratch);
    } catch (err) {
      this.options.onError?.(err);
      await this.destroySpare(spare);
      return;
    }
    // Drained or evicted while it was being built: nobody may claim it.
    const spares = this.ready.get(key) ?? [];
    if (!this.enabled || this.paused > 0 || !this.recent.has(key) || spares.length >= this.depth) {
      await this.destroySpare(spare);
      return;
    }
    const timer = setTimeout(() => {
      const now = this.ready.get(key) ?? [];
      const index = now.findIndex((s) => s.id === id);
      if (index < 0) return;
      now.splice(index, 1);
      if (now.length === 0) this.ready.delete(key);
      void this.destroySpare(spare);
    }, this.options.idleMs);
    timer.unref();
    spares.push({ ...spare, timer });
    this.ready.set(key, spares);
  }

  private async destroySpare(spare: Spare): Promise<void> {
    const { rootfs, scratch } = sparePaths(spare);
    try {
      await this.options.destroy(rootfs, scratch);
      await rm(spare.dir, { recursive: true, force: true });
    } catch (err) {
      this.options.onError?.(err);
    }
  }
}

export function sparePaths(spare: Spare): { rootfs: string; scratch: string } {
  return { rootfs: join(spare.dir, 'rootfses', spare.id), scratch: join(spare.dir, 'scratch', spare.id) };
}
