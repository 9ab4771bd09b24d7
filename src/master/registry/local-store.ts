/**
 * The default registry: one JSON snapshot file under the master's work directory, replaced
 * atomically (write a temp file, fsync, rename, fsync the directory). Operations that arrive
 * while a store is in flight are batched into the next store, as Mesos' registrar does.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../common/errors.js';
import {
  applyOperation,
  emptyRegistryState,
  type Registry,
  type RegistryOperation,
  type RegistryState,
} from './registry.js';

const FILE_NAME = 'registry.json';
const FORMAT_VERSION = 1;

export class LocalStoreRegistry implements Registry {
  private state: RegistryState;
  private readonly path: string;
  private queue: Array<{ op: RegistryOperation; resolve: () => void; reject: (err: unknown) => void }> = [];
  private storing = false;

  constructor(private readonly directory: string) {
    mkdirSync(directory, { recursive: true });
    this.path = join(directory, FILE_NAME);
    this.state = this.load();
  }

  get(): RegistryState {
    return this.state;
  }

  apply(...operations: RegistryOperation[]): Promise<void> {
    const stored = Promise.all(
      operations.map(
        (op) => new Promise<void>((resolve, reject) => this.queue.push({ op, resolve, reject })),
      ),
    ).then(() => undefined);
    this.drain();
    return stored;
  }

  async close(): Promise<void> {
    while (this.storing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private drain(): void {
    if (this.storing || this.queue.length === 0) return;
    this.storing = true;
    const batch = this.queue.splice(0);
    setImmediate(() => {
      try {
        let next = this.state;
        for (const { op } of batch) next = applyOperation(next, op);
        this.store(next);
        this.state = next;
        for (const { resolve } of batch) resolve();
      } catch (err) {
        for (const { reject } of batch) reject(err);
      } finally {
        this.storing = false;
        this.drain();
      }
    });
  }

  private load(): RegistryState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyRegistryState();
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as { version?: number; state?: RegistryState };
      if (parsed.version !== FORMAT_VERSION || !parsed.state)
        throw new Error(`unknown format ${parsed.version}`);
      // Snapshots written before a field existed lack it: each missing field takes its default.
      const empty = emptyRegistryState();
      const state = { ...empty, ...parsed.state };
      state.maintenance = { ...empty.maintenance, ...parsed.state.maintenance };
      return state;
    } catch (err) {
      return fail('INTERNAL', { detail: `registry ${this.path} is unreadable: ${(err as Error).message}` });
    }
  }

  private store(state: RegistryState): void {
    const temp = `${this.path}.tmp`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ version: FORMAT_VERSION, state }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    const dir = openSync(this.directory, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
