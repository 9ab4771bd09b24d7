/**
 * The OCI runtime driver: crun by default, runc when a start-up probe shows crun cannot run a
 * container on this host (crun 1.8 refuses hybrid hosts with a controller left on cgroup2,
 * host-setup.md 5.1). create / start / state / kill / delete map to the runtime's commands.
 *
 * Containers are started under a per-container shim (host-setup.md 9.3, pattern A): a shell in
 * its own session (a subshell of the spawner's, or a detached `sh`) runs `<runtime> run`, waits
 * for it and writes its exit code to `<dir>/exit` (one write ending in a newline; readers wait for
 * it). The shim, not the agent, is the container's parent, so the container outlives an agent
 * restart and its exit status is kept.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, type FSWatcher, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { spawner } from '../../common/spawner.js';

export type RuntimeName = 'crun' | 'runc';

export interface RuntimeInfo {
  name: RuntimeName;
  path: string;
  version: string;
}

export class RuntimeError extends Error {}

function run(
  file: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 127
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function which(name: string): string | undefined {
  for (const dir of (
    process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  ).split(':')) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The raw wait status from a `<runtime> run` exit code (128 + n means killed by signal n). */
export function waitStatusFromRunExit(code: number): number {
  if (code > 128 && code < 128 + 65) return code - 128;
  return (code & 0xff) << 8;
}

/**
 * Picks the runtime: each candidate (crun, then runc) must answer `--version` and run a trivial
 * container on `hostRoot` in a scratch state directory. The reasons of the failed ones come back
 * in the error when none works.
 */
export async function probeRuntime(
  hostRoot: string,
  scratch: string,
  candidates: RuntimeName[] = ['crun', 'runc'],
): Promise<RuntimeInfo> {
  const reasons: string[] = [];
  for (const name of candidates) {
    const path = which(name);
    if (!path) {
      reasons.push(`${name}: not installed`);
      continue;
    }
    const version = await run(path, ['--version']);
    if (version.code !== 0) {
      reasons.push(`${name}: --version failed`);
      continue;
    }
    const bundle = join(scratch, `probe-${name}`);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(
      join(bundle, 'config.json'),
      JSON.stringify({
        ociVersion: '1.0.2',
        process: {
          terminal: false,
          user: { uid: 0, gid: 0 },
          args: ['/bin/true'],
          env: ['PATH=/usr/bin:/bin'],
          cwd: '/',
        },
        root: { path: hostRoot, readonly: false },
        mounts: [],
        linux: { namespaces: [{ type: 'mount' }] },
      }),
    );
    const probe = await run(path, [
      '--root',
      join(scratch, `state-${name}`),
      'run',
      '--bundle',
      bundle,
      `strata-probe-${process.pid}`,
    ]);
    if (probe.code !== 0) {
      reasons.push(
        `${name}: a probe container failed: ${(probe.stderr || probe.stdout).trim().split('\n').pop() ?? ''}`,
      );
      continue;
    }
    return { name, path, version: version.stdout.split('\n')[0]?.trim() ?? '' };
  }
  throw new RuntimeError(
    `no OCI runtime works on this host (${reasons.join('; ')}); run scripts/setup-host.sh`,
  );
}

export interface ContainerState {
  status: string;
  pid: number;
}

export interface Shim {
  /** The shim's own pid (a `sh` that outlives the agent). */
  shimPid: number;
  /** Settles when the shim has ended (the exit code is in `<dir>/exit` then, if it got that far). */
  exited: Promise<void>;
  /** The container init's host pid (from --pid-file). */
  pid: number;
}

/** Where the shim's (and so the container's) stdout and stderr go. */
export interface ShimOutput {
  stdout: number | Writable;
  stderr: number | Writable;
  /** Files the output is appended to: the shim can then be started by the spawner. */
  paths?: { stdout: string; stderr: string } | undefined;
}

export class OciRuntime {
  constructor(
    readonly info: RuntimeInfo,
    /** The runtime's own state root (`--root`). */
    readonly stateRoot: string,
  ) {}

  private args(...rest: string[]): string[] {
    return ['--root', this.stateRoot, ...rest];
  }

  async create(id: string, bundle: string, pidFile: string): Promise<void> {
    const r = await run(this.info.path, this.args('create', '--bundle', bundle, '--pid-file', pidFile, id));
    if (r.code !== 0) throw new RuntimeError(`${this.info.name} create ${id}: ${r.stderr.trim()}`);
  }

  async start(id: string): Promise<void> {
    const r = await run(this.info.path, this.args('start', id));
    if (r.code !== 0) throw new RuntimeError(`${this.info.name} start ${id}: ${r.stderr.trim()}`);
  }

  async state(id: string): Promise<ContainerState | undefined> {
    const r = await run(this.info.path, this.args('state', id));
    if (r.code !== 0) return undefined;
    try {
      const json = JSON.parse(r.stdout) as { status?: string; pid?: number };
      return { status: json.status ?? 'unknown', pid: json.pid ?? 0 };
    } catch {
      return undefined;
    }
  }

  async kill(id: string, signal: string, all = false): Promise<boolean> {
    const r = await run(
      this.info.path,
      this.args('kill', ...(all ? ['--all'] : []), id, signal.replace(/^SIG/, '')),
    );
    return r.code === 0;
  }

  async delete(id: string, force = true): Promise<void> {
    await run(this.info.path, this.args('delete', ...(force ? ['--force'] : []), id));
  }

  /**
   * Starts the container under its shim; resolves once the runtime has written the init's pid
   * (the container exists and its process is being started), rejects when the shim ends first.
   * `dir` receives `pid` and `exit`; stdout/stderr are the shim's (and so the container's).
   */
  runShim(id: string, bundle: string, dir: string, output: ShimOutput, timeoutMs = 30_000): Promise<Shim> {
    // The spawner forks a small shell rather than the agent (src/common/spawner.ts): its subshell
    // runs the runtime and records the exit code itself, so the shim costs no exec of its own.
    const runArgs = this.args('run', '--bundle', bundle, '--pid-file', join(dir, 'pid'), id);
    const supervised = output.paths
      ? spawner.startSupervised(this.info.path, runArgs, output.paths, join(dir, 'exit'))
      : undefined;
    if (supervised)
      return supervised.then((job) =>
        this.waitForPid(
          id,
          dir,
          { shimPid: job.waiterPid, exited: job.exited.then(() => undefined) },
          timeoutMs,
        ),
      );
    // Output that is not a plain file (a logger's pipe) needs the agent's own descriptors: a
    // detached `sh` is the shim then. `echo` is the shell's own: one write of "CODE\n"; readers
    // wait for the newline.
    const script =
      '"$1" --root "$2" run --bundle "$3" --pid-file "$4/pid" "$5" </dev/null; echo $? > "$4/exit"';
    const args = ['-c', script, 'strata-shim', this.info.path, this.stateRoot, bundle, dir, id];
    const started: Promise<{ shimPid: number; exited: Promise<void> }> = output.paths
      ? spawner.start('/bin/sh', args, output.paths).then((job) => ({
          shimPid: job.pid,
          exited: job.exited.then(() => undefined),
        }))
      : new Promise((resolve, reject) => {
          const child = spawn('/bin/sh', args, {
            detached: true,
            stdio: ['ignore', output.stdout, output.stderr],
          });
          child.unref();
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.once('error', reject);
          child.once('spawn', () => resolve({ shimPid: child.pid!, exited }));
        });
    return started.then((shim) => this.waitForPid(id, dir, shim, timeoutMs));
  }

  private waitForPid(
    id: string,
    dir: string,
    shim: { shimPid: number; exited: Promise<void> },
    timeoutMs: number,
  ): Promise<Shim> {
    const pidFile = join(dir, 'pid');
    return new Promise((resolve, reject) => {
      let done = false;
      const started = Date.now();
      const finish = (err?: Error, pid?: number) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        watcher?.close();
        if (err) reject(err);
        else resolve({ ...shim, pid: pid! });
      };
      const check = () => {
        const pid = readPid(pidFile);
        if (pid !== undefined) finish(undefined, pid);
        else if (Date.now() - started > timeoutMs)
          finish(new RuntimeError(`${this.info.name} did not start container ${id} within ${timeoutMs} ms`));
      };
      // inotify on the state directory wakes us when the runtime writes the pid file; a slow poll
      // backs it up (a 1 ms poll per container is busy work for the agent when many start at once).
      let watcher: FSWatcher | undefined;
      try {
        watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name === 'pid') check();
        });
        watcher.on('error', () => undefined);
      } catch {
        watcher = undefined;
      }
      void shim.exited.then(() => {
        // It may have written the pid and exited at once (a container that ends immediately).
        const pid = readPid(pidFile);
        if (pid !== undefined) finish(undefined, pid);
        else
          finish(
            new RuntimeError(`${this.info.name} could not start container ${id} (see the sandbox's stderr)`),
          );
      });
      const timer = setInterval(check, watcher ? 20 : 2);
      // The spawner answers after the shim started: the runtime may have written the pid by now.
      check();
    });
  }
}

export function readPid(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    const pid = Number(text);
    return text !== '' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The runtime's exit code the shim recorded, or undefined when there is none (yet): the shim
 * writes it in place, so a reader that comes between the file's creation and its one write sees
 * no newline yet.
 */
export function readExitCode(dir: string): number | undefined {
  try {
    const text = readFileSync(join(dir, 'exit'), 'utf8');
    if (!text.endsWith('\n')) return undefined;
    const code = Number(text.trim());
    return text.trim() === '' || !Number.isInteger(code) ? undefined : code;
  } catch {
    return undefined;
  }
}
