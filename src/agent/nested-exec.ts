/**
 * Nested containers of an isolating agent (src/containerizer): the process is started inside its
 * root container (the executor's) with the OCI runtime's `exec` (containerizer/runtime/oci-exec.ts),
 * so it shares the container's pid and mount namespaces (its rootfs), cgroups and capabilities, as
 * Mesos launches nested containers in their parent. Paths (the working directory, MESOS_SANDBOX)
 * are the container's view of the nested sandbox (below --sandbox_directory).
 *
 * The ExecutorProcess is the exec'd process: its pid is the host pid the runtime reports, its wait
 * status the process' own (the runtime's 128 + n becomes signal n), and signals go to it.
 *
 * Each one gets a cgroup of its own below its container's, in the freezer hierarchy (v2: the
 * unified one), `<container's cgroupsPath>/exec-<id chain>`, as Mesos' linux launcher gives every
 * nested container a freezer cgroup: SIGKILL (KILL, the parent's destroy) kills every process in it,
 * a daemon re-parented to the container's init included, and so does the end of the main process;
 * the cgroup is removed then. `crun exec --cgroup` cannot be used for this (crun 1.8 puts the
 * process in the root cgroup on v1), so the process is moved there by the agent, and, so that
 * nothing it forks can escape first, it starts as `/bin/sh -c <gate>` that waits until
 * /proc/self/cgroup shows it moved and then execs the command (same pid). An image without
 * /bin/sh is started without the gate and moved with whatever it started by then (best effort).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout, killCgroupDir, removeCgroupDir } from '../containerizer/isolators/cgroups.js';
import {
  containerPath,
  type ExecTarget,
  execWaitStatus,
  prepareExec,
  waitForExecPid,
} from '../containerizer/runtime/oci-exec.js';
import type { ProgramSpec } from './executor-launch.js';
import { type ContainerIO, spawnAttached, type TtySize } from './io-switchboard.js';
import { type ExecutorProcess, rawWaitStatus } from './launcher.js';
import { attachProcess, isProcessAlive } from './recovered-process.js';

export interface NestedExecSpec {
  program: ProgramSpec;
  env: Record<string, string>;
  /** The working directory as a host path (mapped into the container). */
  cwd: string;
  /** The nested sandbox (host path): stdout/stderr files when the switchboard holds no stdio. */
  sandbox: string;
  /** Stdio through the IO switchboard (sessions, TTYs) rather than sandbox files. */
  attached: boolean;
  tty?: TtySize;
  /** Names the exec's state files (the nested container's id chain). */
  name: string;
}

/** Descendant pids of `pid` (from /proc/<pid>/task/<tid>/children), deepest last. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of text.split(/\s+/).filter((s) => s !== '')) {
        out.push(Number(child));
        walk(Number(child));
      }
    }
  };
  walk(pid);
  return out;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** The container's view of a host path, or an error naming what is not visible. */
function mapPath(target: ExecTarget, hostPath: string): string {
  const inside = containerPath(target, hostPath);
  if (inside === undefined)
    throw new Error(`${hostPath} is not visible inside container ${target.containerId}`);
  return inside;
}

/** The cgroup of one exec'd nested container (see the top of this file). */
export interface ExecCgroup {
  dir: string;
  version: 1 | 2;
}

/** The cgroup name of the nested container named `name` (its id chain). */
function execCgroupName(name: string): string {
  return `exec-${name}`;
}

/**
 * Where the exec'd nested container `name` of `target` has (or gets) its cgroup: below the
 * container's freezer (v2: unified) cgroup; undefined when the container has none.
 */
export function execCgroupOf(target: ExecTarget, name: string): ExecCgroup | undefined {
  if (target.cgroupsPath === undefined || process.platform !== 'linux') return undefined;
  let layout: ReturnType<typeof detectCgroupLayout>;
  try {
    layout = detectCgroupLayout();
  } catch {
    return undefined;
  }
  const mount = layout.version === 2 ? layout.unified : layout.controllers.get('freezer');
  if (mount === undefined) return undefined;
  const parent = join(mount, target.cgroupsPath);
  if (!existsSync(parent)) return undefined;
  return { dir: join(parent, execCgroupName(name)), version: layout.version };
}

/**
 * The gate: waits (a few milliseconds: the agent moves it as soon as the runtime reports its pid)
 * until /proc/self/cgroup shows the process in its cgroup (`$0`), then execs the command. Gives up
 * after a while (an agent that died meanwhile) rather than spin for ever.
 */
const GATE =
  'g=; i=0; while [ -z "$g" ]; do while read -r l; do case "$l" in */"$0") g=1;; esac; done </proc/self/cgroup; ' +
  'i=$((i+1)); if [ "$i" -gt 100000 ]; then echo "$0: not moved into its cgroup" >&2; exit 126; fi; done; exec "$@"';

/** Whether the container has a /bin/sh for the gate (a symlink counts: it resolves inside). */
function hasShell(target: ExecTarget): boolean {
  const root = target.rootPath ?? (target.hostRoot ? '/' : undefined);
  if (root === undefined) return false;
  try {
    lstatSync(join(root, 'bin', 'sh'));
    return true;
  } catch {
    return false;
  }
}

/** Kills every process of an exec'd nested container's cgroup. */
export async function killExecCgroup(cgroup: ExecCgroup): Promise<void> {
  await killCgroupDir(cgroup.dir, cgroup.version).catch(() => undefined);
}

/** Kills what is left in the cgroup and removes it. */
export async function releaseExecCgroup(cgroup: ExecCgroup): Promise<void> {
  await removeCgroupDir(cgroup.dir, cgroup.version).catch(() => undefined);
}

/**
 * After an agent restart: the recorded process of exec'd nested container `name` when it is
 * still in that container's own cgroup (proof that it is that container's process, a pid reused by
 * anybody else is not there), watched as any recovered process; else undefined. A session's
 * process names neither its own sandbox in MESOS_SANDBOX nor works there (it has its parent's), so
 * this is how it is found again.
 */
export function adoptExecProcess(target: ExecTarget, name: string, pid: number): ExecutorProcess | undefined {
  const cgroup = execCgroupOf(target, name);
  if (!cgroup || !isProcessAlive(pid)) return undefined;
  let members: string;
  try {
    members = readFileSync(join(cgroup.dir, 'cgroup.procs'), 'utf8');
  } catch {
    return undefined;
  }
  return members.split('\n').includes(String(pid)) ? attachProcess(pid) : undefined;
}

/**
 * After an agent restart, for a nested container whose process is gone: what it left in its
 * cgroup goes, and the cgroup with it.
 */
export function releaseLeftExecCgroup(target: ExecTarget, name: string): void {
  const cgroup = execCgroupOf(target, name);
  if (cgroup && existsSync(cgroup.dir)) void releaseExecCgroup(cgroup);
}

/**
 * A nested container found again after an agent restart (recovered-process.ts `attachProcess`):
 * SIGKILL reaches its whole cgroup as well, and the cgroup goes once its process has ended.
 */
export function withExecCgroup(target: ExecTarget, name: string, child: ExecutorProcess): ExecutorProcess {
  const cgroup = execCgroupOf(target, name);
  if (!cgroup || !existsSync(cgroup.dir)) return child;
  const exited = child.exited.then(async (status) => {
    await releaseExecCgroup(cgroup);
    return status;
  });
  return {
    pid: child.pid,
    exited,
    get hasExited() {
      return child.hasExited;
    },
    signal(signal) {
      child.signal(signal);
      if (signal === 'SIGKILL') void killExecCgroup(cgroup);
    },
  };
}

/** Starts the nested container's process inside `target`. Rejects when it cannot be started. */
export async function execNested(
  target: ExecTarget,
  spec: NestedExecSpec,
): Promise<{ process: ExecutorProcess; io?: ContainerIO }> {
  const cwd = mapPath(target, spec.cwd);
  const env = { ...spec.env };
  if (env.MESOS_SANDBOX !== undefined) env.MESOS_SANDBOX = containerPath(target, env.MESOS_SANDBOX) ?? cwd;
  let cgroup = execCgroupOf(target, spec.name);
  if (cgroup) {
    try {
      mkdirSync(cgroup.dir);
    } catch (err) {
      // A leftover of the same name (an earlier life) is used as it is.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') cgroup = undefined;
    }
  }
  const gated = cgroup !== undefined && hasShell(target);
  const argv = [spec.program.file, ...spec.program.args];
  const prepared = prepareExec(target, {
    args: gated && cgroup ? ['/bin/sh', '-c', GATE, execCgroupName(spec.name), ...argv] : argv,
    env,
    cwd,
    tty: spec.tty !== undefined,
    name: spec.name,
  });
  const runtimeEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  };
  let runtime: ExecutorProcess;
  let io: ContainerIO | undefined;
  if (spec.attached) {
    const attached = await spawnAttached({
      program: { file: prepared.file, argv0: target.runtimeName, args: prepared.args },
      cwd: '/',
      env: runtimeEnv,
      ...(spec.tty ? { tty: spec.tty } : {}),
    });
    runtime = attached.process;
    io = attached.io;
  } else {
    runtime = await spawnToFiles(prepared.file, prepared.args, spec.sandbox, runtimeEnv);
  }
  const pid = await waitForExecPid(prepared.pidFile, () => runtime.hasExited);
  if (cgroup && pid !== undefined) {
    try {
      for (const moved of [pid, ...(gated ? [] : descendants(pid))])
        writeFileSync(join(cgroup.dir, 'cgroup.procs'), String(moved));
    } catch (err) {
      // A gated process would wait for ever: it goes, and the launch fails.
      kill(pid, 'SIGKILL');
      runtime.signal('SIGKILL');
      await runtime.exited;
      const dir = cgroup.dir;
      await releaseExecCgroup(cgroup);
      rmSync(prepared.dir, { recursive: true, force: true });
      throw new Error(`cannot move the process into its cgroup ${dir}: ${(err as Error).message}`);
    }
  }
  const ownCgroup = cgroup;
  let hasExited = false;
  // Waiting for the pid lets a quick command end before the launch is answered; its end is
  // reported a turn of the event loop later, so that a session's output is attached first.
  // As Mesos destroys a nested container whose main process ended, what it left goes too.
  const exited = runtime.exited.then(async (status) => {
    await new Promise((resolve) => setImmediate(resolve));
    if (ownCgroup) await releaseExecCgroup(ownCgroup);
    hasExited = true;
    rmSync(prepared.dir, { recursive: true, force: true });
    return status === undefined ? undefined : execWaitStatus(status);
  });
  return {
    ...(io ? { io } : {}),
    process: {
      pid: pid ?? runtime.pid,
      exited,
      get hasExited() {
        return hasExited;
      },
      signal(signal) {
        if (hasExited) return;
        if (pid === undefined) {
          runtime.signal(signal);
          return;
        }
        if (signal === 'SIGKILL') {
          const below = descendants(pid);
          kill(pid, signal);
          for (const child of below) kill(child, signal);
          if (ownCgroup) void killExecCgroup(ownCgroup);
          runtime.signal(signal);
          return;
        }
        kill(pid, signal);
      },
    },
  };
}

/** The runtime in its own session with stdout/stderr appended to the sandbox's files. */
async function spawnToFiles(
  file: string,
  args: string[],
  sandbox: string,
  env: Record<string, string>,
): Promise<ExecutorProcess> {
  const out = openSync(join(sandbox, 'stdout'), 'a');
  const err = openSync(join(sandbox, 'stderr'), 'a');
  let child: ChildProcess;
  try {
    child = spawn(file, args, { cwd: '/', env, detached: true, stdio: ['ignore', out, err] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  const pid = child.pid!;
  let hasExited = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve(rawWaitStatus(code, signal));
    });
  });
  return {
    pid,
    exited,
    get hasExited() {
      return hasExited;
    },
    signal(signal) {
      if (hasExited) return;
      try {
        process.kill(-pid, signal);
      } catch {
        kill(pid, signal);
      }
    },
  };
}
