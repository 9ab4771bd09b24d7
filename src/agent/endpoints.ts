/**
 * The agent's read-only HTTP endpoints: `/health`, `/flags`, `/version` and the legacy `/state`
 * (reference section 5.4), built from the Agent's records. JSON is written with the Mesos mapping
 * so doubles keep their `1.0` form and enums their names.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import { versionInfo } from '../common/version.js';
import { requireMethod } from '../http/media.js';
import { jsonResponse } from '../http/responses.js';
import type { HttpServer } from '../http/server.js';
import {
  attributesToLegacyJson,
  Resources,
  resourcesFromMessages,
  resourcesToJson,
  toLegacySummary,
} from '../resources/index.js';
import {
  CommandInfoSchema,
  ContainerInfoSchema,
  ContainerStatusSchema,
  DiscoveryInfoSchema,
  type Labels,
  LabelsSchema,
  type Task,
  type TaskStatus,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { JsonNumber, type JsonObject, type JsonValue, stringifyJson } from '../wire/json-text.js';
import { toMesosJson } from '../wire/mesos-json.js';
import type { Agent, ExecutorRecord, FrameworkRecord, TaskEntry } from './agent.js';
import { taskStateName } from './task-states.js';

const summary = (messages: Task['resources']): JsonObject =>
  toLegacySummary(resourcesFromMessages(messages, { invalid: 'skip' }));

const labelsJson = (labels: Labels): JsonValue => toMesosJson(LabelsSchema, labels).labels ?? [];

function statusJson(status: TaskStatus): JsonObject {
  const out: JsonObject = {
    state: taskStateName(status.state),
    timestamp: JsonNumber.ofDouble(status.timestamp),
  };
  if (status.labels) out.labels = labelsJson(status.labels);
  if (status.containerStatus)
    out.container_status = toMesosJson(ContainerStatusSchema, status.containerStatus);
  if (isFieldSet(status, TaskStatusSchema.field.healthy)) out.healthy = status.healthy;
  return out;
}

function roleOf(task: Task): string | undefined {
  return task.resources.find((r) => r.allocationInfo)?.allocationInfo?.role;
}

/** A task in the master's legacy shape (section 5.3), which the agent's `/state` shares. */
export function taskJson(task: Task, agentId: string): JsonObject {
  const out: JsonObject = {
    id: task.taskId?.value ?? '',
    name: task.name,
    framework_id: task.frameworkId?.value ?? '',
    executor_id: task.executorId?.value ?? '',
    slave_id: task.agentId?.value ?? agentId,
    state: taskStateName(task.state),
    resources: summary(task.resources),
    statuses: task.statuses.map(statusJson),
  };
  const role = roleOf(task);
  if (role !== undefined) out.role = role;
  if (task.user) out.user = task.user;
  if (task.labels) out.labels = labelsJson(task.labels);
  if (task.discovery) out.discovery = toMesosJson(DiscoveryInfoSchema, task.discovery);
  if (task.container) out.container = toMesosJson(ContainerInfoSchema, task.container);
  return out;
}

function queuedTaskJson(entry: TaskEntry, agentId: string): JsonObject {
  const out: JsonObject = {
    id: entry.info.taskId?.value ?? '',
    name: entry.info.name,
    slave_id: agentId,
    resources: summary(entry.info.resources),
  };
  const role = roleOf(entry.task);
  if (role !== undefined) out.role = role;
  if (entry.info.command) out.command = toMesosJson(CommandInfoSchema, entry.info.command);
  if (entry.info.executor?.executorId) out.executor_id = entry.info.executor.executorId.value;
  if (entry.info.discovery) out.discovery = toMesosJson(DiscoveryInfoSchema, entry.info.discovery);
  return out;
}

function executorJson(executor: ExecutorRecord, agentId: string): JsonObject {
  const entries = [...executor.tasks.values()];
  const out: JsonObject = {
    id: executor.id,
    name: executor.info.name,
    source: executor.info.source,
    container: executor.containerId,
    directory: executor.directory,
    resources: summary(executor.info.resources),
    tasks: entries.filter((e) => e.phase === 'launched').map((e) => taskJson(e.task, agentId)),
    queued_tasks: entries.filter((e) => e.phase === 'queued').map((e) => queuedTaskJson(e, agentId)),
    // As Mesos: tasks whose terminal update is not yet acknowledged count as completed here.
    completed_tasks: [
      ...executor.completedTasks,
      ...entries.filter((e) => e.phase === 'terminated').map((e) => e.task),
    ].map((t) => taskJson(t, agentId)),
  };
  const role = executor.info.resources.find((r) => r.allocationInfo)?.allocationInfo?.role;
  if (role !== undefined) out.role = role;
  return out;
}

function frameworkJson(framework: FrameworkRecord, agentId: string): JsonObject {
  const info = framework.info;
  const out: JsonObject = {
    id: framework.id,
    name: info.name,
    user: info.user,
    failover_timeout: JsonNumber.ofDouble(info.failoverTimeout),
    checkpoint: info.checkpoint,
    hostname: info.hostname,
    executors: [...framework.executors.values()].map((e) => executorJson(e, agentId)),
    completed_executors: framework.completedExecutors.map((e) => executorJson(e, agentId)),
  };
  if (info.principal) out.principal = info.principal;
  if (info.roles.length > 0) out.roles = [...info.roles];
  else out.role = info.role || '*';
  return out;
}

/**
 * What one executor holds (Mesos' `Executor::allocatedResources`): its own resources plus those of
 * its queued and launched tasks; tasks whose terminal update is in already hold nothing.
 */
export function executorAllocated(executor: ExecutorRecord): Resources {
  const parts = [resourcesFromMessages(executor.info.resources, { invalid: 'skip' })];
  for (const entry of executor.tasks.values()) {
    if (entry.phase !== 'terminated')
      parts.push(resourcesFromMessages(entry.info.resources, { invalid: 'skip' }));
  }
  return Resources.sum(parts);
}

/** What the live executors and their tasks hold (allocation info dropped, so it compares with the total). */
export function allocatedResources(agent: Agent): Resources {
  const parts: Resources[] = [];
  for (const framework of agent.frameworks.values()) {
    for (const executor of framework.executors.values()) {
      if (executor.phase !== 'terminated') parts.push(executorAllocated(executor));
    }
  }
  return Resources.sum(parts).unallocate();
}

/** `/state`: who this agent is, what it offers, and every framework, executor and task on it. */
export function stateJson(
  agent: Agent,
  flags: Record<string, string>,
  masterHostname: string | undefined,
): JsonObject {
  const version = versionInfo();
  const agentId = agent.agentId ?? '';
  const total = agent.config.resources;
  const reserved: JsonObject = {};
  const reservedFull: JsonObject = {};
  for (const [role, resources] of total.reservations()) {
    reserved[role] = toLegacySummary(resources);
    reservedFull[role] = resourcesToJson(resources, 'endpoint');
  }
  const allocated = allocatedResources(agent);
  const reservedAllocated: JsonObject = {};
  for (const [role, resources] of allocated.reservations())
    reservedAllocated[role] = toLegacySummary(resources);
  const out: JsonObject = {
    version: version.version,
    build_date: version.build_date,
    build_time: version.build_time,
    build_user: version.build_user,
    start_time: JsonNumber.ofDouble(agent.startTimeMs / 1000),
    id: agentId,
    pid: agent.pid,
    hostname: agent.config.hostname,
    capabilities: ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'RESERVATION_REFINEMENT'],
    resources: toLegacySummary(total),
    reserved_resources: reserved,
    unreserved_resources: toLegacySummary(total.unreserved()),
    reserved_resources_full: reservedFull,
    unreserved_resources_full: resourcesToJson(total.unreserved(), 'endpoint'),
    reserved_resources_allocated: reservedAllocated,
    unreserved_resources_allocated: toLegacySummary(allocated.unreserved()),
    resource_providers: [],
    attributes: attributesToLegacyJson(agent.config.attributes),
    flags,
    frameworks: [...agent.frameworks.values()].map((f) => frameworkJson(f, agentId)),
    completed_frameworks: agent.completedFrameworks.map((f) => frameworkJson(f, agentId)),
  };
  if (masterHostname !== undefined) out.master_hostname = masterHostname;
  return out;
}

export interface EndpointContext {
  agent: Agent;
  flags: Record<string, string>;
  masterHostname(): string | undefined;
}

export function registerAgentEndpoints(http: HttpServer, context: EndpointContext): void {
  http.route('slave(1)', '/health', () => ({ status: 200 }));
  const version = (req: { query: URLSearchParams }) => jsonResponse(req.query, JSON.stringify(versionInfo()));
  http.route('version', '/', version);
  http.route('slave(1)', '/version', version);
  http.route('slave(1)', '/flags', (req) => {
    requireMethod(req.method, ['GET']);
    return jsonResponse(req.query, JSON.stringify({ flags: context.flags }));
  });
  const state = (req: { query: URLSearchParams }) =>
    jsonResponse(req.query, stringifyJson(stateJson(context.agent, context.flags, context.masterHostname())));
  http.route('slave(1)', '/state', state);
  http.route('slave(1)', '/state.json', state);
}
