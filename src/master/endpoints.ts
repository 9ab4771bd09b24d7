/**
 * The master's legacy HTTP endpoints that tools scrape (reference mesos-v1-api.md sections 1.2 and
 * 5.3): `/state` (and `/state.json`), `/state-summary`, `/frameworks`, `/slaves`, `/tasks` (and
 * `/tasks.json`), `/roles` (and `/roles.json`), `/flags`, `/health`, `/version`, `/redirect`,
 * `/teardown`, `/metrics/snapshot` and `/metrics` (Prometheus text). Every JSON answer honours
 * `?jsonp=`. The HTTP layer serves each with and without the `/master` prefix (unknown first
 * segments are delegated to `master`).
 *
 * Documents are built from the Master's records on each request and nothing is cached between
 * requests, apart from text that depends only on immutable values (see legacy-json.ts). Large
 * documents are rendered in slices that hand the event loop back (JsonTextSink), so a 500,000-task
 * `/state` does not stall agent pings or scheduler calls.
 */
import type { Clock } from '../common/clock.js';
import { fail } from '../common/errors.js';
import type { OptionValues } from '../common/options.js';
import { renderFlags } from '../common/options.js';
import { parseDuration } from '../common/units.js';
import { versionInfo } from '../common/version.js';
import { requireMethod } from '../http/media.js';
import { type BodyResponse, jsonResponse, leaderLocation, temporaryRedirect } from '../http/responses.js';
import type { Handler, HttpRequest, HttpServer } from '../http/server.js';
import { registerPrometheusEndpoint } from '../metrics/endpoint.js';
import { PrometheusExporter } from '../metrics/exporter.js';
import type { Resources } from '../resources/resources.js';
import { Scalar } from '../resources/scalar.js';
import { type Task, TaskState } from '../wire/gen/mesos/v1/mesos_pb.js';
import { formatDouble } from '../wire/json-text.js';
import { taskStateName } from '../wire/task-states.js';
import { type MasterFlags, masterFlags } from './flags.js';
import {
  agentActive,
  agentOpen,
  domainText,
  frameworkResources,
  frameworkRoles,
  frameworkSummaryOpen,
  JsonTextSink,
  masterCapabilitiesText,
  masterInfoText,
  type Pacer,
  q,
  recoveredAgentText,
  seconds,
  taskText,
  writeFramework,
} from './legacy-json.js';
import type { FrameworkRecord, Master } from './master.js';
import { metricsSnapshot } from './metrics.js';

export interface EndpointContext {
  flags: OptionValues<MasterFlags>;
  hostname: string;
  address: { host: string; port: number };
  clock: Clock;
}

/** Writes `build` into a sink and answers it as JSON, or as `cb(...);` for `?jsonp=cb`. */
export async function renderJson(
  query: URLSearchParams,
  build: (out: JsonTextSink) => void | Promise<void>,
  sink = new JsonTextSink(),
): Promise<BodyResponse> {
  // jsonResponse owns the rules (callback syntax, content types); this only adds a byte body.
  const envelope = jsonResponse(query, '');
  const callback = query.get('jsonp');
  if (callback !== null) sink.write(`${callback}(`);
  await build(sink);
  if (callback !== null) sink.write(');');
  return {
    status: envelope.status,
    ...(envelope.headers ? { headers: envelope.headers } : {}),
    body: sink.finish(),
  };
}

function objectText(entries: Iterable<[string, string]>): string {
  let out = '';
  for (const [key, value] of entries) out += `${out === '' ? '' : ','}${q(key)}:${q(value)}`;
  return `{${out}}`;
}

function flagsText(context: EndpointContext): string {
  return objectText(Object.entries(renderFlags(masterFlags, context.flags)));
}

/** `/version`: Mesos' keys (build_time as a double) plus Strata's own version. */
function versionText(): string {
  const version = versionInfo();
  return (
    `{"version":${q(version.version)},"build_date":${q(version.build_date)}` +
    `,"build_time":${formatDouble(version.build_time)},"build_user":${q(version.build_user)}` +
    `,"strata_version":${q(version.strata_version)}}`
  );
}

// ------------------------------------------------------------------------------ /state

export async function writeState(out: JsonTextSink, master: Master, context: EndpointContext): Promise<void> {
  const version = versionInfo();
  const info = master.masterInfo;
  // Take the lists first, so a framework removed mid-render cannot appear in both lists.
  const agents = [...master.agents.values()].filter((a) => a.state === 'registered');
  const recovered = [...master.recoveredAgents.values()];
  const frameworks = [...master.frameworks.values()];
  const completed = [...master.completedFrameworks.values()];
  const active = agents.filter(agentActive).length;
  const unreachable = master.agents.size - agents.length;
  let head =
    `{"version":${q(version.version)},"build_date":${q(version.build_date)}` +
    `,"build_time":${formatDouble(version.build_time)},"build_user":${q(version.build_user)}` +
    `,"start_time":${seconds(master.startTime)},"elected_time":${seconds(master.startTime)}` +
    `,"id":${q(info.id)},"pid":${q(info.pid)},"hostname":${q(info.hostname)}` +
    `,"capabilities":${masterCapabilitiesText(info)},"activated_slaves":${active}` +
    `,"deactivated_slaves":${agents.length - active},"unreachable_slaves":${unreachable}`;
  if (info.domain) head += `,"domain":${domainText(info.domain)}`;
  head += `,"leader":${q(info.pid)},"leader_info":${masterInfoText(info)}`;
  if (context.flags.cluster !== undefined) head += `,"cluster":${q(context.flags.cluster)}`;
  out.write(`${head},"flags":${flagsText(context)},"slaves":[`);
  for (let i = 0; i < agents.length; i++) {
    out.write(`${i === 0 ? '' : ','}${agentOpen(master, agents[i]!, false)}}`);
    const pause = out.breathe();
    if (pause) await pause;
  }
  out.write(`],"recovered_slaves":[${recovered.map(recoveredAgentText).join(',')}],"frameworks":[`);
  await writeFrameworks(out, master, frameworks);
  out.write('],"completed_frameworks":[');
  await writeFrameworks(out, master, completed);
  out.write('],"orphan_tasks":[],"unregistered_frameworks":[]}');
}

async function writeFrameworks(
  out: JsonTextSink,
  master: Master,
  frameworks: FrameworkRecord[],
): Promise<void> {
  for (let i = 0; i < frameworks.length; i++) {
    if (i > 0) out.write(',');
    await writeFramework(out, master, frameworks[i]!);
  }
}

// ------------------------------------------------------------------------------ /state-summary

/** The states `/state-summary` counts, in Mesos' order. */
const SUMMARY_STATES: readonly TaskState[] = [
  TaskState.TASK_STAGING,
  TaskState.TASK_STARTING,
  TaskState.TASK_RUNNING,
  TaskState.TASK_KILLING,
  TaskState.TASK_FINISHED,
  TaskState.TASK_KILLED,
  TaskState.TASK_FAILED,
  TaskState.TASK_LOST,
  TaskState.TASK_ERROR,
  TaskState.TASK_UNREACHABLE,
];
const SUMMARY_INDEX = new Map(SUMMARY_STATES.map((state, index) => [state, index]));

class TaskTally {
  readonly counts = new Array<number>(SUMMARY_STATES.length).fill(0);
  readonly peers = new Set<string>();

  count(state: TaskState, peer: string): void {
    const index = SUMMARY_INDEX.get(state);
    if (index !== undefined) this.counts[index]!++;
    this.peers.add(peer);
  }

  fields(peerKey: string): string {
    let out = '';
    for (let i = 0; i < SUMMARY_STATES.length; i++)
      out += `,${q(taskStateName(SUMMARY_STATES[i]!))}:${this.counts[i]}`;
    return `${out},${q(peerKey)}:[${[...this.peers].map(q).join(',')}]`;
  }
}

export async function writeStateSummary(
  out: JsonTextSink,
  master: Master,
  context: EndpointContext,
): Promise<void> {
  const agents = [...master.agents.values()].filter((a) => a.state === 'registered');
  const frameworks = [...master.frameworks.values()];
  // One pass over every task of the registered frameworks (active, unreachable and the recent
  // completed ones), tallying per agent and per framework.
  const byAgent = new Map<string, TaskTally>();
  const byFramework = new Map<string, TaskTally>();
  for (const framework of frameworks) {
    const tally = new TaskTally();
    byFramework.set(framework.id, tally);
    const visit = (task: Task) => {
      const agentId = task.agentId?.value ?? '';
      tally.count(task.state, agentId);
      let agentTally = byAgent.get(agentId);
      if (agentTally === undefined) {
        agentTally = new TaskTally();
        byAgent.set(agentId, agentTally);
      }
      agentTally.count(task.state, framework.id);
    };
    for (const record of framework.tasks.values()) {
      visit(record.task);
      const pause = out.breathe();
      if (pause) await pause;
    }
    for (const task of framework.unreachableTasks.values()) visit(task);
    for (const task of framework.completedTasks) visit(task);
  }
  const empty = new TaskTally();
  let head = `{"hostname":${q(master.masterInfo.hostname)}`;
  if (context.flags.cluster !== undefined) head += `,"cluster":${q(context.flags.cluster)}`;
  out.write(`${head},"slaves":[`);
  for (let i = 0; i < agents.length; i++) {
    const agent = agents[i]!;
    const tally = byAgent.get(agent.id) ?? empty;
    out.write(`${i === 0 ? '' : ','}${agentOpen(master, agent, false)}${tally.fields('framework_ids')}}`);
    const pause = out.breathe();
    if (pause) await pause;
  }
  out.write('],"frameworks":[');
  for (let i = 0; i < frameworks.length; i++) {
    const framework = frameworks[i]!;
    const tally = byFramework.get(framework.id) ?? empty;
    const { used, offered } = await frameworkResources(master, framework, out);
    out.write(
      `${i === 0 ? '' : ','}${frameworkSummaryOpen(framework, used, offered)}${tally.fields('slave_ids')}}`,
    );
  }
  out.write(']}');
}

// ------------------------------------------------------------------------------ /tasks

/** Mesos' default page size for `/tasks`. */
const TASKS_DEFAULT_LIMIT = 100;

/** Mesos reads these with numify<int> into a size_t: junk means the default, negative wraps around. */
function pagingParameter(text: string | null, fallback: number): number {
  if (text === null || !/^[+-]?\d+$/.test(text.trim())) return fallback;
  const value = Number.parseInt(text, 10);
  return value < 0 ? Number.POSITIVE_INFINITY : value;
}

/**
 * Mesos' TaskComparator on the first status' timestamp: ascending puts tasks without a status
 * first, descending puts them last.
 */
function compareTasks(order: 'asc' | 'des'): (a: Task, b: Task) => number {
  return (a, b) => {
    const left = a.statuses[0];
    const right = b.statuses[0];
    if (left === undefined && right === undefined) return 0;
    if (left === undefined) return order === 'asc' ? -1 : 1;
    if (right === undefined) return order === 'asc' ? 1 : -1;
    return order === 'asc' ? left.timestamp - right.timestamp : right.timestamp - left.timestamp;
  };
}

interface Ranked {
  task: Task;
  /** Position in the walk: ties keep this order, so pages are stable. */
  seen: number;
}

/**
 * The first `count` tasks in `compare` order without sorting them all: a bounded max-heap keeps the
 * best `count` seen so far (O(n log count)), and the walk is paced. A `/tasks` page of 100 out of
 * 500,000 tasks is the common request.
 */
class BestTasks {
  private readonly heap: Ranked[] = [];
  private seen = 0;

  constructor(
    private readonly count: number,
    private readonly compare: (a: Task, b: Task) => number,
  ) {}

  private before(a: Ranked, b: Ranked): boolean {
    const order = this.compare(a.task, b.task);
    return order < 0 || (order === 0 && a.seen < b.seen);
  }

  offer(task: Task): void {
    const item = { task, seen: this.seen++ };
    const heap = this.heap;
    if (heap.length < this.count) {
      heap.push(item);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.before(heap[parent]!, heap[i]!)) break;
        [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
        i = parent;
      }
      return;
    }
    // The root is the worst task kept; a better one replaces it.
    if (heap.length === 0 || !this.before(item, heap[0]!)) return;
    heap[0] = item;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < heap.length && this.before(heap[worst]!, heap[left]!)) worst = left;
      if (right < heap.length && this.before(heap[worst]!, heap[right]!)) worst = right;
      if (worst === i) break;
      [heap[worst], heap[i]] = [heap[i]!, heap[worst]!];
      i = worst;
    }
  }

  sorted(): Task[] {
    return this.heap.sort((a, b) => (this.before(a, b) ? -1 : 1)).map((r) => r.task);
  }
}

export async function writeTasks(out: JsonTextSink, master: Master, query: URLSearchParams): Promise<void> {
  const limit = pagingParameter(query.get('limit'), TASKS_DEFAULT_LIMIT);
  const offset = pagingParameter(query.get('offset'), 0);
  const order = query.get('order') === 'asc' ? 'asc' : 'des';
  const frameworkId = query.get('framework_id');
  const taskId = query.get('task_id');
  const best = new BestTasks(Math.min(offset + limit, 2 ** 32), compareTasks(order));
  const consider = (task: Task) => {
    if (taskId === null || task.taskId?.value === taskId) best.offer(task);
    return out.breathe();
  };
  for (const framework of [...master.frameworks.values(), ...master.completedFrameworks.values()]) {
    if (frameworkId !== null && framework.id !== frameworkId) continue;
    for (const record of [...framework.tasks.values()]) {
      const pause = consider(record.task);
      if (pause) await pause;
    }
    for (const task of [...framework.unreachableTasks.values()]) {
      const pause = consider(task);
      if (pause) await pause;
    }
    for (const task of [...framework.completedTasks]) {
      const pause = consider(task);
      if (pause) await pause;
    }
  }
  const page = best.sorted().slice(offset);
  out.write('{"tasks":[');
  for (let i = 0; i < page.length; i++) {
    out.write((i === 0 ? '' : ',') + taskText(page[i]!));
    const pause = out.breathe();
    if (pause) await pause;
  }
  out.write(']}');
}

// ------------------------------------------------------------------------------ /roles

/** `{name: quantity}` over the scalar resources (the roles endpoint shows quantities only). */
function quantitiesText(milli: Map<string, number>): string {
  let out = '';
  for (const [name, value] of milli)
    out += `${out === '' ? '' : ','}${q(name)}:${formatDouble(value / 1000)}`;
  return `{${out}}`;
}

function addQuantities(into: Map<string, number>, resources: Resources): void {
  for (const item of resources) {
    if (item.value instanceof Scalar) into.set(item.name, (into.get(item.name) ?? 0) + item.value.milli);
  }
}

interface RoleView {
  frameworks: string[];
  allocated: Map<string, number>;
  allocatedUnreserved: Map<string, number>;
  offered: Map<string, number>;
  reserved: Map<string, number>;
}

async function rolesText(master: Master, pacer: Pacer): Promise<string> {
  const roles = new Map<string, RoleView>();
  const role = (name: string): RoleView => {
    let view = roles.get(name);
    if (view === undefined) {
      view = {
        frameworks: [],
        allocated: new Map(),
        allocatedUnreserved: new Map(),
        offered: new Map(),
        reserved: new Map(),
      };
      roles.set(name, view);
    }
    return view;
  };
  for (const framework of master.frameworks.values()) {
    for (const name of frameworkRoles(framework)) role(name).frameworks.push(framework.id);
    const { used, offered } = await frameworkResources(master, framework, pacer);
    for (const [name, allocated] of used.allocations()) {
      addQuantities(role(name).allocated, allocated);
      addQuantities(role(name).allocatedUnreserved, allocated.unreserved());
    }
    for (const [name, allocated] of offered.allocations()) addQuantities(role(name).offered, allocated);
  }
  for (const agent of [...master.agents.values()]) {
    const pause = pacer.breathe();
    if (pause) await pause;
    if (agent.state !== 'registered') continue;
    for (const item of agent.total) {
      const reservedTo = item.reservationRole;
      if (reservedTo !== undefined && item.value instanceof Scalar) {
        const reserved = role(reservedTo).reserved;
        reserved.set(item.name, (reserved.get(item.name) ?? 0) + item.value.milli);
      }
    }
  }
  const entries = [...roles.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const views = entries.map(([name, view]) => {
    const resources = new Map(view.allocated);
    for (const [key, value] of view.offered) resources.set(key, (resources.get(key) ?? 0) + value);
    // Quota consumption as Mesos 1.11 counts it: reservations plus unreserved allocations.
    const consumed = new Map(view.reserved);
    for (const [key, value] of view.allocatedUnreserved) consumed.set(key, (consumed.get(key) ?? 0) + value);
    return (
      `{"name":${q(name)},"weight":1.0` +
      `,"quota":{"role":${q(name)},"guarantee":{},"limit":{},"consumed":${quantitiesText(consumed)}}` +
      `,"resources":${quantitiesText(resources)},"allocated":${quantitiesText(view.allocated)}` +
      `,"offered":${quantitiesText(view.offered)},"reserved":${quantitiesText(view.reserved)}` +
      `,"frameworks":[${view.frameworks.map(q).join(',')}]}`
    );
  });
  return `{"roles":[${views.join(',')}]}`;
}

// ------------------------------------------------------------------------------ /metrics/snapshot

export async function metricsText(master: Master, clock: Clock, pacer?: Pacer): Promise<string> {
  const metrics = await metricsSnapshot(master, clock, pacer);
  const keys = Object.keys(metrics).sort();
  return `{${keys.map((key) => `${q(key)}:${formatDouble(metrics[key]!)}`).join(',')}}`;
}

// ------------------------------------------------------------------------------ routes

/**
 * Concurrent identical requests share one render: dashboards and exporters often poll `/state` in
 * parallel, and each render of a large cluster costs seconds of CPU (as Mesos batches them too).
 */
function sharedRender(render: (req: HttpRequest) => Promise<BodyResponse>): Handler {
  const inFlight = new Map<string, Promise<BodyResponse>>();
  return (req) => {
    const key = `${req.endpoint}?${req.rawQuery}`;
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = render(req).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };
}

export function registerLegacyEndpoints(http: HttpServer, master: Master, context: EndpointContext): void {
  const state = sharedRender((req) => renderJson(req.query, (out) => writeState(out, master, context)));
  for (const path of ['/state', '/state.json']) http.route('master', path, state);
  http.route(
    'master',
    '/state-summary',
    sharedRender((req) => renderJson(req.query, (out) => writeStateSummary(out, master, context))),
  );
  http.route(
    'master',
    '/frameworks',
    sharedRender((req) =>
      renderJson(req.query, async (out) => {
        const id = req.query.get('framework_id');
        const pick = (records: Iterable<FrameworkRecord>) =>
          [...records].filter((f) => id === null || f.id === id);
        out.write('{"frameworks":[');
        await writeFrameworks(out, master, pick(master.frameworks.values()));
        out.write('],"completed_frameworks":[');
        await writeFrameworks(out, master, pick(master.completedFrameworks.values()));
        out.write('],"unregistered_frameworks":[]}');
      }),
    ),
  );
  http.route(
    'master',
    '/slaves',
    sharedRender((req) =>
      renderJson(req.query, async (out) => {
        const id = req.query.get('slave_id');
        const agents = [...master.agents.values()].filter(
          (a) => a.state === 'registered' && (id === null || a.id === id),
        );
        out.write('{"slaves":[');
        for (let i = 0; i < agents.length; i++) {
          out.write(`${i === 0 ? '' : ','}${agentOpen(master, agents[i]!, true)}}`);
          const pause = out.breathe();
          if (pause) await pause;
        }
        const recovered = [...master.recoveredAgents.values()].filter((a) => id === null || a.id === id);
        out.write(`],"recovered_slaves":[${recovered.map(recoveredAgentText).join(',')}]}`);
      }),
    ),
  );
  const tasks = sharedRender((req) => renderJson(req.query, (out) => writeTasks(out, master, req.query)));
  for (const path of ['/tasks', '/tasks.json']) http.route('master', path, tasks);
  const roles = (req: HttpRequest) =>
    renderJson(req.query, async (out) => out.write(await rolesText(master, out)));
  for (const path of ['/roles', '/roles.json']) http.route('master', path, roles);

  http.route('master', '/flags', (req) => {
    requireMethod(req.method, ['GET']);
    return jsonResponse(req.query, `{"flags":${flagsText(context)}}`);
  });
  http.route('master', '/health', () => ({ status: 200 }));
  const version = (req: HttpRequest) => jsonResponse(req.query, versionText());
  http.route('master', '/version', version);
  http.route('version', '/', version);
  http.route('master', '/redirect', (req) => {
    // `/redirect/<anything>` is a 404 in Mesos, so a redirect can never loop onto itself.
    if (req.subPath !== '') return { status: 404 };
    return temporaryRedirect(leaderLocation({ hostname: context.hostname, port: context.address.port }));
  });
  http.route('master', '/teardown', async (req) => {
    requireMethod(req.method, ['POST']);
    const form = new URLSearchParams(Buffer.from(await req.body()).toString('utf8'));
    const id = form.get('frameworkId');
    if (id === null) fail('HTTP_BAD_REQUEST', { detail: "Missing 'frameworkId' query parameter" });
    const framework = master.framework(id);
    if (!framework) fail('HTTP_BAD_REQUEST', { detail: 'No framework found with specified ID' });
    master.removeFramework(framework);
    return { status: 200 };
  });
  http.route('metrics', '/snapshot', async (req) => {
    const timeout = req.query.get('timeout');
    // The snapshot is computed synchronously, so a timeout can never expire; it is only checked.
    if (timeout !== null && parseDuration(timeout) === undefined)
      fail('HTTP_BAD_REQUEST', { detail: `Invalid timeout '${timeout}'` });
    return jsonResponse(req.query, await metricsText(master, context.clock));
  });
  // `/metrics` (Prometheus): the same snapshot, the timers as histograms (src/metrics).
  const snapshot = () => metricsSnapshot(master, context.clock);
  registerPrometheusEndpoint(http, new PrometheusExporter({ snapshot, timers: master.timers.all }));
}
