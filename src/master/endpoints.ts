/**
 * The legacy JSON endpoints tools scrape (reference mesos-v1-api.md section 5.3): `/state`,
 * `/state-summary`, `/frameworks`, `/slaves`, `/tasks`, `/roles`, `/teardown`,
 * `/metrics/snapshot`, with `?jsonp=` and the pre-1.7 `.json` aliases. Built from the Master's
 * records on each request; nothing here is cached or mutated except by `/teardown`.
 */

import type { Clock } from '../common/clock.js';
import type { OptionValues } from '../common/options.js';
import { renderFlags } from '../common/options.js';
import { versionInfo } from '../common/version.js';
import { jsonResponse, textResponse } from '../http/responses.js';
import type { HttpRequest, HttpServer } from '../http/server.js';
import { attributesFromMessages, attributesToLegacyJson } from '../resources/attributes.js';
import { resourcesFromMessages } from '../resources/messages.js';
import { Resources } from '../resources/resources.js';
import { toLegacySummary } from '../resources/summary.js';
import {
  AgentInfo_Capability_Type,
  ContainerInfoSchema,
  DiscoveryInfoSchema,
  ExecutorInfoSchema,
  FrameworkInfo_Capability_Type,
  HealthCheckSchema,
  LabelsSchema,
  type Task,
  TaskState,
  type TaskStatus,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { toMesosJson } from '../wire/mesos-json.js';
import { type MasterFlags, masterFlags } from './flags.js';
import type { AgentRecord, FrameworkRecord, Master } from './master.js';
import { taskStateName } from './task-states.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface EndpointContext {
  flags: OptionValues<MasterFlags>;
  hostname: string;
  address: { host: string; port: number };
  clock: Clock;
}

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

function statusJson(status: TaskStatus): Json {
  const json: { [key: string]: Json } = { state: taskStateName(status.state), timestamp: status.timestamp };
  if (status.labels) json.labels = (toMesosJson(LabelsSchema, status.labels).labels as Json) ?? [];
  if (Object.hasOwn(status, 'healthy')) json.healthy = status.healthy;
  if (status.containerStatus) {
    const full = toMesosJson(TaskStatusSchema, status) as { [key: string]: Json };
    json.container_status = full.container_status ?? null;
  }
  return json;
}

function taskJson(task: Task): Json {
  let resources = Resources.EMPTY;
  try {
    resources = resourcesFromMessages(task.resources, { invalid: 'skip' });
  } catch {
    resources = Resources.EMPTY;
  }
  const role = task.resources.find((r) => r.allocationInfo)?.allocationInfo?.role;
  const json: { [key: string]: Json } = {
    id: task.taskId?.value ?? '',
    name: task.name,
    framework_id: task.frameworkId?.value ?? '',
    executor_id: task.executorId?.value ?? '',
    slave_id: task.agentId?.value ?? '',
    state: taskStateName(task.state),
    resources: toLegacySummary(resources) as Json,
    statuses: task.statuses.map(statusJson),
  };
  if (role !== undefined) json.role = role;
  if (task.user) json.user = task.user;
  if (task.labels) json.labels = (toMesosJson(LabelsSchema, task.labels).labels as Json) ?? [];
  if (task.discovery) json.discovery = toMesosJson(DiscoveryInfoSchema, task.discovery) as Json;
  if (task.container) json.container = toMesosJson(ContainerInfoSchema, task.container) as Json;
  if (task.healthCheck) json.health_check = toMesosJson(HealthCheckSchema, task.healthCheck) as Json;
  return json;
}

function frameworkResources(
  master: Master,
  framework: FrameworkRecord,
): { used: Resources; offered: Resources } {
  let used = Resources.EMPTY;
  for (const record of framework.tasks.values()) if (!record.released) used = used.add(record.resources);
  for (const executors of framework.executors.values()) {
    for (const executor of executors.values()) used = used.add(executor.resources);
  }
  let offered = Resources.EMPTY;
  for (const offerId of framework.offers) {
    const offer = master.offers.get(offerId);
    if (offer) offered = offered.add(offer.resources);
  }
  return { used, offered };
}

function capabilityNames(framework: FrameworkRecord): Json[] {
  return framework.info.capabilities.map((c) => FrameworkInfo_Capability_Type[c.type] ?? 'UNKNOWN');
}

function frameworkSummaryJson(master: Master, framework: FrameworkRecord): { [key: string]: Json } {
  const { used, offered } = frameworkResources(master, framework);
  return {
    id: framework.id,
    name: framework.info.name,
    used_resources: toLegacySummary(used) as Json,
    offered_resources: toLegacySummary(offered) as Json,
    capabilities: capabilityNames(framework),
    hostname: framework.info.hostname,
    webui_url: framework.info.webuiUrl,
    active: framework.active,
    connected: framework.stream !== undefined,
    recovered: framework.recovered,
  };
}

function frameworkJson(master: Master, framework: FrameworkRecord): Json {
  const { used, offered } = frameworkResources(master, framework);
  const multiRole = framework.info.capabilities.some(
    (c) => c.type === FrameworkInfo_Capability_Type.MULTI_ROLE,
  );
  const json: { [key: string]: Json } = {
    ...frameworkSummaryJson(master, framework),
    user: framework.info.user,
    failover_timeout: framework.info.failoverTimeout,
    checkpoint: framework.info.checkpoint,
    registered_time: seconds(framework.registeredTime) ?? 0,
    unregistered_time: seconds(framework.unregisteredTime) ?? 0,
    resources: toLegacySummary(used.add(offered)) as Json,
    tasks: [...framework.tasks.values()].map((r) => taskJson(r.task)),
    unreachable_tasks: [...framework.unreachableTasks.values()].map(taskJson),
    completed_tasks: framework.completedTasks.map(taskJson),
    offers: [...framework.offers].flatMap((offerId) => {
      const offer = master.offers.get(offerId);
      if (!offer) return [];
      return [
        {
          id: offer.id,
          framework_id: offer.frameworkId,
          allocation_info: { role: offer.role },
          slave_id: offer.agentId,
          resources: toLegacySummary(offer.resources) as Json,
        },
      ];
    }),
    executors: [...framework.executors.entries()].flatMap(([agentId, executors]) =>
      [...executors.values()].map((executor) => {
        const info = toMesosJson(ExecutorInfoSchema, executor.info) as { [key: string]: Json };
        return {
          executor_id: executor.info.executorId?.value ?? '',
          name: executor.info.name,
          framework_id: framework.id,
          command: info.command ?? {},
          resources: toLegacySummary(executor.resources) as Json,
          slave_id: agentId,
        };
      }),
    ),
    offer_constraints: {},
  };
  if (framework.info.principal) json.principal = framework.info.principal;
  if (framework.reregisteredTime !== undefined) json.reregistered_time = framework.reregisteredTime / 1000;
  if (multiRole) json.roles = [...framework.info.roles];
  else json.role = framework.info.role || '*';
  if (framework.info.labels)
    json.labels = (toMesosJson(LabelsSchema, framework.info.labels).labels as Json) ?? [];
  return json;
}

function agentResources(master: Master, agent: AgentRecord): { used: Resources; offered: Resources } {
  let used = Resources.EMPTY;
  for (const [frameworkId, taskIds] of agent.tasks) {
    const framework = master.frameworks.get(frameworkId);
    if (!framework) continue;
    for (const taskId of taskIds) {
      const record = framework.tasks.get(taskId);
      if (record && !record.released) used = used.add(record.resources);
    }
    for (const executor of framework.executors.get(agent.id)?.values() ?? [])
      used = used.add(executor.resources);
  }
  let offered = Resources.EMPTY;
  for (const offerId of agent.offers) {
    const offer = master.offers.get(offerId);
    if (offer) offered = offered.add(offer.resources);
  }
  return { used: used.unallocate(), offered: offered.unallocate() };
}

function agentJson(master: Master, agent: AgentRecord): { [key: string]: Json } {
  const { used, offered } = agentResources(master, agent);
  const reserved: { [role: string]: Json } = {};
  for (const [role, resources] of agent.total.reservations())
    reserved[role] = toLegacySummary(resources) as Json;
  return {
    id: agent.id,
    hostname: agent.info.hostname,
    port: agent.info.port,
    attributes: attributesToLegacyJson(attributesFromMessages(agent.info.attributes)) as Json,
    pid: agent.pid,
    registered_time: agent.registeredTime / 1000,
    ...(agent.reregisteredTime !== undefined ? { reregistered_time: agent.reregisteredTime / 1000 } : {}),
    resources: toLegacySummary(agent.total) as Json,
    used_resources: toLegacySummary(used) as Json,
    offered_resources: toLegacySummary(offered) as Json,
    reserved_resources: reserved,
    unreserved_resources: toLegacySummary(agent.total.unreserved()) as Json,
    active: agent.state === 'registered' && agent.link !== undefined,
    deactivated: false,
    version: agent.version,
    capabilities: agent.capabilities.map((c) => AgentInfo_Capability_Type[c] ?? 'UNKNOWN'),
  };
}

function taskCounts(master: Master, tasks: Iterable<Task>): { [key: string]: Json } {
  const counts: { [key: string]: number } = {};
  for (const name of [
    'TASK_STAGING',
    'TASK_STARTING',
    'TASK_RUNNING',
    'TASK_KILLING',
    'TASK_FINISHED',
    'TASK_KILLED',
    'TASK_FAILED',
    'TASK_LOST',
    'TASK_ERROR',
    'TASK_UNREACHABLE',
  ]) {
    counts[name] = 0;
  }
  for (const task of tasks) {
    const name = taskStateName(task.state);
    if (name in counts) counts[name] = (counts[name] ?? 0) + 1;
  }
  void master;
  return counts;
}

export function stateJson(master: Master, context: EndpointContext): Json {
  const version = versionInfo();
  const agents = [...master.agents.values()];
  return {
    version: version.version,
    build_date: version.build_date,
    build_time: version.build_time,
    build_user: version.build_user,
    start_time: master.startTime / 1000,
    elected_time: master.startTime / 1000,
    id: master.masterInfo.id,
    pid: master.masterInfo.pid,
    hostname: context.hostname,
    capabilities: [],
    activated_slaves: agents.filter((a) => a.state === 'registered' && a.link).length,
    deactivated_slaves: 0,
    unreachable_slaves: agents.filter((a) => a.state === 'unreachable').length,
    leader: master.masterInfo.pid,
    leader_info: {
      id: master.masterInfo.id,
      pid: master.masterInfo.pid,
      port: master.masterInfo.port,
      hostname: master.masterInfo.hostname,
    },
    ...(context.flags.cluster ? { cluster: context.flags.cluster } : {}),
    flags: renderFlags(masterFlags, context.flags),
    slaves: agents.filter((a) => a.state === 'registered').map((a) => agentJson(master, a)),
    recovered_slaves: [...master.recoveredAgents.values()].map((a) => ({
      id: a.id,
      hostname: a.hostname,
      pid: a.pid,
    })),
    frameworks: [...master.frameworks.values()].map((f) => frameworkJson(master, f)),
    completed_frameworks: [...master.completedFrameworks.values()].map((f) => frameworkJson(master, f)),
    orphan_tasks: [],
    unregistered_frameworks: [],
  };
}

function stateSummaryJson(master: Master, context: EndpointContext): Json {
  const tasksOnAgent = (agent: AgentRecord): Task[] => {
    const tasks: Task[] = [];
    for (const [frameworkId, ids] of agent.tasks) {
      const framework = master.frameworks.get(frameworkId);
      for (const id of ids) {
        const record = framework?.tasks.get(id);
        if (record) tasks.push(record.task);
      }
    }
    return tasks;
  };
  return {
    hostname: context.hostname,
    ...(context.flags.cluster ? { cluster: context.flags.cluster } : {}),
    slaves: [...master.agents.values()]
      .filter((a) => a.state === 'registered')
      .map((agent) => ({
        ...agentJson(master, agent),
        ...taskCounts(master, tasksOnAgent(agent)),
        framework_ids: [...agent.tasks.keys()],
      })),
    frameworks: [...master.frameworks.values()].map((framework) => ({
      ...frameworkSummaryJson(master, framework),
      ...taskCounts(
        master,
        [...framework.tasks.values()].map((r) => r.task),
      ),
      slave_ids: [...new Set([...framework.tasks.values()].map((r) => r.task.agentId?.value ?? ''))],
    })),
  };
}

function allTasks(master: Master): Task[] {
  const tasks: Task[] = [];
  for (const framework of [...master.frameworks.values(), ...master.completedFrameworks.values()]) {
    for (const record of framework.tasks.values()) tasks.push(record.task);
    tasks.push(...framework.unreachableTasks.values(), ...framework.completedTasks);
  }
  return tasks;
}

function tasksJson(master: Master, query: URLSearchParams): Json {
  const limit = Math.max(0, Number.parseInt(query.get('limit') ?? '100', 10) || 100);
  const offset = Math.max(0, Number.parseInt(query.get('offset') ?? '0', 10) || 0);
  const order = query.get('order') === 'asc' ? 'asc' : 'des';
  const frameworkId = query.get('framework_id');
  const taskId = query.get('task_id');
  const firstTimestamp = (task: Task) => task.statuses[0]?.timestamp ?? 0;
  const tasks = allTasks(master)
    .filter((t) => !frameworkId || t.frameworkId?.value === frameworkId)
    .filter((t) => !taskId || t.taskId?.value === taskId)
    .sort((a, b) =>
      order === 'asc' ? firstTimestamp(a) - firstTimestamp(b) : firstTimestamp(b) - firstTimestamp(a),
    );
  return { tasks: tasks.slice(offset, offset + limit).map(taskJson) };
}

function rolesJson(master: Master): Json {
  const roles = new Map<string, { frameworks: string[]; allocated: Resources }>();
  for (const framework of master.frameworks.values()) {
    const frameworkRoles = framework.info.capabilities.some(
      (c) => c.type === FrameworkInfo_Capability_Type.MULTI_ROLE,
    )
      ? framework.info.roles
      : [framework.info.role || '*'];
    for (const role of frameworkRoles) {
      const entry = roles.get(role) ?? { frameworks: [], allocated: Resources.EMPTY };
      entry.frameworks.push(framework.id);
      roles.set(role, entry);
    }
    for (const record of framework.tasks.values()) {
      if (record.released) continue;
      for (const [role, resources] of record.resources.allocations()) {
        const entry = roles.get(role) ?? { frameworks: [], allocated: Resources.EMPTY };
        entry.allocated = entry.allocated.add(resources);
        roles.set(role, entry);
      }
    }
  }
  return {
    roles: [...roles.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, entry]) => {
        const quantities = Object.fromEntries(entry.allocated.scalarTotals()) as { [key: string]: Json };
        return {
          name,
          weight: 1.0,
          resources: quantities,
          allocated: quantities,
          offered: {},
          reserved: {},
          frameworks: entry.frameworks,
        };
      }),
  };
}

export function metricsSnapshot(master: Master, clock: Clock): Record<string, number> {
  const agents = [...master.agents.values()];
  const frameworks = [...master.frameworks.values()];
  const metrics: Record<string, number> = {
    'master/elected': 1,
    'master/uptime_secs': (clock.now() - master.startTime) / 1000,
    'master/slaves_active': agents.filter((a) => a.state === 'registered' && a.link).length,
    'master/slaves_connected': agents.filter((a) => a.link).length,
    'master/slaves_disconnected': agents.filter((a) => a.state === 'registered' && !a.link).length,
    'master/slaves_inactive': 0,
    'master/slaves_unreachable': agents.filter((a) => a.state === 'unreachable').length,
    'master/frameworks_active': frameworks.filter((f) => f.active).length,
    'master/frameworks_inactive': frameworks.filter((f) => !f.active).length,
    'master/frameworks_connected': frameworks.filter((f) => f.stream).length,
    'master/frameworks_disconnected': frameworks.filter((f) => !f.stream).length,
    'master/outstanding_offers': master.offers.size,
    'master/valid_status_updates': master.counters.validStatusUpdates,
    'master/invalid_status_updates': master.counters.invalidStatusUpdates,
    'master/slave_registrations': master.counters.agentsRegistered,
    'master/slave_reregistrations': master.counters.agentsReregistered,
    'master/slave_unreachable_completed': master.counters.agentsUnreachable,
    'master/messages_decline_offers': master.counters.offersDeclined,
    'master/messages_accept_offers': master.counters.offersAccepted,
    'master/tasks_launched': master.counters.tasksLaunched,
  };
  const current = new Map<TaskState, number>();
  for (const framework of frameworks) {
    for (const record of framework.tasks.values())
      current.set(record.task.state, (current.get(record.task.state) ?? 0) + 1);
  }
  for (const state of [
    TaskState.TASK_STAGING,
    TaskState.TASK_STARTING,
    TaskState.TASK_RUNNING,
    TaskState.TASK_KILLING,
  ]) {
    metrics[`master/${taskStateName(state).toLowerCase()}`.replace('master/task_', 'master/tasks_')] =
      current.get(state) ?? 0;
  }
  for (const state of [
    TaskState.TASK_FINISHED,
    TaskState.TASK_FAILED,
    TaskState.TASK_KILLED,
    TaskState.TASK_LOST,
    TaskState.TASK_ERROR,
    TaskState.TASK_DROPPED,
    TaskState.TASK_UNREACHABLE,
    TaskState.TASK_GONE,
    TaskState.TASK_GONE_BY_OPERATOR,
  ]) {
    metrics[`master/${taskStateName(state).toLowerCase()}`.replace('master/task_', 'master/tasks_')] =
      master.counters.tasksByState.get(state) ?? 0;
  }
  let total = Resources.EMPTY;
  let used = Resources.EMPTY;
  for (const agent of agents) {
    if (agent.state !== 'registered') continue;
    total = total.add(agent.total);
    used = used.add(agentResources(master, agent).used);
  }
  for (const name of ['cpus', 'mem', 'disk', 'gpus']) {
    const t = total.scalar(name) ?? 0;
    const u = used.scalar(name) ?? 0;
    metrics[`master/${name}_total`] = t;
    metrics[`master/${name}_used`] = u;
    metrics[`master/${name}_percent`] = t > 0 ? u / t : 0;
  }
  for (const [call, count] of master.counters.schedulerCalls)
    metrics[`master/messages_scheduler_${call.toLowerCase()}`] = count;
  return metrics;
}

export function registerLegacyEndpoints(http: HttpServer, master: Master, context: EndpointContext): void {
  const json = (build: (req: HttpRequest) => Json) => (req: HttpRequest) =>
    jsonResponse(req.query, JSON.stringify(build(req)));
  const state = json(() => stateJson(master, context));
  for (const path of ['/state', '/state.json']) http.route('master', path, state);
  http.route(
    'master',
    '/state-summary',
    json(() => stateSummaryJson(master, context)),
  );
  const frameworks = json((req) => {
    const id = req.query.get('framework_id');
    const pick = (list: FrameworkRecord[]) =>
      list.filter((f) => !id || f.id === id).map((f) => frameworkJson(master, f));
    return {
      frameworks: pick([...master.frameworks.values()]),
      completed_frameworks: pick([...master.completedFrameworks.values()]),
      unregistered_frameworks: [],
    };
  });
  http.route('master', '/frameworks', frameworks);
  const slaves = json((req) => {
    const id = req.query.get('slave_id');
    return {
      slaves: [...master.agents.values()]
        .filter((a) => a.state === 'registered' && (!id || a.id === id))
        .map((a) => agentJson(master, a)),
      recovered_slaves: [],
    };
  });
  http.route('master', '/slaves', slaves);
  for (const path of ['/tasks', '/tasks.json'])
    http.route(
      'master',
      path,
      json((req) => tasksJson(master, req.query)),
    );
  for (const path of ['/roles', '/roles.json'])
    http.route(
      'master',
      path,
      json(() => rolesJson(master)),
    );
  http.route('master', '/teardown', async (req) => {
    if (req.method !== 'POST') {
      return textResponse(
        405,
        `405 Method Not Allowed. Expecting one of { 'POST' }, but received '${req.method}'.`,
      );
    }
    const form = new URLSearchParams(Buffer.from(await req.body()).toString('utf8'));
    const id = form.get('frameworkId');
    if (!id) return textResponse(400, "Missing 'frameworkId' query parameter in the request body");
    const framework = master.framework(id);
    if (!framework) return textResponse(400, `No framework found with specified ID`);
    master.removeFramework(framework);
    return { status: 200 };
  });
  http.route(
    'metrics',
    '/snapshot',
    json(() => metricsSnapshot(master, context.clock)),
  );
}
