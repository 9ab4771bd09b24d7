/**
 * `strata agents`, `strata frameworks`, `strata tasks`, `strata roles`: one GET_STATE (or
 * GET_ROLES) from the master's operator API, as an aligned table or, with `--json`, as an array of
 * the same rows with raw numbers.
 */
import type { Command } from 'commander';
import { Call_Type, type Response_GetState } from '../wire/gen/mesos/v1/master/master_pb.js';
import { type Task, TaskState } from '../wire/gen/mesos/v1/mesos_pb.js';
import { agentUrlFromPid, jsonText } from './api.js';
import {
  type Amounts,
  age,
  amounts,
  nanosToSeconds,
  printTable,
  shortState,
  summary,
  usage,
} from './format.js';
import { type CommonOptions, examples, masterApi, withJson, withMaster } from './options.js';

export interface AgentRow {
  id: string;
  hostname: string;
  url: string;
  active: boolean;
  deactivated: boolean;
  tasks: number;
  total: Amounts;
  allocated: Amounts;
  registered: number | undefined;
}

export function agentRows(state: Response_GetState): AgentRow[] {
  const agents = state.getAgents?.agents ?? [];
  const tasks = state.getTasks?.tasks ?? [];
  return agents.map((agent) => {
    const info = agent.agentInfo;
    const id = info?.id?.value ?? '';
    return {
      id,
      hostname: info?.hostname ?? '',
      url: agentUrlFromPid(agent.pid, info?.hostname ?? '', info?.port ?? 5051),
      active: agent.active,
      deactivated: agent.deactivated ?? false,
      tasks: tasks.filter((t) => t.agentId?.value === id).length,
      total: amounts(agent.totalResources),
      allocated: amounts(agent.allocatedResources),
      registered: nanosToSeconds(agent.registeredTime?.nanoseconds),
    };
  });
}

export interface FrameworkRow {
  id: string;
  name: string;
  roles: string[];
  user: string;
  active: boolean;
  connected: boolean;
  tasks: number;
  allocated: Amounts;
  offered: Amounts;
  registered: number | undefined;
}

export function frameworkRows(state: Response_GetState, withCompleted = false): FrameworkRow[] {
  const tasks = state.getTasks?.tasks ?? [];
  const lists = state.getFrameworks;
  const frameworks = [
    ...(lists?.frameworks ?? []),
    ...(withCompleted ? (lists?.completedFrameworks ?? []) : []),
  ];
  return frameworks.map((fw) => {
    const info = fw.frameworkInfo;
    const id = info?.id?.value ?? '';
    return {
      id,
      name: info?.name ?? '',
      roles: info?.roles.length ? info.roles : [info?.role ?? '*'],
      user: info?.user ?? '',
      active: fw.active,
      connected: fw.connected,
      tasks: tasks.filter((t) => t.frameworkId?.value === id).length,
      allocated: amounts(fw.allocatedResources),
      offered: amounts(fw.offeredResources),
      registered: nanosToSeconds(fw.registeredTime?.nanoseconds),
    };
  });
}

export interface TaskRow {
  id: string;
  name: string;
  state: string;
  framework_id: string;
  framework: string;
  agent_id: string;
  hostname: string;
  resources: Amounts;
  started: number | undefined;
  message: string;
}

/** Every task the master knows: active, unreachable and completed. */
export function allTasks(state: Response_GetState): Task[] {
  const t = state.getTasks;
  return [...(t?.tasks ?? []), ...(t?.unreachableTasks ?? []), ...(t?.completedTasks ?? [])];
}

export function taskRows(state: Response_GetState): TaskRow[] {
  const frameworks = new Map<string, string>();
  const lists = state.getFrameworks;
  for (const fw of [...(lists?.frameworks ?? []), ...(lists?.completedFrameworks ?? [])])
    frameworks.set(fw.frameworkInfo?.id?.value ?? '', fw.frameworkInfo?.name ?? '');
  const hosts = new Map<string, string>();
  for (const a of state.getAgents?.agents ?? [])
    hosts.set(a.agentInfo?.id?.value ?? '', a.agentInfo?.hostname ?? '');
  return allTasks(state).map((task) => {
    const first = task.statuses[0];
    const last = task.statuses[task.statuses.length - 1];
    const fid = task.frameworkId?.value ?? '';
    const aid = task.agentId?.value ?? '';
    return {
      id: task.taskId?.value ?? '',
      name: task.name,
      state: TaskState[task.state ?? TaskState.TASK_STAGING] ?? String(task.state),
      framework_id: fid,
      framework: frameworks.get(fid) ?? '',
      agent_id: aid,
      hostname: hosts.get(aid) ?? '',
      resources: amounts(task.resources),
      started: first?.timestamp,
      message: last?.message ?? '',
    };
  });
}

export interface TaskFilter {
  state?: string;
  framework?: string;
  agent?: string;
  name?: string;
  all?: boolean;
}

const TERMINAL = new Set([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);

export function filterTasks(rows: TaskRow[], filter: TaskFilter): TaskRow[] {
  const wanted = filter.state
    ?.split(',')
    .map((s) => s.trim().toUpperCase())
    .filter((s) => s !== '')
    .map((s) => (s.startsWith('TASK_') ? s : `TASK_${s}`));
  return rows.filter((row) => {
    if (wanted) {
      if (!wanted.includes(row.state)) return false;
    } else if (!filter.all && TERMINAL.has(row.state)) return false;
    if (filter.framework && row.framework_id !== filter.framework && row.framework !== filter.framework)
      return false;
    if (filter.agent && row.agent_id !== filter.agent && row.hostname !== filter.agent) return false;
    if (filter.name && !row.name.includes(filter.name) && !row.id.includes(filter.name)) return false;
    return true;
  });
}

export function registerListings(program: Command): void {
  const agents = program
    .command('agents')
    .description('list the agents: address, state, tasks, and how much of each is allocated');
  withMaster(withJson(agents));
  examples(agents, ['strata agents', "strata agents --json | jq -r '.[].id'"]);
  agents.action(async (opts: CommonOptions) => {
    const rows = agentRows(await masterApi(opts).state());
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['ID', 'HOSTNAME', 'ADDRESS', 'STATE', 'TASKS', 'USAGE (allocated/total)', 'AGE'],
      rows.map((r) => [
        r.id,
        r.hostname,
        r.url.replace(/^http:\/\//, ''),
        r.deactivated ? 'deactivated' : r.active ? 'active' : 'inactive',
        r.tasks,
        usage(r.allocated, r.total),
        age(r.registered),
      ]),
      'No agents are registered.',
    );
  });

  const frameworks = program
    .command('frameworks')
    .description('list the frameworks: roles, connection, tasks and allocated resources')
    .option('--all', 'include completed (torn down) frameworks');
  withMaster(withJson(frameworks));
  examples(frameworks, ['strata frameworks', 'strata frameworks --all --json']);
  frameworks.action(async (opts: CommonOptions & { all?: boolean }) => {
    const state = await masterApi(opts).state();
    const rows = frameworkRows(state, opts.all);
    if (opts.json) return void console.log(jsonText(rows));
    const total = sumAgents(state);
    printTable(
      ['ID', 'NAME', 'ROLES', 'USER', 'STATE', 'TASKS', 'USAGE (allocated/cluster)', 'AGE'],
      rows.map((r) => [
        r.id,
        r.name,
        r.roles.join(','),
        r.user,
        r.connected ? (r.active ? 'active' : 'inactive') : 'disconnected',
        r.tasks,
        usage(r.allocated, total),
        age(r.registered),
      ]),
      'No frameworks are subscribed.',
    );
  });

  const tasks = program
    .command('tasks')
    .description('list tasks (running ones unless --all or --state says otherwise)')
    .option('--state <states>', 'only these states, comma separated (running, finished, TASK_FAILED, ...)')
    .option('--framework <id|name>', 'only tasks of this framework')
    .option('--agent <id|hostname>', 'only tasks on this agent')
    .option('--name <text>', 'only tasks whose name or id contains this text')
    .option('--all', 'include finished, failed and killed tasks');
  withMaster(withJson(tasks));
  examples(tasks, [
    'strata tasks',
    'strata tasks --all --framework strata-execute',
    'strata tasks --state failed,killed --json',
  ]);
  tasks.action(async (opts: CommonOptions & TaskFilter) => {
    const rows = filterTasks(taskRows(await masterApi(opts).state()), opts);
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['ID', 'NAME', 'STATE', 'FRAMEWORK', 'AGENT', 'RESOURCES', 'AGE'],
      rows.map((r) => [
        r.id,
        r.name,
        shortState(r.state),
        r.framework || r.framework_id,
        r.hostname || r.agent_id,
        summary(r.resources),
        age(r.started),
      ]),
      'No tasks match.',
    );
  });

  const roles = program
    .command('roles')
    .description('list the roles: weight, frameworks, and their share of the cluster');
  withMaster(withJson(roles));
  examples(roles, ['strata roles', 'strata roles --json']);
  roles.action(async (opts: CommonOptions) => {
    const api = masterApi(opts);
    const [response, state] = await Promise.all([api.get({ type: Call_Type.GET_ROLES }), api.state()]);
    const total = sumAgents(state);
    const rows = (response.getRoles?.roles ?? []).map((role) => ({
      name: role.name,
      weight: role.weight,
      frameworks: role.frameworks.map((f) => f.value),
      allocated: amounts(role.resources),
    }));
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['ROLE', 'WEIGHT', 'FRAMEWORKS', 'USAGE (allocated/cluster)'],
      rows.map((r) => [r.name, r.weight, r.frameworks.length, usage(r.allocated, total)]),
      'No roles are known.',
    );
  });
}

/** The cluster's total resources: the sum over registered agents. */
export function sumAgents(state: Response_GetState): Amounts {
  const total: Amounts = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const agent of state.getAgents?.agents ?? []) {
    const a = amounts(agent.totalResources);
    total.cpus += a.cpus;
    total.mem += a.mem;
    total.disk += a.disk;
    total.gpus += a.gpus;
  }
  return total;
}
