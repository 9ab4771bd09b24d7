/**
 * Image config → launch description, as Mesos' docker/runtime isolator does it
 * (mesos-internals.md §2.7). Pure.
 *
 * Command (CommandInfo `shell` defaults to true, as in Mesos):
 * - shell=true:  needs a value → `/bin/sh -c <value>`; the image's Entrypoint/Cmd are ignored.
 * - shell=false with a value: exec the value with the user's arguments (Mesos' `arguments`
 *   include argv[0]; with none, argv is `[value]`); the image is ignored.
 * - shell=false, no value:
 *   - Entrypoint set: exec Entrypoint[0]; argv = Entrypoint + (user arguments, else Cmd).
 *   - only Cmd set: exec Cmd[0]; argv = [Cmd[0]] + (user arguments, else Cmd[1..]).
 *   - neither: error.
 * Env: the image's `Env` (later duplicates win); the containerizer layers it above the agent's
 * environment and below CommandInfo.environment (user wins), see `mergeEnvironment`.
 * WorkingDir: the image's, else `--sandbox_directory`.
 * User: not honoured (Mesos ignores it and warns; the task runs as the framework/task user).
 */
import { fail } from '../../common/errors.js';
import type { ImageConfig } from './manifest.js';

export interface CommandSpec {
  /** Mesos CommandInfo.shell; default true. */
  readonly shell?: boolean;
  readonly value?: string;
  /** Mesos CommandInfo.arguments (argv[0] included). */
  readonly arguments?: readonly string[];
}

export interface LaunchDescription {
  /** What to exec (resolved against PATH in the container when not absolute). */
  readonly executable: string;
  /** Full argv, argv[0] included: what an OCI spec's `process.args` takes. */
  readonly argv: readonly string[];
  /** True when the command runs through `/bin/sh -c`. */
  readonly shell: boolean;
  /** The image's environment; merge with `mergeEnvironment`. */
  readonly imageEnv: Readonly<Record<string, string>>;
  readonly workingDir: string;
  /** The image's `User`, reported but not applied (Mesos behaviour). */
  readonly imageUser: string | undefined;
  readonly warnings: readonly string[];
}

/** `KEY=VALUE` list → record; entries without `=` are skipped (with a warning). */
export function envRecord(list: readonly string[], warnings: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      warnings.push(`ignoring image Env entry '${item}' (not KEY=VALUE)`);
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function launchFromImage(
  config: Pick<ImageConfig, 'entrypoint' | 'cmd' | 'env' | 'workingDir' | 'user'>,
  command: CommandSpec = { shell: false },
  options: { sandboxDirectory?: string; image?: string } = {},
): LaunchDescription {
  const warnings: string[] = [];
  const imageEnv = envRecord(config.env, warnings);
  const workingDir = config.workingDir ?? options.sandboxDirectory ?? '/mnt/mesos/sandbox';
  if (config.user !== undefined)
    warnings.push(`image User '${config.user}' is not honoured; the task runs as the framework or task user`);
  const image = options.image ?? 'image';
  const shell = command.shell ?? true;
  const args = command.arguments ?? [];
  const base = { imageEnv, workingDir, imageUser: config.user, warnings };
  if (shell) {
    if (!command.value) fail('IMAGE_COMMAND_INVALID', { image, detail: 'a shell command needs a value' });
    return { ...base, executable: '/bin/sh', argv: ['/bin/sh', '-c', command.value], shell: true };
  }
  if (command.value)
    return {
      ...base,
      executable: command.value,
      argv: args.length > 0 ? [...args] : [command.value],
      shell: false,
    };
  const entrypoint = config.entrypoint ?? [];
  const cmd = config.cmd ?? [];
  if (entrypoint.length > 0) {
    return {
      ...base,
      executable: entrypoint[0] as string,
      argv: [...entrypoint, ...(args.length > 0 ? args : cmd)],
      shell: false,
    };
  }
  if (cmd.length > 0) {
    return {
      ...base,
      executable: cmd[0] as string,
      argv: [cmd[0] as string, ...(args.length > 0 ? args : cmd.slice(1))],
      shell: false,
    };
  }
  return fail('IMAGE_COMMAND_INVALID', {
    image,
    detail: 'no command given and the image has neither Entrypoint nor Cmd',
  });
}

/**
 * The container's environment, later wins: the agent's (executor) environment, MESOS_SANDBOX,
 * the image's Env, then the user's CommandInfo.environment. PATH falls back to the usual default.
 */
export function mergeEnvironment(
  ...layers: readonly (Readonly<Record<string, string>> | undefined)[]
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of layers) if (l) Object.assign(out, l);
  out.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return out;
}
