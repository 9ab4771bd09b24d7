/**
 * Signalling a task's whole process tree, the job Mesos' `os::killtree(pid, signal, groups=true,
 * sessions=true)` does for its command executor.
 *
 * The task is spawned as the leader of a new session (and so of a new process group), so
 * `kill(-pid)` reaches everything that stayed in its group. A process that moved to a group of its
 * own (`setpgid`, job control in an interactive shell) escapes that, so on Linux we also read
 * /proc and signal every process of the task's session and every descendant of the task, like
 * killtree does. A process that started a new session *and* was orphaned is beyond reach without
 * cgroups; the agent's container destruction is the backstop for those.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessEntry {
  pid: number;
  parentPid: number;
  processGroup: number;
  session: number;
  /** One-letter state from /proc/<pid>/stat (`Z` for a zombie). */
  state: string;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) sits in parentheses and may itself contain
 * spaces and parentheses, so the fields after it are found from the last `)`.
 */
export function parseProcStat(text: string): ProcessEntry | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open <= 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const [state, parentText, groupText, sessionText] = rest;
  if (
    state === undefined ||
    parentText === undefined ||
    groupText === undefined ||
    sessionText === undefined
  ) {
    return undefined;
  }
  const entry = {
    pid,
    parentPid: Number(parentText),
    processGroup: Number(groupText),
    session: Number(sessionText),
    state,
  };
  return Object.values(entry).every((v) => typeof v === 'string' || Number.isInteger(v)) ? entry : undefined;
}

/** Every process /proc lists now; empty where there is no /proc. */
export function listProcesses(procRoot = '/proc'): ProcessEntry[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    return [];
  }
  const entries: ProcessEntry[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const entry = parseProcStat(readFileSync(`${procRoot}/${name}/stat`, 'utf8'));
      if (entry) entries.push(entry);
    } catch {
      // The process ended between readdir and read: nothing to signal.
    }
  }
  return entries;
}

/**
 * The processes that belong to the tree rooted at `rootPid`, the leader of the task's session:
 * every member of its session and process group, and the descendants of the root (while the root
 * still is that session leader, so a recycled pid never drags in a stranger's children). Zombies
 * are left out (already dead), and so is `excludePid` (the executor itself).
 */
export function treeMembers(
  processes: readonly ProcessEntry[],
  rootPid: number,
  excludePid: number,
): number[] {
  const members = new Set<number>();
  for (const entry of processes) {
    if (entry.processGroup === rootPid || entry.session === rootPid) members.add(entry.pid);
  }
  const root = processes.find((entry) => entry.pid === rootPid);
  if (root !== undefined && root.session === rootPid) {
    const childrenOf = new Map<number, number[]>();
    for (const entry of processes) {
      const siblings = childrenOf.get(entry.parentPid);
      if (siblings) siblings.push(entry.pid);
      else childrenOf.set(entry.parentPid, [entry.pid]);
    }
    const visited = new Set<number>();
    const pending = [rootPid];
    while (pending.length > 0) {
      const pid = pending.pop()!;
      if (visited.has(pid)) continue;
      visited.add(pid);
      members.add(pid);
      pending.push(...(childrenOf.get(pid) ?? []));
    }
  }
  const zombies = new Set(processes.filter((entry) => entry.state === 'Z').map((entry) => entry.pid));
  members.delete(excludePid);
  return [...members].filter((pid) => !zombies.has(pid)).sort((a, b) => a - b);
}

/** Whether any process of the tree rooted at `rootPid` is still alive (not a zombie). */
export function treeAlive(rootPid: number, processes: readonly ProcessEntry[] = listProcesses()): boolean {
  return treeMembers(processes, rootPid, process.pid).length > 0;
}

/**
 * Sends `signal` to the process group led by `rootPid` and to every other member of its tree.
 * Returns how many processes were signalled beyond the group (for logs). Never throws: a process
 * that is already gone is what we wanted.
 */
export function signalProcessTree(rootPid: number, signal: NodeJS.Signals): number {
  trySignal(-rootPid, signal);
  let extra = 0;
  for (const pid of treeMembers(listProcesses(), rootPid, process.pid)) {
    if (trySignal(pid, signal)) extra += 1;
  }
  return extra;
}

function trySignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
