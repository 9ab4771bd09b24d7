/**
 * Starts executor processes and ends them: the "posix launcher" of this agent. Each executor runs
 * in its own process group (detached) so a later agent restart does not take it down, with
 * stdout/stderr going where the container logger says (container-logger.ts: files in its sandbox
 * by default, as Mesos' sandbox container logger does).
 *
 * Killing signals the whole group, so processes an executor started (the task) go with it; once
 * the executor itself has exited, what is left of its group is killed too, the way destroying a
 * container leaves nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ExecutorLink } from '../executors/command-executor.js';
import type { ExecutorEventHandlers } from '../executors/executor-client.js';
import type { CommandInfo, ExecutorInfo, Resource, TaskInfo } from '../wire/gen/mesos/v1/mesos_pb.js';
import { type ContainerLogger, sandboxLogger } from './container-logger.js';
import type { ProgramSpec } from './executor-launch.js';

export interface LaunchSpec {
  program: ProgramSpec;
  sandbox: string;
  env: Record<string, string>;
  /** For an isolating containerizer (src/containerizer): the container and what it may use. */
  container?: {
    id: string;
    info: ExecutorInfo;
    resources: readonly Resource[];
    /** A command executor's task command (an image's Entrypoint/Cmd may stand in for it). */
    taskCommand?: CommandInfo | undefined;
    /** A command executor's task (the containerizer may host the executor: hosted-executor.ts). */
    commandTask?: TaskInfo | undefined;
    /** The executor API in-process, for an executor the containerizer hosts. */
    executorLink?: LocalLinkFactory | undefined;
  };
  /** The user the executor runs as (`--switch_user`); absent: the agent's own. */
  user?: { name: string; uid: number; gid: number } | undefined;
  /** Progress before the executor runs (image pulls), reported as TASK_STARTING messages. */
  progress?: (message: string) => void;
  /**
   * Awaited right before an executor *process* is started (the agent's launch gate: executors
   * booting at once are bounded). Not called for an executor the launcher hosts in the agent,
   * which boots nothing. A launcher that does not call it is not gated.
   */
  admit?: () => Promise<void>;
}

/** Connects an executor that runs inside the agent process to the agent (local-executor-link.ts). */
export type LocalLinkFactory = (handlers: Partial<ExecutorEventHandlers>) => ExecutorLink;

export interface ExecutorProcess {
  readonly pid: number;
  /**
   * Settles with the raw wait status (exit code << 8, or the signal number) once it has exited;
   * with undefined when that cannot be known (a process re-attached after an agent restart).
   */
  readonly exited: Promise<number | undefined>;
  /** Signals the executor's process group (falls back to the process alone). */
  signal(signal: NodeJS.Signals): void;
  readonly hasExited: boolean;
  /** Isolating containerizers: settles when the container hit a limit and is being killed. */
  readonly limitation?: Promise<{ reason: `REASON_${string}`; message: string }>;
  /** Isolating containerizers: a limitation already hit, looked up synchronously. */
  limited?(): { reason: `REASON_${string}`; message: string } | undefined;
}

/** The wait status Mesos reports (`ExitedExecutorMessage.status`, scheduler FAILURE.status). */
export function rawWaitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal !== null) return constants.signals[signal] ?? 9;
  return ((code ?? 0) & 0xff) << 8;
}

/** Human text for a wait status, as Mesos logs it. */
export function describeWaitStatus(status: number): string {
  const signal = status & 0x7f;
  if (signal === 0) return `exited with status ${(status >> 8) & 0xff}`;
  const name = Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
  return `terminated with signal ${name}`;
}

function signalGroup(pid: number, signal: NodeJS.Signals, leaderAlive: boolean): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Without a live leader its pid may already belong to someone else: only the group is ours.
    if (!leaderAlive) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Spawns the executor. Throws (synchronously or via the returned promise rejecting) when it
 * cannot be started, e.g. a missing program: the caller fails the executor's tasks.
 */
export async function launchExecutor(
  spec: LaunchSpec,
  logger: ContainerLogger = sandboxLogger,
): Promise<ExecutorProcess> {
  const io = await logger(spec);
  let child: ChildProcess;
  try {
    child = spawn(spec.program.file, spec.program.args, {
      argv0: spec.program.argv0,
      cwd: spec.sandbox,
      env: spec.env,
      detached: true,
      stdio: ['ignore', io.stdout, io.stderr],
      ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
    });
  } finally {
    // spawn has duplicated the descriptors into the child by the time it returns.
    io.release();
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const pid = child.pid!;
  let hasExited = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      // Whatever the executor left behind in its group dies with it.
      signalGroup(pid, 'SIGKILL', false);
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
      if (!hasExited) signalGroup(pid, signal, true);
    },
  };
}
