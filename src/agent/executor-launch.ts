/**
 * What an executor is launched with: the ExecutorInfo the agent synthesizes for a command task,
 * the sandbox path, the environment (mesos-v1-api.md section 3.3, mesos-internals.md section 4.4)
 * and the program to run. Pure: the process is started by launcher.ts.
 */
import { create } from '@bufbuild/protobuf';
import { formatDuration } from '../common/units.js';
import {
  type CommandInfo,
  CommandInfoSchema,
  type ExecutorInfo,
  ExecutorInfoSchema,
  type FrameworkInfo,
  type Resource,
  ResourceSchema,
  type TaskInfo,
  Value_Type,
} from '../wire/gen/mesos/v1/mesos_pb.js';

/** Mesos' DEFAULT_EXECUTOR_CPUS / DEFAULT_EXECUTOR_MEM: the command executor's own allowance. */
export const COMMAND_EXECUTOR_CPUS = 0.1;
export const COMMAND_EXECUTOR_MEM_MB = 32;

/** Mesos' executor name, which shows the start of the command: tools and UIs display it. */
export function commandExecutorName(taskId: string, command: CommandInfo | undefined): string {
  let name = `(Task: ${taskId}) `;
  const shell = command?.shell ?? true;
  const value = command?.value ?? '';
  if (shell) {
    if (value === '') name += '(Command: NO COMMAND)';
    else if (value.length > 15) name += `(Command: sh -c '${value.slice(0, 12)}...')`;
    else name += `(Command: sh -c '${value}')`;
  } else if (value === '') {
    name += '(Command: NO EXECUTABLE)';
  } else {
    const args = `${value}, ${(command?.arguments ?? []).join(', ')}`;
    name += args.length > 15 ? `(Command: [${args.slice(0, 12)}...])` : `(Command: [${args}])`;
  }
  return `Command Executor ${name}`;
}

/**
 * Whether a recovered ExecutorInfo is one the agent synthesized for a command task (Mesos tells
 * them apart the same way, from the info alone): named for its task, whose id is its own id and
 * source. The master keeps no record of these executors.
 */
export function isCommandExecutorInfo(info: ExecutorInfo): boolean {
  const executorId = info.executorId?.value ?? '';
  return info.source === executorId && info.name.startsWith(`Command Executor (Task: ${executorId}) `);
}

function allowance(name: string, amount: number, role: string | undefined): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.SCALAR,
    scalar: { value: amount },
    ...(role === undefined ? {} : { allocationInfo: { role } }),
  });
}

/**
 * The ExecutorInfo of the built-in command executor for `task` (Mesos `getExecutorInfo`): the
 * executor id and source are the task id; the task's environment and user carry over; resources
 * are the fixed allowance, allocated to the task's role. `program` is how to run it.
 */
export function commandExecutorInfo(
  task: TaskInfo,
  framework: FrameworkInfo,
  program: { path: string; args: readonly string[] },
): ExecutorInfo {
  const taskId = task.taskId?.value ?? '';
  const role = task.resources.find((r) => r.allocationInfo)?.allocationInfo?.role;
  const command = task.command;
  return create(ExecutorInfoSchema, {
    executorId: { value: taskId },
    ...(framework.id ? { frameworkId: { value: framework.id.value } } : {}),
    name: commandExecutorName(taskId, command),
    source: taskId,
    command: {
      shell: false,
      value: program.path,
      arguments: [...program.args],
      ...(command?.environment ? { environment: command.environment } : {}),
      ...(command?.user ? { user: command.user } : {}),
    },
    resources: [
      allowance('cpus', COMMAND_EXECUTOR_CPUS, role),
      allowance('mem', COMMAND_EXECUTOR_MEM_MB, role),
    ],
    ...(task.container ? { container: task.container } : {}),
    ...(task.labels ? { labels: task.labels } : {}),
  });
}

/**
 * The command that runs the built-in default executor for a DEFAULT-type ExecutorInfo (Mesos'
 * `defaultExecutorCommandInfo`). It is used to launch only: the ExecutorInfo itself keeps no
 * command, so SUBSCRIBED and re-registration show the executor as the framework described it.
 */
export function defaultExecutorCommand(program: { path: string; args: readonly string[] }): CommandInfo {
  return create(CommandInfoSchema, { shell: false, value: program.path, arguments: [...program.args] });
}

/** `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>` (section 4.3). */
export function executorRunsDir(
  workDir: string,
  agentId: string,
  frameworkId: string,
  executorId: string,
): string {
  return `${workDir.replace(/\/+$/, '')}/slaves/${agentId}/frameworks/${frameworkId}/executors/${executorId}/runs`;
}

export interface ExecutorEnvironmentSpec {
  frameworkId: string;
  executorId: string;
  agentId: string;
  /** `ip:port` of the agent's HTTP server. */
  agentEndpoint: string;
  agentIp: string;
  sandbox: string;
  checkpoint: boolean;
  shutdownGracePeriodMs: number;
  recoveryTimeoutMs: number;
  subscriptionBackoffMaxMs: number;
  /** What executors inherit: the agent's own environment, or `--executor_environment_variables`. */
  base: Readonly<Record<string, string | undefined>>;
  /** `CommandInfo.environment` of the executor; wins over everything else. */
  command: CommandInfo | undefined;
}

/** PATH for a process whose environment names none (the launch helper's host default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Inherited variables that would confuse an executor about who it is talking to. */
const NOT_INHERITED = /^(MESOS_|STRATA_|LIBPROCESS_)/;

/**
 * The executor's environment, later entries winning: inherited base (minus the agent's own
 * MESOS_/STRATA_/LIBPROCESS_ settings), then what Mesos' agent sets, then the executor command's
 * own variables (secret-typed ones are skipped: there is no secret resolver).
 */
export function executorEnvironment(spec: ExecutorEnvironmentSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.base)) {
    if (value !== undefined && !NOT_INHERITED.test(name)) env[name] = value;
  }
  Object.assign(env, {
    MESOS_FRAMEWORK_ID: spec.frameworkId,
    MESOS_EXECUTOR_ID: spec.executorId,
    MESOS_DIRECTORY: spec.sandbox,
    MESOS_SANDBOX: spec.sandbox,
    MESOS_SLAVE_ID: spec.agentId,
    MESOS_AGENT_ID: spec.agentId,
    MESOS_SLAVE_PID: `slave(1)@${spec.agentEndpoint}`,
    MESOS_AGENT_ENDPOINT: spec.agentEndpoint,
    MESOS_CHECKPOINT: spec.checkpoint ? '1' : '0',
    MESOS_HTTP_COMMAND_EXECUTOR: '1',
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: formatDuration(spec.shutdownGracePeriodMs),
    MESOS_CONTAINER_IP: spec.agentIp,
    LIBPROCESS_IP: spec.agentIp,
    LIBPROCESS_PORT: '0',
  });
  if (spec.checkpoint) {
    env.MESOS_RECOVERY_TIMEOUT = formatDuration(spec.recoveryTimeoutMs);
    env.MESOS_SUBSCRIPTION_BACKOFF_MAX = formatDuration(spec.subscriptionBackoffMaxMs);
  }
  for (const variable of spec.command?.environment?.variables ?? []) {
    if (variable.secret) continue;
    env[variable.name] = variable.value;
  }
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
  return env;
}

/** How to start an executor's command: `sh -c value` when `shell`, else `value` with `arguments`. */
export interface ProgramSpec {
  file: string;
  args: string[];
  /** argv[0] as the program sees it (Mesos: `arguments[0]` for non-shell commands). */
  argv0: string;
}

export function executorProgram(command: CommandInfo): ProgramSpec {
  if (command.shell) return { file: '/bin/sh', args: ['-c', command.value], argv0: 'sh' };
  const [argv0, ...rest] = command.arguments;
  return { file: command.value, args: rest, argv0: argv0 ?? command.value };
}

/** The shutdown grace period of an executor: its own `shutdown_grace_period`, else the flag. */
export function shutdownGracePeriodMs(info: ExecutorInfo, flagMs: number): number {
  const nanos = info.shutdownGracePeriod?.nanoseconds;
  return nanos === undefined ? flagMs : Number(nanos) / 1e6;
}
