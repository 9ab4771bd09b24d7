/**
 * Turning a TaskInfo's CommandInfo into what to exec, as Mesos' command executor does (reference
 * §3.4): pure, so every rule is testable without starting a process.
 *
 * - `shell` (default true): `/bin/sh -c <value>` with argv `sh -c <value>`.
 * - `shell: false`: execvp of `value` with argv = `arguments` as given, so `arguments[0]` is the
 *   program's argv[0] (Mesos passes the array verbatim); with no arguments argv[0] is `value`.
 * - Environment: the executor's own, then MESOS_SANDBOX and MESOS_TASK_ID, then the task's
 *   `command.environment` VALUE variables (the task's word is last, as in Mesos). SECRET
 *   variables need a secret resolver, which Strata does not have: the launch fails with a message
 *   that says so rather than running the task without them.
 * - `command.user`: a different user than the executor's needs root to switch to.
 */
import type { CommandInfo, Environment, TaskInfo } from '../wire/gen/mesos/v1/mesos_pb.js';
import { Environment_Variable_Type } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { EnvironmentRecord } from './environment.js';

export const SHELL_PATH = '/bin/sh';

export interface CommandLaunchSpec {
  /** Path or name (looked up on PATH when it has no slash) handed to execvp. */
  file: string;
  /** argv[0] as the program sees it. */
  argv0: string;
  /** argv[1..]. */
  args: string[];
  env: Record<string, string>;
  /** The user to switch to before exec; undefined keeps the executor's user. */
  switchToUser: string | undefined;
}

export type LaunchPlan = { ok: true; spec: CommandLaunchSpec } | { ok: false; message: string };

export interface LaunchContext {
  /** The executor's environment, the base of the task's. */
  executorEnvironment: EnvironmentRecord;
  /** Variables the executor keeps to itself (its authentication token). */
  privateVariables: readonly string[];
  sandbox: string;
  /** The executor's own user name, if it has one. */
  currentUser: string | undefined;
  /** Whether the executor may switch users (runs as root). */
  privileged: boolean;
}

export function planCommandLaunch(task: TaskInfo, context: LaunchContext): LaunchPlan {
  const taskId = task.taskId?.value ?? '';
  const command = task.command;
  if (command === undefined) {
    return {
      ok: false,
      message: `Task '${taskId}' has no 'command'; the command executor runs only TaskInfo.command tasks`,
    };
  }

  const argv = commandArgv(command);
  if (typeof argv === 'string') return { ok: false, message: argv };

  const env = taskEnvironment(command.environment, taskId, context);
  if (typeof env === 'string') return { ok: false, message: env };

  const user = userSwitch(command.user, context);
  if (typeof user === 'object') return { ok: false, message: user.error };

  return { ok: true, spec: { ...argv, env, switchToUser: user } };
}

function commandArgv(command: CommandInfo): Pick<CommandLaunchSpec, 'file' | 'argv0' | 'args'> | string {
  if (command.shell) return { file: SHELL_PATH, argv0: 'sh', args: ['-c', command.value] };
  if (command.value.length === 0) {
    return "A command with 'shell: false' needs a 'value' naming the program to execute";
  }
  const [first, ...rest] = command.arguments;
  return { file: command.value, argv0: first ?? command.value, args: rest };
}

function taskEnvironment(
  environment: Environment | undefined,
  taskId: string,
  context: LaunchContext,
): Record<string, string> | string {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(context.executorEnvironment)) {
    if (value !== undefined && !context.privateVariables.includes(name)) env[name] = value;
  }
  env['MESOS_SANDBOX'] = context.sandbox;
  env['MESOS_TASK_ID'] = taskId;
  for (const variable of environment?.variables ?? []) {
    switch (variable.type) {
      case Environment_Variable_Type.VALUE:
        env[variable.name] = variable.value;
        break;
      case Environment_Variable_Type.SECRET:
        return (
          `Environment variable '${variable.name}' is of type SECRET, which this agent cannot resolve ` +
          '(no secret resolver is configured); pass it as a VALUE or through a file'
        );
      default:
        return `Environment variable '${variable.name}' has an unknown type`;
    }
  }
  return env;
}

/** The user to switch to, undefined for none, or why the launch cannot run as that user. */
function userSwitch(requested: string, context: LaunchContext): string | undefined | { error: string } {
  if (requested.length === 0 || requested === context.currentUser) return undefined;
  if (!context.privileged) {
    return {
      error:
        `Cannot run the command as user '${requested}': the executor runs as ` +
        `'${context.currentUser ?? 'an unnamed user'}' and only root may switch users`,
    };
  }
  return requested;
}

export interface UserIdentity {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Parses one passwd(5) line (`name:x:uid:gid:gecos:home:shell`, as /etc/passwd and
 * `getent passwd` print it); undefined when the line is not one.
 */
export function parsePasswdLine(line: string): UserIdentity | undefined {
  const fields = line.split(':');
  if (fields.length < 7) return undefined;
  const [name, , uidText, gidText] = fields;
  if (!name || !uidText || !gidText || !/^\d+$/.test(uidText) || !/^\d+$/.test(gidText)) return undefined;
  return { name, uid: Number(uidText), gid: Number(gidText) };
}

/** Finds `name` in passwd(5) text. */
export function findUserInPasswd(passwdText: string, name: string): UserIdentity | undefined {
  for (const line of passwdText.split('\n')) {
    const identity = parsePasswdLine(line.trim());
    if (identity?.name === name) return identity;
  }
  return undefined;
}
