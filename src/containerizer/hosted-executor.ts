/**
 * The agent-hosted command executor (a Strata design choice, src/containerizer/README.md "Launch
 * latency"). Mesos starts `mesos-executor` inside each command task's container; Strata's
 * executor is a Node program, and booting Node in every container cost ≈ 200 ms of CPU per task.
 * For the command tasks that allow it, the same `CommandExecutor` logic runs inside the agent
 * process instead, speaking the v1 executor API to its own agent through the in-process link
 * (src/agent/local-executor-link.ts: the agent's own executor-API entry points), and the container's process is the task's command itself (under `tini` when the
 * container has a pid namespace, so that SIGTERM reaches a task that does not handle it, as it
 * would under Mesos' executor).
 *
 * To the scheduler, the master and the agent's state nothing differs: the executor has the same
 * id, name, resources, container and updates. After an agent restart the container is found
 * again (meta.json carries what this executor needs) and a new hosted executor takes it over
 * (`CommandExecutor.resume`), re-subscribing as a surviving executor would.
 *
 * Not hosted (the Node executor runs in the container as before): COMMAND health checks or
 * checks (their command must run in the container's mount namespace), an argv[0] other than the
 * program (OCI has no separate argv[0]), and a pid namespace on a host without `tini`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { clone, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ExecutorProcess, LocalLinkFactory } from '../agent/launcher.js';
import type { Logger } from '../common/log.js';
import { CommandExecutor, type ExecutorLink, withImageCommand } from '../executors/command-executor.js';
import { findUserInPasswd, type UserIdentity } from '../executors/command-launch.js';
import type { CommandRunner, TaskProcess } from '../executors/command-runner.js';
import { type EnvironmentRecord, readExecutorEnvironment } from '../executors/environment.js';
import { signalProcessTree } from '../executors/process-tree.js';
import type { ProcessExit } from '../executors/status.js';
import {
  type CheckInfo,
  CheckInfo_Type,
  type HealthCheck,
  HealthCheck_Type,
  type TaskInfo,
  TaskInfoSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { isTerminalState } from '../wire/task-states.js';
import type { Limitation } from './isolators/isolator.js';

/** Debian's `tini` package: a static build runs in any image. */
export const TINI_CANDIDATES = ['/usr/bin/tini-static'];
/** Where a bound tini appears inside an image's rootfs (the toolbox directory). */
export const TINI_IN_IMAGE = '/.strata/tini';
/** In the container's state directory: the task's terminal update went out. */
export const HOSTED_TERMINAL_MARKER = 'hosted-terminal';

export function findTini(candidates = TINI_CANDIDATES): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** What the containerizer records so that a restarted agent can host the executor again. */
export interface HostedMeta {
  /** The composed executor environment (MESOS_*, image Env): the base of the task's. */
  env: EnvironmentRecord;
  cwd: string;
  /** TaskInfo, protobuf binary, base64. */
  task: string;
  user?: UserIdentity | undefined;
  /** tini as the container sees it, when the task runs under it. */
  init?: string | undefined;
  /** When the task's container was started (epoch ms): its max_completion_time counts from here. */
  startedAt?: number | undefined;
}

/** The process the task's container runs (OCI `process` fields). */
export interface HostedProcessSpec {
  args: string[];
  env: Record<string, string>;
  cwd: string;
  user?: { uid: number; gid: number } | undefined;
}

/** A started task container, as the containerizer hands it over. */
export interface HostedTaskContainer {
  readonly pid: number;
  /** Raw wait status of the container's process (undefined when it cannot be known). */
  readonly exited: Promise<number | undefined>;
  /** Settles once the container is destroyed (after `exited`). */
  readonly destroyed: Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** The container's limitation (kept past its teardown). */
  limited(): Limitation | undefined;
}

/** What the containerizer does for a hosted executor. */
export interface HostedContainerOps {
  /** Starts the task's container with `process` (meta is kept for recovery). */
  start(process: HostedProcessSpec, meta: HostedMeta): Promise<HostedTaskContainer>;
  /** Gives back what preparing the container made, when no container was started. */
  release(): Promise<void>;
  /** `/etc/passwd` as the task sees it (the image's, or the host's). */
  passwdPath: string;
  /** The container's limitation, once an isolator reports one. */
  limitation: Promise<Limitation>;
  limited(): Limitation | undefined;
  /** Marks, in the container's state directory, that the terminal update went out. */
  terminalMarker: string;
}

function usesCommandProbe(check: HealthCheck | CheckInfo | undefined, commandType: number): boolean {
  return check !== undefined && Number(check.type) === commandType;
}

/**
 * Why `task` cannot be hosted, or undefined when it can. `env` is the container's environment,
 * whose STRATA_TASK_COMMAND (an image's Entrypoint/Cmd) stands in for an empty command.
 */
export function hostingProblem(
  task: TaskInfo,
  env: EnvironmentRecord,
  pidNamespace: boolean,
  tini: string | undefined,
): string | undefined {
  if (usesCommandProbe(task.healthCheck, HealthCheck_Type.COMMAND)) return 'a COMMAND health check';
  if (usesCommandProbe(task.check, CheckInfo_Type.COMMAND)) return 'a COMMAND check';
  if (pidNamespace && tini === undefined) return 'a pid namespace and no tini on this host';
  const command = withImageCommand(task, env).command;
  if (!command) return 'no command';
  if (!command.shell && command.arguments.length > 0) {
    const argv0 = command.arguments[0] ?? '';
    if (argv0 !== command.value && basename(command.value) !== argv0) return 'an argv[0] of its own';
  }
  return undefined;
}

/** Raw wait status → what the command executor reports. */
export function processExit(status: number | undefined): ProcessExit {
  if (status === undefined) return { signal: 'SIGKILL' };
  const signal = status & 0x7f;
  if (signal !== 0) {
    const name = Object.entries(constants.signals).find(([, n]) => n === signal)?.[0];
    return { signal: (name ?? 'SIGKILL') as NodeJS.Signals };
  }
  return { code: (status >> 8) & 0xff };
}

function taskProcessOf(container: HostedTaskContainer, useInit: boolean): TaskProcess {
  let ended = false;
  return {
    pid: container.pid,
    exited: container.exited.then((status) => {
      ended = true;
      return processExit(status);
    }),
    signalTree: (signal) => {
      // Once the container's process ended, its teardown takes whatever is left.
      if (ended) return;
      // tini (pid 1) forwards to the task's process group; SIGKILL takes the whole cgroup.
      if (useInit || signal === 'SIGKILL') container.signal(signal);
      else signalProcessTree(container.pid, signal);
    },
  };
}

export interface HostedExecutorOptions {
  ops: HostedContainerOps;
  /** The composed executor environment of the container (MESOS_*, image Env). */
  env: EnvironmentRecord;
  /** The task's working directory inside the container. */
  cwd: string;
  /** tini's path as the container sees it, when the container has a pid namespace. */
  init: string | undefined;
  log: Logger;
  /**
   * The executor's user (`--switch_user`: the framework's, resolved on the host): the task runs
   * as this user unless it names its own; looked up in the image first.
   */
  user?: { name: string; uid: number; gid: number } | undefined;
  /** The executor API in-process (the agent's). */
  link: LocalLinkFactory;
  /** An agent restart: the task already runs in this container. */
  resume?: {
    task: TaskInfo;
    container: HostedTaskContainer;
    user: UserIdentity | undefined;
    /** HostedMeta.startedAt of the task's container. */
    startedAt?: number | undefined;
  };
}

/** The command executor of one task, run in the agent process; seen by the agent as its process. */
export class HostedCommandExecutor implements ExecutorProcess {
  private container: HostedTaskContainer | undefined;
  private readonly executor: CommandExecutor;
  /** What the executor reaches the agent through; closed when the agent SIGKILLs "the executor". */
  private link: ExecutorLink | undefined;
  private finishedCode: number | undefined;
  private done = false;
  readonly exited: Promise<number | undefined>;
  readonly limitation: Promise<Limitation>;
  private settleExecutor!: (status: number) => void;

  constructor(private readonly options: HostedExecutorOptions) {
    this.limitation = options.ops.limitation;
    const executorDone = new Promise<number>((resolve) => {
      this.settleExecutor = resolve;
    });
    this.exited = executorDone.then(async (status) => {
      // The executor is done; the container (if any) must be gone before the agent moves on.
      if (this.container) await this.container.destroyed;
      else await options.ops.release().catch(() => undefined);
      this.done = true;
      return status;
    });
    const environment = readExecutorEnvironment(options.env);
    const log = options.log;
    const runner: CommandRunner = {
      resolveUser: async (name) => {
        try {
          const inImage = findUserInPasswd(readFileSync(options.ops.passwdPath, 'utf8'), name);
          if (inImage) return inImage;
        } catch {
          // no passwd in the image
        }
        // As Mesos does for the executor's user: the host's uid and gid when the image lacks it.
        return options.user?.name === name ? options.user : undefined;
      },
      start: async (spec, user) => {
        const task = this.executor.currentTask;
        const init = options.init;
        const program = [spec.file, ...spec.args];
        const container = await options.ops.start(
          {
            args: init ? [init, '-g', '--', ...program] : program,
            env: spec.env,
            cwd: options.cwd,
            ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}),
          },
          {
            env: options.env,
            cwd: options.cwd,
            task: task ? Buffer.from(toBinary(TaskInfoSchema, task)).toString('base64') : '',
            ...(user ? { user } : {}),
            ...(init ? { init } : {}),
            startedAt: Date.now(),
          },
        );
        this.container = container;
        return taskProcessOf(container, init !== undefined);
      },
    };
    this.executor = new CommandExecutor({
      environment,
      processEnvironment: options.env,
      cwd: options.cwd,
      logger: log,
      runner,
      connect: (handlers) => {
        const user = options.user;
        if (user) {
          // The executor's user is the task's unless the task names its own (a command task's
          // process executor would run as that user, and its task with it).
          const launch = handlers.launch;
          handlers = {
            ...handlers,
            launch: (task) => {
              if (task.command && task.command.user === '') {
                const copy = clone(TaskInfoSchema, task);
                copy.command!.user = user.name;
                launch?.(copy);
              } else launch?.(task);
            },
          };
        }
        const client = options.link(handlers);
        const marker = options.ops.terminalMarker;
        this.link = {
          get state() {
            return client.state;
          },
          get unacknowledgedUpdates() {
            return client.unacknowledgedUpdates;
          },
          start: () => client.start(),
          sendUpdate: (status) => {
            // A restarted agent must not hear of this task's end twice (its update manager has it).
            // (Gone already when the container was torn down first: then nothing is left to recover.)
            if (isTerminalState(status.state)) {
              try {
                writeFileSync(marker, '');
              } catch {
                // the state directory is gone with its container
              }
            }
            client.sendUpdate(status);
          },
          close: () => client.close(),
        };
        return this.link;
      },
      exit: (code) => this.settle((code & 0xff) << 8),
      currentUser: 'root',
      privileged: process.getuid?.() === 0,
    });
    if (options.resume) {
      this.container = options.resume.container;
      this.executor.resume(
        options.resume.task,
        taskProcessOf(options.resume.container, options.init !== undefined),
        options.resume.user,
        options.resume.startedAt,
      );
    }
    this.executor.start();
  }

  get pid(): number {
    return this.container?.pid ?? process.pid;
  }

  get hasExited(): boolean {
    return this.done;
  }

  limited(): Limitation | undefined {
    return this.container?.limited() ?? this.options.ops.limited();
  }

  signal(signal: NodeJS.Signals): void {
    if (this.finishedCode !== undefined) {
      if (signal === 'SIGKILL') this.container?.signal('SIGKILL');
      return;
    }
    if (signal === 'SIGKILL') {
      // As a killed executor process: the task goes with it and nothing more is reported (the
      // agent reports the task's end itself, from the executor's termination).
      this.link?.close();
      this.container?.signal('SIGKILL');
      this.settle(constants.signals.SIGKILL);
      return;
    }
    this.executor.shutdown(`the agent sent ${signal}`);
  }

  private settle(status: number): void {
    if (this.finishedCode !== undefined) return;
    this.finishedCode = status;
    this.settleExecutor(status);
  }
}

/** The meta of a hosted container read back after a restart, or undefined when it is not one. */
export function readHostedMeta(meta: {
  hosted?: HostedMeta;
}): { meta: HostedMeta; task: TaskInfo } | undefined {
  const hosted = meta.hosted;
  if (!hosted || hosted.task === '') return undefined;
  try {
    return { meta: hosted, task: fromBinary(TaskInfoSchema, Buffer.from(hosted.task, 'base64')) };
  } catch {
    return undefined;
  }
}
