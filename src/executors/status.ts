/**
 * Building the TaskStatus messages an executor sends, and the texts Mesos' built-in executors put
 * in them. Pure apart from the random UUID, which callers may supply.
 *
 * Every executor update must carry `source = SOURCE_EXECUTOR` (an unset source reads as
 * SOURCE_MASTER and the agent answers 400), a 16-byte `uuid` (the acknowledgement key) and, by
 * convention, the executor id and a timestamp in seconds (reference §3.1).
 */
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { create } from '@bufbuild/protobuf';
import {
  type CheckStatusInfo,
  type TaskID,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { isTerminalState } from '../wire/task-states.js';

export const STATUS_UUID_BYTES = 16;

export interface StatusDetails {
  message?: string;
  reason?: TaskStatus_Reason;
  /** Only health-check driven updates set it; left unset otherwise, as Mesos does. */
  healthy?: boolean;
  /** Every update of a task that has a check carries one (health/task-checks.ts). */
  checkStatus?: CheckStatusInfo;
}

export interface StatusContext {
  executorId: string;
  /** Milliseconds since the epoch (a Clock's `now()`). */
  nowMs: number;
  /** 16 bytes; a fresh random UUID when omitted. */
  uuid?: Uint8Array;
}

export function newStatusUuid(): Uint8Array {
  return new Uint8Array(randomBytes(STATUS_UUID_BYTES));
}

/** A status update as an executor sends it (source, uuid, executor id and timestamp filled in). */
export function buildTaskStatus(
  taskId: TaskID | string,
  state: TaskState,
  context: StatusContext,
  details: StatusDetails = {},
): TaskStatus {
  const status = create(TaskStatusSchema, {
    taskId: { value: typeof taskId === 'string' ? taskId : taskId.value },
    state,
    source: TaskStatus_Source.EXECUTOR,
    uuid: context.uuid ?? newStatusUuid(),
    executorId: { value: context.executorId },
    timestamp: context.nowMs / 1000,
  });
  if (details.message !== undefined) status.message = details.message;
  if (details.reason !== undefined) status.reason = details.reason;
  if (details.healthy !== undefined) status.healthy = details.healthy;
  if (details.checkStatus !== undefined) status.checkStatus = details.checkStatus;
  return status;
}

export { isTerminalState };

/** How the task's process ended, as node:child_process reports it. */
export type ProcessExit = { code: number; signal?: undefined } | { code?: undefined; signal: NodeJS.Signals };

/** Why the executor was killing the task when it ended, if it was. */
export type KillCause = 'kill' | 'shutdown' | 'max-completion-time' | 'connection-lost' | 'health-check';

export interface TerminalOutcome {
  state: TaskState;
  message: string;
  reason?: TaskStatus_Reason;
}

/**
 * The terminal update for a task process that ended, as Mesos' command executor decides it: a task
 * we were killing is KILLED whatever its exit status (a task that traps SIGTERM and exits 0 was
 * still killed), except a kill forced by `max_completion_time`, which is a FAILED with
 * REASON_MAX_COMPLETION_TIME_REACHED; otherwise exit 0 is FINISHED and anything else FAILED.
 */
export function terminalOutcome(exit: ProcessExit, killCause: KillCause | undefined): TerminalOutcome {
  const message = `Command ${describeExit(exit)}`;
  if (killCause === 'max-completion-time') {
    return { state: TaskState.TASK_FAILED, message, reason: TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED };
  }
  if (killCause !== undefined) return { state: TaskState.TASK_KILLED, message };
  if (exit.code === 0) return { state: TaskState.TASK_FINISHED, message };
  return { state: TaskState.TASK_FAILED, message };
}

/**
 * stout's WSTRINGIFY: `exited with status N` or `terminated with signal <strsignal text>`, so
 * status messages read exactly as Mesos writes them ("Command terminated with signal Killed").
 */
export function describeExit(exit: ProcessExit): string {
  if (exit.signal === undefined) return `exited with status ${exit.code}`;
  return `terminated with signal ${signalDescription(exit.signal)}`;
}

/** glibc's strsignal() texts for the signals a task is likely to die of. */
const SIGNAL_DESCRIPTIONS: Readonly<Partial<Record<NodeJS.Signals, string>>> = {
  SIGHUP: 'Hangup',
  SIGINT: 'Interrupt',
  SIGQUIT: 'Quit',
  SIGILL: 'Illegal instruction',
  SIGTRAP: 'Trace/breakpoint trap',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed',
  SIGUSR1: 'User defined signal 1',
  SIGSEGV: 'Segmentation fault',
  SIGUSR2: 'User defined signal 2',
  SIGPIPE: 'Broken pipe',
  SIGALRM: 'Alarm clock',
  SIGTERM: 'Terminated',
  SIGSTKFLT: 'Stack fault',
  SIGCHLD: 'Child exited',
  SIGCONT: 'Continued',
  SIGSTOP: 'Stopped (signal)',
  SIGTSTP: 'Stopped',
  SIGTTIN: 'Stopped (tty input)',
  SIGTTOU: 'Stopped (tty output)',
  SIGURG: 'Urgent I/O condition',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'File size limit exceeded',
  SIGVTALRM: 'Virtual timer expired',
  SIGPROF: 'Profiling timer expired',
  SIGWINCH: 'Window changed',
  SIGIO: 'I/O possible',
  SIGPWR: 'Power failure',
  SIGSYS: 'Bad system call',
};

export function signalDescription(signal: NodeJS.Signals): string {
  const text = SIGNAL_DESCRIPTIONS[signal];
  if (text !== undefined) return text;
  const number = (osConstants.signals as Partial<Record<string, number>>)[signal];
  return number === undefined ? signal : `Unknown signal ${number}`;
}

// Status messages the command executor sends besides exit descriptions, in Mesos' words where
// Mesos has words for the case.
export const MULTIPLE_TASKS_MESSAGE = 'Attempted to run multiple tasks using a "command" executor';
export const KILLED_BEFORE_START_MESSAGE = 'Task was killed before its command was started';

export function launchFailedMessage(detail: string): string {
  return `Failed to launch command: ${detail}`;
}

// --- nested containers (the default executor) ---------------------------------------------------

/** The signal name for a signal number on this platform, if it has one. */
export function signalName(signal: number): NodeJS.Signals | undefined {
  for (const [name, number] of Object.entries(osConstants.signals)) {
    if (number === signal) return name as NodeJS.Signals;
  }
  return undefined;
}

/**
 * A raw wait(2) status, as WAIT_NESTED_CONTAINER's `exit_status` carries it, as a ProcessExit:
 * undefined for a status that is not an end (stopped, continued) or a signal this platform does
 * not name.
 */
export function waitStatusToExit(status: number): ProcessExit | undefined {
  const termination = status & 0x7f;
  if (termination === 0) return { code: (status >> 8) & 0xff };
  // 0x7f: stopped or continued (WIFSTOPPED / WIFCONTINUED), not an end.
  if (termination === 0x7f) return undefined;
  const name = signalName(termination);
  return name === undefined ? undefined : { signal: name };
}

/** stout's WSTRINGIFY of a raw wait status (`exited with status 1`, `terminated with signal Killed`). */
export function describeWaitStatus(status: number): string {
  const exit = waitStatusToExit(status);
  if (exit !== undefined) return describeExit(exit);
  const termination = status & 0x7f;
  if (termination === 0x7f) return `stopped with signal ${(status >> 8) & 0xff}`;
  return `terminated with signal Unknown signal ${termination}`;
}

/** What WAIT_NESTED_CONTAINER answered, reduced to what decides a task's terminal update. */
export interface NestedContainerTermination {
  /** The raw wait status, when the agent knows it. */
  exitStatus?: number | undefined;
  /** A terminal state the agent chose (a resource limitation, say), overriding the exit status. */
  state?: TaskState | undefined;
  reason?: TaskStatus_Reason | undefined;
  /** The agent's explanation, appended to the exit description. */
  message?: string | undefined;
}

/**
 * The terminal update for a task whose nested container ended, in the default executor's order
 * (reference §3.5): exit status 0 ⇒ FINISHED even if the task was being killed (it finished its
 * work on SIGTERM); else killed for `max_completion_time` ⇒ FAILED with
 * REASON_MAX_COMPLETION_TIME_REACHED; else killed ⇒ KILLED; else FAILED. A terminal state and a
 * reason from the agent win over that (a container limitation is why the task ended).
 */
export function nestedContainerOutcome(
  termination: NestedContainerTermination,
  killCause: KillCause | undefined,
): TerminalOutcome {
  const { exitStatus } = termination;
  let message =
    exitStatus === undefined
      ? 'Command terminated with unknown status'
      : `Command ${describeWaitStatus(exitStatus)}`;
  let state: TaskState;
  let reason: TaskStatus_Reason | undefined;
  if (exitStatus !== undefined && (exitStatus & 0xffff) === 0) {
    state = TaskState.TASK_FINISHED;
  } else if (killCause === 'max-completion-time') {
    state = TaskState.TASK_FAILED;
    reason = TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED;
  } else if (killCause !== undefined) {
    state = TaskState.TASK_KILLED;
  } else {
    state = TaskState.TASK_FAILED;
  }
  if (termination.state !== undefined && isTerminalState(termination.state)) state = termination.state;
  if (termination.reason !== undefined) reason = termination.reason;
  if (termination.message !== undefined && termination.message !== '') {
    message = `${message}: ${termination.message}`;
  }
  return reason === undefined ? { state, message } : { state, message, reason };
}

export function containerLaunchFailedMessage(detail: string): string {
  return `Failed to launch the task's container: ${detail}`;
}

export const KILLED_BEFORE_CONTAINER_LAUNCH_MESSAGE = 'Task was killed before its container was launched';
