/**
 * Processes a restarted agent finds again: executors (and nested containers) that kept running
 * while the agent was down. They are no longer its children, so it can neither wait for them
 * nor learn their exit status; it checks that a recorded pid still names the process it started
 * (not a zombie, not a stranger that reused the pid), then polls for the process to go.
 *
 * Linux only in substance (`/proc`); elsewhere a pid that answers signal 0 counts as alive and
 * ownership cannot be checked, so nothing is ever signalled as an orphan there.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { ExecutorProcess } from './launcher.js';

/** How often a re-attached process is checked for having exited. */
export const RECOVERED_POLL_MS = 250;

/** What the agent knows about a process it started; every field given must match. */
export interface ProcessIdentity {
  /** The container's sandbox: the process' MESOS_SANDBOX (or its cwd) must be this directory. */
  directory: string;
  frameworkId?: string;
  executorId?: string;
}

/** `/proc/<pid>/stat`: state and parent, or undefined when there is no such process. */
function procStat(pid: number): { state: string; ppid: number; pgrp: number; session: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
  };
}

const hasProc = (() => {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
})();

/** Alive and not a zombie (a dead process its new parent has not reaped yet). */
export function isProcessAlive(pid: number): boolean {
  if (hasProc) {
    const stat = procStat(pid);
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function environment(pid: number): Map<string, string> | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const env = new Map<string, string>();
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** Device and inode of `path` (following links), or undefined when it cannot be read. */
function fileIdentity(path: string): { dev: number; ino: number } | undefined {
  try {
    const st = statSync(path);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Whether `path` (as the process sees it, /proc/<pid>/... magic links) is `directory` itself. */
function sameDirectory(path: string, directory: string | { dev: number; ino: number } | undefined): boolean {
  const want = typeof directory === 'string' ? fileIdentity(directory) : directory;
  const seen = fileIdentity(path);
  return want !== undefined && seen !== undefined && want.dev === seen.dev && want.ino === seen.ino;
}

/**
 * Whether `pid` is alive and is the process described by `identity`: its environment (as it was
 * started) names the sandbox, framework and executor, or at least its working directory is the
 * sandbox. A process inside a container (another mount namespace: an exec'd nested container
 * sees its sandbox at /mnt/mesos/sandbox/...) names the sandbox by its own path: that path is
 * resolved in the process' root (`/proc/<pid>/root`), and its working directory read through
 * `/proc/<pid>/cwd`, and either must be the very directory (device and inode: a bind mount shows
 * the host directory's). A pid reused by an unrelated process never matches, so it is never
 * signalled.
 */
export function processBelongsTo(pid: number, identity: ProcessIdentity): boolean {
  if (!hasProc || !isProcessAlive(pid)) return false;
  const directory = fileIdentity(identity.directory);
  const env = environment(pid);
  if (env) {
    const sandbox = env.get('MESOS_SANDBOX') ?? env.get('MESOS_DIRECTORY');
    const idsMatch =
      (identity.frameworkId === undefined || env.get('MESOS_FRAMEWORK_ID') === identity.frameworkId) &&
      (identity.executorId === undefined || env.get('MESOS_EXECUTOR_ID') === identity.executorId);
    const sandboxMatches =
      sandbox !== undefined &&
      (sandbox === identity.directory ||
        (sandbox.startsWith('/') && sameDirectory(`/proc/${pid}/root${sandbox}`, directory)));
    if (sandboxMatches && idsMatch) return true;
  }
  try {
    if (readlinkSync(`/proc/${pid}/cwd`) === identity.directory) return true;
  } catch {
    return false;
  }
  return sameDirectory(`/proc/${pid}/cwd`, directory);
}

/** Every process below `pid` (children, grandchildren, ...), read from `/proc`. */
function descendants(pid: number): number[] {
  if (!hasProc) return [];
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    for (const child of children.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function kill(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // gone already
  }
}

/**
 * Watches a process the agent did not start in this life. `exited` settles with `undefined`
 * (the status is unknowable) once the process is gone. Signals go to its process group, as for
 * a launched executor; SIGKILL also reaches every descendant, wherever it moved (a command
 * executor runs its task in a session of its own, which the group signal would miss).
 */
export function attachProcess(pid: number, pollMs = RECOVERED_POLL_MS): ExecutorProcess {
  let hasExited = false;
  let settle!: (status: number | undefined) => void;
  const exited = new Promise<number | undefined>((resolve) => {
    settle = resolve;
  });
  const timer = setInterval(() => {
    if (isProcessAlive(pid)) return;
    clearInterval(timer);
    hasExited = true;
    // What the executor left in its group dies with it, as for a launched one.
    kill(-pid, 'SIGKILL');
    settle(undefined);
  }, pollMs);
  timer.unref();
  return {
    pid,
    exited,
    get hasExited() {
      return hasExited;
    },
    signal(signal) {
      if (hasExited || !isProcessAlive(pid)) return;
      const below = signal === 'SIGKILL' ? descendants(pid) : [];
      try {
        process.kill(-pid, signal);
      } catch {
        kill(pid, signal);
      }
      for (const child of below) kill(child, signal);
    },
  };
}
