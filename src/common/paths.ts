/**
 * Where a process keeps its state when `--work_dir` is not given: a per-user state directory
 * (`$XDG_STATE_HOME/strata`, else `~/.local/state/strata`), so `strata master` and
 * `strata agent` work out of the box without root and without clobbering each other.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function userStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.local', 'state'), 'strata');
}

export function defaultWorkDir(role: 'master' | 'agent', port: number): string {
  return join(userStateDir(), `${role}-${port}`);
}
