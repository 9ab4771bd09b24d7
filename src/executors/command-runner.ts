/**
 * Starting the task's process for the command executor: node:child_process with the task as the
 * leader of a new session (so its process group and session are its own and kill reaches the
 * whole tree), stdin from /dev/null, stdout/stderr inherited from the executor (the agent already
 * pointed those at the sandbox's `stdout` and `stderr` files), and uid/gid switched when the task
 * names another user. Kept apart from the executor's logic so that logic is testable with a fake.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/log.js';
import {
  type CommandLaunchSpec,
  findUserInPasswd,
  parsePasswdLine,
  type UserIdentity,
} from './command-launch.js';
import { signalProcessTree } from './process-tree.js';
import type { ProcessExit } from './status.js';

export interface TaskProcess {
  readonly pid: number;
  /** Settles when the task's own process has exited (its descendants may linger; see signalTree). */
  readonly exited: Promise<ProcessExit>;
  /** Signals the task's process group, session and descendants. */
  signalTree(signal: NodeJS.Signals): void;
}

export interface CommandRunner {
  /** The user's uid/gid, or undefined when there is no such user. */
  resolveUser(name: string): Promise<UserIdentity | undefined>;
  /** Resolves once the process runs; rejects with the reason it could not be started. */
  start(spec: CommandLaunchSpec, user: UserIdentity | undefined, cwd: string): Promise<TaskProcess>;
}

export class ProcessCommandRunner implements CommandRunner {
  constructor(private readonly logger: Logger) {}

  async resolveUser(name: string): Promise<UserIdentity | undefined> {
    // getent consults NSS (LDAP, sssd), which /etc/passwd alone would miss.
    const fromNss = await new Promise<UserIdentity | undefined>((resolve) => {
      execFile('getent', ['passwd', name], { timeout: 10_000 }, (err, stdout) => {
        resolve(err ? undefined : parsePasswdLine(stdout.trim().split('\n')[0] ?? ''));
      });
    });
    if (fromNss !== undefined) return fromNss;
    try {
      return findUserInPasswd(await readFile('/etc/passwd', 'utf8'), name);
    } catch {
      return undefined;
    }
  }

  start(spec: CommandLaunchSpec, user: UserIdentity | undefined, cwd: string): Promise<TaskProcess> {
    return new Promise((resolve, reject) => {
      const child = spawn(spec.file, spec.args, {
        argv0: spec.argv0,
        cwd,
        env: spec.env,
        detached: true,
        stdio: ['ignore', 'inherit', 'inherit'],
        ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
      });
      let spawned = false;
      const exited = new Promise<ProcessExit>((settle) => {
        child.once('exit', (code, signal) => {
          settle(signal !== null ? { signal } : { code: code ?? 0 });
        });
      });
      child.on('error', (err) => {
        if (!spawned) reject(err);
        else this.logger.warn({ err: err.message }, 'command executor: task process error');
      });
      child.once('spawn', () => {
        spawned = true;
        const pid = child.pid!;
        resolve({
          pid,
          exited,
          signalTree: (signal) => {
            signalProcessTree(pid, signal);
          },
        });
      });
    });
  }
}
