/**
 * The master's legacy JSON objects (reference mesos-v1-api.md section 5.3), written straight to
 * text in the field order Mesos uses. No intermediate object trees: `/master/state` with 500,000
 * tasks is hundreds of megabytes, so every object is appended to a `JsonTextSink` in one pass, and
 * the sink hands the event loop back every few milliseconds (`breathe`) so that agent pings,
 * scheduler calls and other requests keep being served while a large document is built.
 *
 * Protobuf-shaped parts (labels, discovery, container, health checks, domains, container status)
 * go through the Mesos JSON writer (`toMesosJsonText`), so 64-bit integers and doubles are written
 * exactly; everything else is built here with `q` (string literals) and `formatDouble` (seconds and
 * resource quantities are doubles, `1.0` rather than `1`, as Mesos writes them).
 */
import { performance } from 'node:perf_hooks';
import { attributesFromMessages, attributesToLegacyJson } from '../resources/attributes.js';
import { resourcesFromMessages, resourcesToJson } from '../resources/messages.js';
import { Ranges } from '../resources/ranges.js';
import type { Resources } from '../resources/resources.js';
import { fromMilli, Scalar } from '../resources/scalar.js';
import type { ValueSet } from '../resources/value-set.js';
import {
  AgentInfo_Capability_Type,
  type Attribute,
  type CommandInfo,
  ContainerInfoSchema,
  ContainerStatusSchema,
  DiscoveryInfoSchema,
  type DomainInfo,
  DomainInfoSchema,
  DrainInfoSchema,
  EnvironmentSchema,
  type ExecutorInfo,
  ExecutorInfo_Type,
  FrameworkInfo_Capability_Type,
  HealthCheckSchema,
  type Label,
  LabelSchema,
  type MasterInfo,
  MasterInfo_Capability_Type,
  type Resource,
  type Task,
  type TaskStatus,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { formatDouble, quoteJsonString, stringifyJson } from '../wire/json-text.js';
import { toMesosJsonText } from '../wire/mesos-json.js';
import { hasCapability, taskStateName } from '../wire/task-states.js';
import type { AgentRecord, FrameworkRecord, Master, OfferRecord } from './master.js';

/** How long one synchronous stretch of work may run before the event loop gets a turn. */
const SLICE_MS = 8;
/** Text is turned into bytes in pieces of about this size, spreading the encoding cost too. */
const CHUNK_CHARS = 64 * 1024;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Paces a long loop over the master's records: `breathe()` between items hands the event loop back
 * once the current slice has run `SLICE_MS`, so agent pings and scheduler calls are still served
 * while a large cluster is walked.
 */
export class Pacer {
  private sliceStart = performance.now();
  /** The longest synchronous stretch so far, in ms (what the benchmark reports as blocking). */
  longestSliceMs = 0;
  /** How many times the work handed the event loop back. */
  yields = 0;

  /** `cooperative: false` never yields (for measuring raw throughput). */
  constructor(private readonly cooperative = true) {}

  /**
   * Call between items. Returns a promise to await when this slice has run long enough, else
   * undefined, so that the common case costs no microtask.
   */
  breathe(): Promise<void> | undefined {
    // The clock is read on every call (tens of nanoseconds against an item's microseconds): while
    // V8 marks a large heap incrementally, allocations pay for marking steps of several ms, so
    // even a few items between two readings could overrun the slice many times over.
    if (!this.cooperative) return undefined;
    const elapsed = performance.now() - this.sliceStart;
    if (elapsed < SLICE_MS) return undefined;
    return this.handOver(elapsed);
  }

  private async handOver(elapsed: number): Promise<void> {
    this.longestSliceMs = Math.max(this.longestSliceMs, elapsed);
    this.yields++;
    await yieldToEventLoop();
    this.sliceStart = performance.now();
  }

  /** Ends the measurement of the last slice. */
  protected closeSlice(): void {
    this.longestSliceMs = Math.max(this.longestSliceMs, performance.now() - this.sliceStart);
  }
}

/** Accumulates a JSON document as UTF-8 bytes, pacing its producer (see Pacer). */
export class JsonTextSink extends Pacer {
  private readonly chunks: Buffer[] = [];
  private pending = '';

  write(text: string): void {
    this.pending += text;
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }

  private flush(): void {
    if (this.pending === '') return;
    this.chunks.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
  }

  /**
   * The whole document as its pieces, in order; the sink is not used afterwards. They are not
   * joined: copying hundreds of megabytes into one buffer would be the longest stall of all.
   */
  finish(): Buffer[] {
    this.flush();
    this.closeSlice();
    return this.chunks;
  }
}

/** Printable ASCII without `"` and `\\`: written between quotes as is. */
const NEEDS_NO_ESCAPING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal; IDs and names are plain ASCII, and testing for that beats the encoder. */
export function q(value: string): string {
  return NEEDS_NO_ESCAPING.test(value) ? `"${value}"` : quoteJsonString(value);
}

export const seconds = (ms: number): string => formatDouble(ms / 1000);

// ------------------------------------------------------------------------------ resources

/**
 * The legacy summary of section 5.2 as text, in `legacySummaryValues`' key order (cpus, gpus, mem,
 * disk, other scalars as first seen, then ranges, then sets), without building the value object:
 * this runs for every task of `/state`.
 */
export function summaryText(resources: Resources): string {
  let cpus = 0;
  let gpus = 0;
  let mem = 0;
  let disk = 0;
  let scalars: Map<string, number> | undefined;
  let ranges: Map<string, Ranges> | undefined;
  let sets: Map<string, ValueSet> | undefined;
  for (const item of resources) {
    const key = item.revocable ? `${item.name}_revocable` : item.name;
    const value = item.value;
    if (value instanceof Scalar) {
      if (key === 'cpus') cpus += value.milli;
      else if (key === 'mem') mem += value.milli;
      else if (key === 'disk') disk += value.milli;
      else if (key === 'gpus') gpus += value.milli;
      else {
        scalars ??= new Map();
        scalars.set(key, (scalars.get(key) ?? 0) + value.milli);
      }
    } else if (value instanceof Ranges) {
      ranges ??= new Map();
      const seen = ranges.get(key);
      ranges.set(key, seen === undefined ? value : seen.add(value));
    } else {
      sets ??= new Map();
      const seen = sets.get(key);
      sets.set(key, seen === undefined ? value : seen.add(value));
    }
  }
  let out = `{"cpus":${formatDouble(fromMilli(cpus))},"gpus":${formatDouble(fromMilli(gpus))},"mem":${formatDouble(fromMilli(mem))},"disk":${formatDouble(fromMilli(disk))}`;
  if (scalars) for (const [key, milli] of scalars) out += `,${q(key)}:${formatDouble(fromMilli(milli))}`;
  if (ranges) for (const [key, value] of ranges) out += `,${q(key)}:${q(value.toString())}`;
  if (sets) for (const [key, value] of sets) out += `,${q(key)}:${q(value.toString())}`;
  return `${out}}`;
}

/** The summary of wire resources (completed and unreachable tasks keep only their messages). */
export function summaryOfMessages(messages: readonly Resource[]): string {
  return summaryText(resourcesFromMessages(messages, { invalid: 'skip' }));
}

/** Role → summary of what is reserved to it: `reserved_resources`. */
function reservedSummaryText(total: Resources): string {
  let out = '';
  for (const [role, reserved] of total.reservations())
    out += `${out === '' ? '{' : ','}${q(role)}:${summaryText(reserved)}`;
  return out === '' ? '{}' : `${out}}`;
}

/** A JSON array of Resource objects in the endpoint format (the `*_full` fields). */
export function fullResourcesText(resources: Resources): string {
  return stringifyJson(resourcesToJson(resources, 'endpoint'));
}

// ------------------------------------------------------------------------------ small parts

function labelsText(labels: readonly Label[]): string {
  return `[${labels.map((label) => toMesosJsonText(LabelSchema, label)).join(',')}]`;
}

function stringArrayText(values: readonly string[]): string {
  return `[${values.map(q).join(',')}]`;
}

export function domainText(domain: DomainInfo): string {
  return toMesosJsonText(DomainInfoSchema, domain);
}

const attributeTextCache = new WeakMap<readonly Attribute[], string>();

/** `{name: value}`; cached per AgentInfo attribute list, which only changes on re-registration. */
function attributesText(attributes: readonly Attribute[]): string {
  let text = attributeTextCache.get(attributes);
  if (text === undefined) {
    text = stringifyJson(attributesToLegacyJson(attributesFromMessages(attributes)));
    attributeTextCache.set(attributes, text);
  }
  return text;
}

/** Master `capabilities`: the MasterInfo capability names. */
export function masterCapabilitiesText(info: MasterInfo): string {
  return stringArrayText(info.capabilities.map((c) => MasterInfo_Capability_Type[c.type] ?? 'UNKNOWN'));
}

/** `leader_info`: the leading master's `{"id","pid","port","hostname","domain"?}`. */
export function masterInfoText(info: MasterInfo): string {
  let out = `{"id":${q(info.id)},"pid":${q(info.pid)},"port":${info.port},"hostname":${q(info.hostname)}`;
  if (info.domain) out += `,"domain":${domainText(info.domain)}`;
  return `${out}}`;
}

// ------------------------------------------------------------------------------ tasks

function statusText(status: TaskStatus): string {
  let out = `{"state":${q(taskStateName(status.state))},"timestamp":${formatDouble(status.timestamp)}`;
  if (status.labels) out += `,"labels":${labelsText(status.labels.labels)}`;
  if (status.containerStatus)
    out += `,"container_status":${toMesosJsonText(ContainerStatusSchema, status.containerStatus)}`;
  if (Object.hasOwn(status, 'healthy') && status.healthy !== undefined) out += `,"healthy":${status.healthy}`;
  return `${out}}`;
}

/**
 * A task object. `resources` is the task's normalized resources when the master still has its
 * record (active tasks); completed and unreachable tasks are summarized from their messages.
 */
export function taskText(task: Task, resources?: Resources): string {
  let out =
    `{"id":${q(task.taskId?.value ?? '')},"name":${q(task.name)}` +
    `,"framework_id":${q(task.frameworkId?.value ?? '')},"executor_id":${q(task.executorId?.value ?? '')}` +
    `,"slave_id":${q(task.agentId?.value ?? '')},"state":${q(taskStateName(task.state))}` +
    `,"resources":${resources ? summaryText(resources) : summaryOfMessages(task.resources)}`;
  let limits = '';
  for (const name in task.limits) {
    const limit = task.limits[name];
    if (limit !== undefined) limits += `${limits === '' ? '' : ','}${q(name)}:${formatDouble(limit.value)}`;
  }
  if (limits !== '') out += `,"limits":{${limits}}`;
  // Mesos forbids mixing roles within a task, so the first resource's allocation is the task's.
  out += `,"role":${q(task.resources[0]?.allocationInfo?.role ?? '')}`;
  out += `,"statuses":[${task.statuses.map(statusText).join(',')}]`;
  if (task.user) out += `,"user":${q(task.user)}`;
  if (task.labels) out += `,"labels":${labelsText(task.labels.labels)}`;
  if (task.discovery) out += `,"discovery":${toMesosJsonText(DiscoveryInfoSchema, task.discovery)}`;
  if (task.container) out += `,"container":${toMesosJsonText(ContainerInfoSchema, task.container)}`;
  if (task.healthCheck) out += `,"health_check":${toMesosJsonText(HealthCheckSchema, task.healthCheck)}`;
  return `${out}}`;
}

// ------------------------------------------------------------------------------ frameworks

function commandText(command: CommandInfo | undefined): string {
  if (!command) return '{"argv":[],"uris":[]}';
  let out = '';
  if (Object.hasOwn(command, 'shell')) out += `"shell":${command.shell},`;
  if (Object.hasOwn(command, 'value')) out += `"value":${q(command.value)},`;
  out += `"argv":${stringArrayText(command.arguments)}`;
  if (command.environment) out += `,"environment":${toMesosJsonText(EnvironmentSchema, command.environment)}`;
  const uris = command.uris.map((uri) => `{"value":${q(uri.value)},"executable":${uri.executable === true}}`);
  return `{${out},"uris":[${uris.join(',')}]}`;
}

function executorText(
  info: ExecutorInfo,
  frameworkId: string,
  agentId: string,
  resources: Resources,
): string {
  let out =
    `{"executor_id":${q(info.executorId?.value ?? '')},"name":${q(info.name)}` +
    `,"framework_id":${q(frameworkId)},"command":${commandText(info.command)}` +
    `,"resources":${summaryText(resources)}`;
  const role = info.resources[0]?.allocationInfo?.role;
  if (role !== undefined) out += `,"role":${q(role)}`;
  if (info.labels) out += `,"labels":${labelsText(info.labels.labels)}`;
  if (Object.hasOwn(info, 'type')) out += `,"type":${q(ExecutorInfo_Type[info.type] ?? 'UNKNOWN')}`;
  return `${out},"slave_id":${q(agentId)}}`;
}

function offerText(offer: OfferRecord): string {
  return (
    `{"id":${q(offer.id)},"framework_id":${q(offer.frameworkId)}` +
    `,"allocation_info":{"role":${q(offer.role)}},"slave_id":${q(offer.agentId)}` +
    `,"resources":${summaryText(offer.resources)}}`
  );
}

export function isMultiRole(framework: FrameworkRecord): boolean {
  return hasCapability(framework.info, FrameworkInfo_Capability_Type.MULTI_ROLE);
}

/** The framework's roles as the allocator sees them (`role` defaults to `*`). */
export function frameworkRoles(framework: FrameworkRecord): readonly string[] {
  return isMultiRole(framework) ? framework.info.roles : [framework.info.role || '*'];
}

/** The fields `/state-summary` shares with the full object, without the closing brace. */
export function frameworkSummaryOpen(
  framework: FrameworkRecord,
  used: Resources,
  offered: Resources,
): string {
  const capabilities = framework.info.capabilities.map(
    (c) => FrameworkInfo_Capability_Type[c.type] ?? 'UNKNOWN',
  );
  return (
    `{"id":${q(framework.id)},"name":${q(framework.info.name)}` +
    `,"used_resources":${summaryText(used)},"offered_resources":${summaryText(offered)}` +
    `,"capabilities":${stringArrayText(capabilities)},"hostname":${q(framework.info.hostname)}` +
    `,"webui_url":${q(framework.info.webuiUrl)},"active":${framework.active}` +
    `,"connected":${framework.stream !== undefined},"recovered":${framework.recovered}`
  );
}

/** What the framework has in use and on offer, from the ledger (paced when it must be recomputed). */
export async function frameworkResources(
  master: Master,
  framework: FrameworkRecord,
  pacer: Pacer,
): Promise<{ used: Resources; offered: Resources }> {
  const breathe = () => pacer.breathe();
  return {
    used: await master.ledger.frameworkUsedPaced(framework.id, breathe),
    offered: await master.ledger.frameworkOfferedPaced(framework.id, breathe),
  };
}

/** Writes one full framework object (`/state`, `/frameworks`), breathing between its tasks. */
export async function writeFramework(
  out: JsonTextSink,
  master: Master,
  framework: FrameworkRecord,
): Promise<void> {
  // Snapshot the lists first: the master may change them while this render waits for its turn.
  const tasks = [...framework.tasks.values()];
  const unreachable = [...framework.unreachableTasks.values()];
  const completed = [...framework.completedTasks];
  const offers: OfferRecord[] = [];
  for (const offerId of framework.offers) {
    const offer = master.offers.get(offerId);
    if (offer) offers.push(offer);
  }
  const executors: string[] = [];
  for (const [agentId, onAgent] of framework.executors) {
    for (const executor of onAgent.values())
      executors.push(executorText(executor.info, framework.id, agentId, executor.resources));
  }

  const info = framework.info;
  const { used, offered } = await frameworkResources(master, framework, out);
  let head =
    frameworkSummaryOpen(framework, used, offered) +
    `,"user":${q(info.user)},"failover_timeout":${formatDouble(info.failoverTimeout)}` +
    `,"checkpoint":${info.checkpoint},"registered_time":${seconds(framework.registeredTime)}` +
    `,"unregistered_time":${seconds(framework.unregisteredTime ?? 0)}`;
  if (info.principal) head += `,"principal":${q(info.principal)}`;
  head += `,"resources":${summaryText(used.add(offered))}`;
  if (framework.reregisteredTime !== undefined && framework.reregisteredTime !== framework.registeredTime)
    head += `,"reregistered_time":${seconds(framework.reregisteredTime)}`;
  head += isMultiRole(framework)
    ? `,"roles":${stringArrayText(info.roles)}`
    : `,"role":${q(info.role || '*')}`;
  out.write(`${head},"tasks":[`);
  for (let i = 0; i < tasks.length; i++) {
    const record = tasks[i]!;
    out.write((i === 0 ? '' : ',') + taskText(record.task, record.resources));
    const pause = out.breathe();
    if (pause) await pause;
  }
  out.write('],"unreachable_tasks":[');
  await writeTaskList(out, unreachable);
  out.write('],"completed_tasks":[');
  await writeTaskList(out, completed);
  out.write(`],"offers":[${offers.map(offerText).join(',')}],"executors":[${executors.join(',')}]`);
  if (info.labels) out.write(`,"labels":${labelsText(info.labels.labels)}`);
  out.write(`,"offer_constraints":{},"strata_offer_summary":${offerSummaryText(master, framework)}}`);
}

/** Beyond this many agent × framework explanations per request, the summary is left out. */
const OFFER_SUMMARY_BUDGET = 200_000;

/**
 * Strata extension: how many agents gave this framework an offer in the last cycle and, for the
 * rest, why not (the allocator's reasons, counted). STRATA_EXPLAIN_OFFERS gives the details.
 */
function offerSummaryText(master: Master, framework: FrameworkRecord): string {
  if (master.agents.size * Math.max(1, master.frameworks.size) > OFFER_SUMMARY_BUDGET) {
    return '{"omitted":"cluster too large; use the STRATA_EXPLAIN_OFFERS operator call"}';
  }
  const counts = new Map<string, number>();
  for (const explanation of master.explainOffers(framework.id)) {
    counts.set(explanation.reason, (counts.get(explanation.reason) ?? 0) + 1);
  }
  return `{${[...counts].map(([reason, count]) => `${q(reason)}:${count}`).join(',')}}`;
}

async function writeTaskList(out: JsonTextSink, tasks: readonly Task[]): Promise<void> {
  for (let i = 0; i < tasks.length; i++) {
    out.write((i === 0 ? '' : ',') + taskText(tasks[i]!));
    const pause = out.breathe();
    if (pause) await pause;
  }
}

// ------------------------------------------------------------------------------ agents

interface AgentTotalText {
  resources: string;
  reserved: string;
  unreserved: string;
}

const agentTotalCache = new WeakMap<Resources, AgentTotalText>();

/** The parts that depend on the agent's total only; cached because the total rarely changes. */
function agentTotalText(total: Resources): AgentTotalText {
  let text = agentTotalCache.get(total);
  if (text === undefined) {
    text = {
      resources: summaryText(total),
      reserved: reservedSummaryText(total),
      unreserved: summaryText(total.unreserved()),
    };
    agentTotalCache.set(total, text);
  }
  return text;
}

/** Connected and not deactivated (DEACTIVATE_AGENT, DRAIN_AGENT: maintenance.ts). */
export function agentActive(agent: AgentRecord): boolean {
  return agent.state === 'registered' && agent.link !== undefined && agent.deactivated !== true;
}

/** An agent object without its closing brace, so callers can append fields. */
export function agentOpen(master: Master, agent: AgentRecord, full: boolean): string {
  const info = agent.info;
  const totals = agentTotalText(agent.total);
  // The ledger keeps allocated resources; an agent reports them without allocation, as Mesos does.
  const used = master.ledger.agentUsed(agent.id).unallocate();
  const offered = master.ledger.agentOffered(agent.id).unallocate();
  let out = `{"id":${q(agent.id)},"hostname":${q(info.hostname)},"port":${info.port}`;
  out += `,"attributes":${attributesText(info.attributes)}`;
  if (info.domain) out += `,"domain":${domainText(info.domain)}`;
  out += `,"pid":${q(agent.pid)},"registered_time":${seconds(agent.registeredTime)}`;
  if (agent.reregisteredTime !== undefined) out += `,"reregistered_time":${seconds(agent.reregisteredTime)}`;
  out +=
    `,"resources":${totals.resources},"used_resources":${summaryText(used)}` +
    `,"offered_resources":${summaryText(offered)},"reserved_resources":${totals.reserved}` +
    `,"unreserved_resources":${totals.unreserved},"active":${agentActive(agent)}` +
    `,"deactivated":${agent.deactivated === true}` +
    `,"version":${q(agent.version)}` +
    `,"capabilities":${stringArrayText(agent.capabilities.map((c) => AgentInfo_Capability_Type[c] ?? 'UNKNOWN'))}`;
  const drainInfo = master.maintenance.drainInfo(agent.id);
  if (drainInfo) out += `,"drain_info":${toMesosJsonText(DrainInfoSchema, drainInfo)}`;
  if (full) {
    let reservedFull = '';
    for (const [role, reserved] of agent.total.reservations())
      reservedFull += `${reservedFull === '' ? '' : ','}${q(role)}:${fullResourcesText(reserved)}`;
    out +=
      `,"reserved_resources_full":{${reservedFull}}` +
      `,"unreserved_resources_full":${fullResourcesText(agent.total.unreserved())}` +
      `,"used_resources_full":${fullResourcesText(used)}` +
      `,"offered_resources_full":${fullResourcesText(offered)}`;
  }
  return out;
}

/** A recovered agent (admitted before this master started, not yet back): what the registry knows. */
export function recoveredAgentText(agent: { id: string; hostname: string; pid: string }): string {
  const port = Number(agent.pid.slice(agent.pid.lastIndexOf(':') + 1));
  return `{"id":${q(agent.id)},"hostname":${q(agent.hostname)},"port":${Number.isInteger(port) ? port : 0},"attributes":{}}`;
}
