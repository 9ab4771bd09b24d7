/**
 * Nested containers of an isolating agent (src/containerizer): the process is started inside its
 * root container (the executor's) with the OCI runtime's `exec` (containerizer/runtime/oci-exec.ts),
 * so it shares the container's pid and mount namespaces (its rootfs), cgroups and capabilities, as
 * Mesos launches nested containers in their parent. Paths (the working directory, MESOS_SANDBOX)
 * are the container's view of the nested sandbox (below --sandbox_directory).
 *
 * The ExecutorProcess is the exec'd process: its pid is the host pid the runtime reports, its wait
 * status the process' own (the runtime's 128 + n becomes signal n), and signals go to it (SIGKILL to
 * everything it started as well, and to the runtime).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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

/** Starts the nested container's process inside `target`. Rejects when it cannot be started. */
export async function execNested(
  target: ExecTarget,
  spec: NestedExecSpec,
): Promise<{ process: ExecutorProcess; io?: ContainerIO }> {
  const cwd = mapPath(target, spec.cwd);
  const env = { ...spec.env };
  if (env.MESOS_SANDBOX !== undefined) env.MESOS_SANDBOX = containerPath(target, env.MESOS_SANDBOX) ?? cwd;
  const prepared = prepareExec(target, {
    args: [spec.program.file, ...spec.program.args],
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
  let hasExited = false;
  // Waiting for the pid lets a quick command end before the launch is answered; its end is
  // reported a turn of the event loop later, so that a session's output is attached first.
  const exited = runtime.exited.then(async (status) => {
    await new Promise((resolve) => setImmediate(resolve));
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
