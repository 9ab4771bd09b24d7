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
  type CommandInfo,
  CommandInfoSchema,
  ContainerInfoSchema,
  ContainerStatusSchema,
  DiscoveryInfoSchema,
  EnvironmentSchema,
  ExecutorInfo_Type,
  ExecutorInfoSchema,
  FrameworkInfo_Capability_Type,
  HealthCheckSchema,
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

/** Mesos forbids mixing roles within a task or executor, so the first resource's allocation role is theirs. */
function firstRole(resources: Task['resources']): string {
  return resources[0]?.allocationInfo?.role ?? '';
}

function limitsJson(task: Task): JsonObject | undefined {
  const out: JsonObject = {};
  let any = false;
  for (const name in task.limits) {
    const limit = task.limits[name];
    if (limit === undefined) continue;
    out[name] = JsonNumber.ofDouble(limit.value);
    any = true;
  }
  return any ? out : undefined;
}

/** A task in the master's legacy shape (section 5.3), which the agent's `/state` shares, keys in Mesos' order. */
export function taskJson(task: Task, agentId: string): JsonObject {
  const out: JsonObject = {
    id: task.taskId?.value ?? '',
    name: task.name,
    framework_id: task.frameworkId?.value ?? '',
    executor_id: task.executorId?.value ?? '',
    slave_id: task.agentId?.value ?? agentId,
    state: taskStateName(task.state),
    resources: summary(task.resources),
  };
  const limits = limitsJson(task);
  if (limits) out.limits = limits;
  out.role = firstRole(task.resources);
  out.statuses = task.statuses.map(statusJson);
  if (task.user) out.user = task.user;
  if (task.labels) out.labels = labelsJson(task.labels);
  if (task.discovery) out.discovery = toMesosJson(DiscoveryInfoSchema, task.discovery);
  if (task.container) out.container = toMesosJson(ContainerInfoSchema, task.container);
  if (task.healthCheck) out.health_check = toMesosJson(HealthCheckSchema, task.healthCheck);
  return out;
}

/** Mesos' legacy model of a CommandInfo: `shell`?, `value`?, `argv`, `environment`?, `uris`. */
function commandJson(command: CommandInfo): JsonObject {
  const out: JsonObject = {};
  if (isFieldSet(command, CommandInfoSchema.field.shell)) out.shell = command.shell;
  if (isFieldSet(command, CommandInfoSchema.field.value)) out.value = command.value;
  out.argv = [...command.arguments];
  if (command.environment) out.environment = toMesosJson(EnvironmentSchema, command.environment);
  out.uris = command.uris.map((uri) => ({ value: uri.value, executable: uri.executable === true }));
  return out;
}

/** A task still waiting for its executor: Mesos writes the TaskInfo's legacy model. */
function queuedTaskJson(entry: TaskEntry, agentId: string): JsonObject {
  const out: JsonObject = {
    id: entry.info.taskId?.value ?? '',
    name: entry.info.name,
    slave_id: entry.info.agentId?.value ?? agentId,
    resources: summary(entry.info.resources),
    role: firstRole(entry.info.resources),
  };
  if (entry.info.command) out.command = commandJson(entry.info.command);
  if (entry.info.executor?.executorId) out.executor_id = entry.info.executor.executorId.value;
  if (entry.info.discovery) out.discovery = toMesosJson(DiscoveryInfoSchema, entry.info.discovery);
  return out;
}

function executorJson(executor: ExecutorRecord, agentId: string): JsonObject {
  const entries = [...executor.tasks.values()];
  const info = executor.info;
  const out: JsonObject = {
    id: executor.id,
    name: info.name,
    source: info.source,
    container: executor.containerId,
    directory: executor.directory,
    // What the executor holds with its tasks (Mesos' `allocatedResources`), not its own share alone.
    resources: toLegacySummary(executorAllocated(executor)),
  };
  // Command executors may come without resources of their own.
  if (info.resources.length > 0) out.role = firstRole(info.resources);
  if (info.labels) out.labels = labelsJson(info.labels);
  if (isFieldSet(info, ExecutorInfoSchema.field.type)) out.type = ExecutorInfo_Type[info.type] ?? 'UNKNOWN';
  out.tasks = entries.filter((e) => e.phase === 'launched').map((e) => taskJson(e.task, agentId));
  out.queued_tasks = entries.filter((e) => e.phase === 'queued').map((e) => queuedTaskJson(e, agentId));
  // As Mesos: tasks whose terminal update is not yet acknowledged count as completed here.
  out.completed_tasks = [
    ...executor.completedTasks,
    ...entries.filter((e) => e.phase === 'terminated').map((e) => e.task),
  ].map((t) => taskJson(t, agentId));
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
  };
  if (info.principal) out.principal = info.principal;
  // As Mesos mirrors the FrameworkInfo: `roles` for MULTI_ROLE frameworks, `role` for the others.
  const multiRole = info.capabilities.some((c) => c.type === FrameworkInfo_Capability_Type.MULTI_ROLE);
  if (multiRole) out.roles = [...info.roles];
  else out.role = info.role || '*';
  out.executors = [...framework.executors.values()].map((e) => executorJson(e, agentId));
  out.completed_executors = framework.completedExecutors.map((e) => executorJson(e, agentId));
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
  const total = agent.totalResources;
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
  };
  // Keys in Mesos' order: the optional ones sit between `attributes` and `flags`.
  if (masterHostname !== undefined) out.master_hostname = masterHostname;
  if (flags.external_log_file) out.external_log_file = flags.external_log_file;
  out.flags = flags;
  out.frameworks = [...agent.frameworks.values()].map((f) => frameworkJson(f, agentId));
  out.completed_frameworks = agent.completedFrameworks.map((f) => frameworkJson(f, agentId));
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
