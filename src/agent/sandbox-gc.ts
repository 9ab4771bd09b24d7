/**
 * Sandbox garbage collection (mesos-internals.md section 4.11): the run directory of an executor
 * that has completed is deleted `--gc_delay` after it was last modified, and sooner as the disk of
 * `--work_dir` fills. Every `--disk_watch_interval` the disk usage u gives a maximum age
 *
 *     max allowed age = gc_delay × max(0, 1 − gc_disk_headroom − u)
 *
 * and every scheduled directory at least that old goes at once (a full disk brings the age to
 * zero). The executor directory and the framework directory are scheduled too once nothing of
 * theirs runs, and the checkpoint (`meta/`) twin of each directory goes with it.
 *
 * A directory is never deleted while a live executor's sandbox is inside it: a new run of the
 * same executor id (or one recovered after a restart) calls off the collection of its parents,
 * as Mesos unschedules a directory that is reused.
 *
 * The policy (GcSchedule, maxAllowedAgeMs) is pure; SandboxGc does the timers and the I/O.
 */
import { rm, stat, statfs } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Clock, TimerHandle } from '../common/clock.js';
import { invalidIdReason } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { Agent, ExecutorRecord, FrameworkRecord } from './agent.js';
import type { AgentObserver } from './observer.js';

/** Mesos' `age()`: how old a completed sandbox may get at disk usage `usage` (0.0-1.0). */
export function maxAllowedAgeMs(gcDelayMs: number, headroom: number, usage: number): number {
  return gcDelayMs * Math.max(0, 1 - headroom - usage);
}

/**
 * Directories waiting for deletion, each with the time it is due. Scheduling a path again moves
 * it to the new time.
 */
export class GcSchedule {
  private readonly entries = new Map<string, number>();

  schedule(path: string, removeAtMs: number): void {
    this.entries.set(path, removeAtMs);
  }

  unschedule(path: string): boolean {
    return this.entries.delete(path);
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  removeAt(path: string): number | undefined {
    return this.entries.get(path);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Paths due at `nowMs`. */
  due(nowMs: number): string[] {
    return this.within(nowMs, 0);
  }

  /**
   * Paths due within `withinMs` from `nowMs` (Mesos' `prune`). A directory scheduled for
   * mtime + gc_delay is within gc_delay − age of now exactly when it is at least `age` old.
   */
  within(nowMs: number, withinMs: number): string[] {
    const out: string[] = [];
    for (const [path, at] of this.entries) if (at - nowMs <= withinMs) out.push(path);
    // Deepest first, so a run directory goes before the executor directory holding it.
    return out.sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The earliest due time, for the next timer. */
  next(): number | undefined {
    let earliest: number | undefined;
    for (const at of this.entries.values()) if (earliest === undefined || at < earliest) earliest = at;
    return earliest;
  }
}

/** Whether `path` is `dir` or below it. */
function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

export interface SandboxGcOptions {
  clock: Clock;
  log: Logger;
  workDir: string;
  gcDelayMs: number;
  headroom: number;
  diskWatchIntervalMs: number;
  /** Sandboxes of executors still running (or recovering): nothing holding one is deleted. */
  liveSandboxes: () => Iterable<string>;
  /** Disk usage of the work dir, 0.0-1.0 (default: statfs, as stout's `fs::usage`). */
  diskUsage?: (path: string) => Promise<number>;
  /** Deletes a directory tree (default: rm -rf). */
  remove?: (path: string) => Promise<void>;
  /** When a directory was last modified (default: stat's mtime). */
  mtimeMs?: (path: string) => Promise<number | undefined>;
}

/** The sandboxes of every executor that has not terminated (GC leaves their parents alone). */
export function* liveSandboxes(agent: Agent | undefined): Iterable<string> {
  if (!agent) return;
  for (const framework of agent.frameworks.values()) {
    for (const executor of framework.executors.values()) {
      if (executor.phase !== 'terminated') yield executor.directory;
    }
  }
}

/** stout's `fs::usage`: used blocks over all blocks (reserved blocks count as used). */
export async function diskUsageOf(path: string): Promise<number> {
  const s = await statfs(path);
  return s.blocks === 0 ? 0 : (s.blocks - s.bfree) / s.blocks;
}

export class SandboxGc implements AgentObserver {
  readonly schedule = new GcSchedule();
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;
  private watch: TimerHandle | undefined;
  private collecting: Promise<void> = Promise.resolve();
  /** The age the last disk check allowed (gc_delay until a check has run). */
  private maxAgeMs: number;

  constructor(private readonly options: SandboxGcOptions) {
    this.maxAgeMs = options.gcDelayMs;
  }

  /** `slave/executor_directory_max_allowed_age_secs`. */
  get maxAllowedAgeMs(): number {
    return this.maxAgeMs;
  }

  start(): void {
    this.watch ??= this.options.clock.setInterval(
      () => void this.checkDiskUsage(),
      this.options.diskWatchIntervalMs,
    );
    void this.checkDiskUsage();
  }

  stop(): void {
    this.watch?.cancel();
    this.watch = undefined;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = undefined;
  }

  /** The checkpoint twin of a directory under `<work_dir>/slaves`, if it has one. */
  private metaTwin(path: string): string | undefined {
    const rel = relative(this.options.workDir, path);
    if (rel.startsWith('..') || !rel.startsWith(`slaves${sep}`)) return undefined;
    return join(this.options.workDir, 'meta', rel);
  }

  /**
   * Schedules `path` (and its checkpoint twin) for deletion gc_delay after its last modification
   * (now, when it cannot be stat'ed).
   */
  async scheduleDirectory(path: string): Promise<void> {
    // Only what the agent lays out below `<work_dir>/slaves` is ever collected, whatever ids made the path.
    if (!this.collectable(path)) {
      this.options.log.warn({ path }, 'refusing to garbage collect a directory outside the sandboxes');
      return;
    }
    const mtime = this.options.mtimeMs
      ? await this.options.mtimeMs(path)
      : await stat(path).then(
          (s) => s.mtimeMs,
          () => undefined,
        );
    const removeAt = (mtime ?? this.options.clock.now()) + this.options.gcDelayMs;
    this.schedule.schedule(path, removeAt);
    const twin = this.metaTwin(path);
    if (twin !== undefined) this.schedule.schedule(twin, removeAt);
    this.options.log.debug(
      { path, removeAt: new Date(removeAt).toISOString() },
      'scheduled for garbage collection',
    );
    this.arm();
  }

  /** Strictly below `<work_dir>/slaves` (or its checkpoint twin). */
  private collectable(path: string): boolean {
    const sandboxes = join(this.options.workDir, 'slaves');
    return isWithin(path, sandboxes) && relative(sandboxes, path) !== '';
  }

  /** AgentObserver: a completed executor's run, and its parents once nothing of theirs is live. */
  executorRemoved(framework: FrameworkRecord, executor: ExecutorRecord): void {
    // An id that is no valid path component never got a sandbox (the launch was refused).
    if (invalidIdReason(framework.id) !== undefined || invalidIdReason(executor.id) !== undefined) return;
    const run = executor.directory;
    const executorDir = dirname(dirname(run));
    const frameworkDir = dirname(dirname(executorDir));
    const work = async () => {
      await this.scheduleDirectory(run);
      if (!framework.executors.has(executor.id)) await this.scheduleDirectory(executorDir);
      if (framework.executors.size === 0) await this.scheduleDirectory(frameworkDir);
    };
    work().catch((err: unknown) =>
      this.options.log.warn({ err, run }, 'could not schedule a sandbox for GC'),
    );
  }

  /** Re-arms the timer for the earliest due entry. */
  private arm(): void {
    const next = this.schedule.next();
    if (next === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = next;
    if (next === undefined) return;
    const delay = Math.max(0, next - this.options.clock.now());
    // Timers beyond ~24.8 days overflow: wake up earlier and re-arm.
    this.timer = this.options.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        void this.collect(this.schedule.due(this.options.clock.now()));
      },
      Math.min(delay, 2 ** 31 - 1),
    );
  }

  /** One disk check: a new maximum age, and whatever is older goes now. */
  async checkDiskUsage(): Promise<void> {
    const measure = this.options.diskUsage ?? diskUsageOf;
    let usage: number;
    try {
      usage = await measure(this.options.workDir);
    } catch (err) {
      this.options.log.warn(
        { err, workDir: this.options.workDir },
        'could not measure the disk usage of the work dir',
      );
      return;
    }
    const { gcDelayMs, headroom } = this.options;
    this.maxAgeMs = maxAllowedAgeMs(gcDelayMs, headroom, usage);
    const victims = this.schedule.within(this.options.clock.now(), gcDelayMs - this.maxAgeMs);
    if (victims.length > 0) {
      this.options.log.info(
        {
          usage: Number(usage.toFixed(4)),
          maxAllowedAgeSecs: this.maxAgeMs / 1000,
          directories: victims.length,
        },
        'disk usage is high: pruning sandboxes older than the allowed age',
      );
    }
    await this.collect(victims);
  }

  /** Deletes `paths` one after another (collections never overlap), skipping live ones. */
  collect(paths: readonly string[]): Promise<void> {
    const run = async () => {
      const live = [...this.options.liveSandboxes()];
      const remove = this.options.remove ?? ((path: string) => rm(path, { recursive: true, force: true }));
      for (const path of paths) {
        if (!this.schedule.has(path)) continue;
        this.schedule.unschedule(path);
        if (live.some((sandbox) => isWithin(sandbox, path))) {
          this.options.log.info({ path }, 'not collecting a directory that is in use again');
          continue;
        }
        try {
          await remove(path);
          this.options.log.info({ path }, 'garbage collected');
        } catch (err) {
          this.options.log.warn({ err, path }, 'garbage collection of a directory failed');
        }
      }
      this.arm();
    };
    this.collecting = this.collecting.then(run, run);
    return this.collecting;
  }
}
