/**
 * `npm run bench -- state-endpoint`: how long the master's legacy endpoints take, and how long they
 * keep the event loop to themselves, on a populated cluster (default 5,000 agents, 10 tasks each,
 * 10 frameworks; every task uses cpus, mem and one port and is RUNNING with one status).
 *
 * The Master is populated in-process through its public methods, as the transports would drive it:
 * agents REGISTER over in-memory links, frameworks SUBSCRIBE on in-memory streams, offers from one
 * allocation cycle are ACCEPTed with LAUNCH operations, and agents send TASK_RUNNING updates.
 *
 * Cases (one JSON line per metric):
 *  - `state`: `/master/state` as served (rendered in slices that yield to the event loop):
 *    total time, the longest synchronous slice over all renders and the median of each render's
 *    longest (slices include whatever GC pauses landed in them), the event loop's worst delay
 *    measured by a `monitorEventLoopDelay` histogram while rendering, and document size.
 *  - `state_one_slice`: the same rendering without yielding (pure throughput).
 *  - `state_naive_baseline`: `JSON.stringify` of the same document already held as a JS object
 *    tree (parsed from our output), i.e. only the serialization a naive implementation would do
 *    after building its tree; `ratio` is ours (one slice) ÷ that baseline, in time (below 1 = ours
 *    is faster even though it also gathers the data).
 *  - `state_summary`, `tasks` (default page of 100), `metrics_snapshot`: per-call time (and for
 *    metrics the longest slice of its paced walk over tasks).
 *  - `metrics_prometheus`: one `/metrics` scrape (snapshot, mapping, prom-client rendering) and
 *    its size.
 *
 * Options: --agents=N (default 5000), --tasks-per-agent=N (default 10), --frameworks=N (default 10),
 * --repeat=N (state renders to average, default 5).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { create } from '@bufbuild/protobuf';
import { HierarchicalDrfAllocator } from '../src/allocator/hierarchical-drf.js';
import { ManualClock } from '../src/common/clock.js';
import { IdMinter } from '../src/common/ids.js';
import { createLogger } from '../src/common/log.js';
import type { OptionValues } from '../src/common/options.js';
import { parseOptions } from '../src/common/options.js';
import type { RecordStream, StreamCloseReason } from '../src/http/responses.js';
import {
  type EndpointContext,
  metricsText,
  renderJson,
  writeState,
  writeStateSummary,
  writeTasks,
} from '../src/master/endpoints.js';
import { type MasterFlags, masterFlags } from '../src/master/flags.js';
import { JsonTextSink, Pacer } from '../src/master/legacy-json.js';
import { type AgentLink, Master } from '../src/master/master.js';
import { metricsSnapshot } from '../src/master/metrics.js';
import { emptyRegistryState, type Registry } from '../src/master/registry/registry.js';
import { SchedulerStream } from '../src/master/scheduler-stream.js';
import { PrometheusExporter } from '../src/metrics/exporter.js';
import { parseResources } from '../src/resources/flags.js';
import { resourcesToMessages } from '../src/resources/messages.js';
import {
  FrameworkInfo_Capability_Type,
  FrameworkInfoSchema,
  MasterInfoSchema,
  Offer_Operation_Type,
  TaskState,
  TaskStatus_Source,
  Value_Type,
} from '../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_AcceptSchema } from '../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
} from '../src/wire/gen/strata/internal/v1/link_pb.js';
import { report } from './_lib.js';

const BENCH = 'state-endpoint';

function option(name: string, fallback: number): number {
  const prefix = `--${name}=`;
  const arg = process.argv.find((a) => a.startsWith(prefix));
  const value = arg === undefined ? Number.NaN : Number(arg.slice(prefix.length));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const AGENTS = option('agents', 5000);
const TASKS_PER_AGENT = option('tasks-per-agent', 10);
const FRAMEWORKS = option('frameworks', 10);
const REPEAT = option('repeat', 5);

/** An agent link held in memory: it answers pings and drops everything else the master sends. */
class MemoryLink {
  closed = false;
  private handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void } | undefined;

  attach(handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void }): void {
    this.handlers = handlers;
  }

  send(message: MasterToAgent): boolean {
    if (message.type === MasterToAgent_Type.PING)
      this.deliver({ type: AgentToMaster_Type.PONG, pong: { sequence: message.ping?.sequence ?? 0n } });
    return !this.closed;
  }

  close(): void {
    this.closed = true;
  }

  deliver(init: Parameters<typeof create<typeof AgentToMasterSchema>>[1]): void {
    this.handlers?.onMessage(create(AgentToMasterSchema, init));
  }
}

/** A scheduler stream that is always open and discards what it is sent. */
class DiscardingStream implements RecordStream {
  readonly closed = false;
  readonly bufferedBytes = 0;
  readonly signal = new AbortController().signal;
  readonly done = new Promise<StreamCloseReason>(() => {});
  write(): boolean {
    return true;
  }
  end(): void {}
  abort(): void {}
}

/** The registry's durable writes are not what is measured here. */
class NullRegistry implements Registry {
  private readonly state = emptyRegistryState();
  get() {
    return this.state;
  }
  async apply(): Promise<void> {}
  async close(): Promise<void> {}
}

const log = createLogger('master', 'silent');

function flagValues(): OptionValues<MasterFlags> {
  return parseOptions(masterFlags, ['--ip=127.0.0.1', '--port=5050', '--cluster=bench']).values;
}

/** Builds the cluster through the Master's public methods; returns it with timings. */
function populate(): { master: Master; clock: ManualClock } {
  const clock = new ManualClock(1_700_000_000_000);
  const master = new Master(
    create(MasterInfoSchema, {
      id: 'bench-master',
      ip: 0,
      port: 5050,
      pid: 'master@127.0.0.1:5050',
      hostname: 'master.bench',
    }),
    {
      heartbeatIntervalMs: 15_000,
      offerTimeoutMs: undefined,
      agentPingTimeoutMs: 15_000,
      maxAgentPingTimeouts: 5,
      maxCompletedFrameworks: 50,
      maxCompletedTasksPerFramework: 1000,
      maxUnreachableTasksPerFramework: 1000,
    },
    new HierarchicalDrfAllocator({
      seed: 1,
      minAllocatable: [parseResources('cpus:0.01'), parseResources('mem:32')],
    }),
    new IdMinter('bench-master'),
    clock,
    log,
    new NullRegistry(),
  );
  const agentResources = resourcesToMessages(
    parseResources(
      `cpus:${TASKS_PER_AGENT + 4};mem:${TASKS_PER_AGENT * 1024 + 4096};disk:100000;ports:[31000-32000]`,
    ),
  );
  const links = new Map<string, MemoryLink>();
  for (let i = 0; i < AGENTS; i++) {
    const link = new MemoryLink();
    master.agentLinked(link as unknown as AgentLink);
    const hostname = `agent-${i}.bench`;
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    link.deliver({
      type: AgentToMaster_Type.REGISTER,
      register: {
        agentInfo: {
          hostname,
          port: 5051,
          resources: agentResources,
          attributes: [{ name: 'rack', type: Value_Type.TEXT, text: { value: `r${i % 40}` } }],
        },
        version: '0.1.0',
        pid: `slave(1)@${ip}:5051`,
        address: { hostname, ip, port: 5051 },
      },
    });
  }
  for (const agent of master.agents.values()) {
    const link = agent.link as unknown as MemoryLink;
    links.set(agent.id, link);
  }
  for (let f = 0; f < FRAMEWORKS; f++) {
    master.subscribe(
      create(FrameworkInfoSchema, {
        user: 'bench',
        name: `framework-${f}`,
        roles: ['*'],
        capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
      }),
      [],
      new SchedulerStream(new DiscardingStream(), 'application/x-protobuf'),
    );
  }
  master.allocate();
  let taskNumber = 0;
  const launched: Array<{ frameworkId: string; agentId: string; taskId: string }> = [];
  for (const offer of [...master.offers.values()]) {
    const framework = master.framework(offer.frameworkId);
    if (!framework) continue;
    const taskInfos = [];
    for (let t = 0; t < TASKS_PER_AGENT; t++) {
      const taskId = `task-${taskNumber++}`;
      launched.push({ frameworkId: framework.id, agentId: offer.agentId, taskId });
      taskInfos.push({
        name: taskId,
        taskId: { value: taskId },
        agentId: { value: offer.agentId },
        resources: resourcesToMessages(parseResources(`cpus:1;mem:1024;ports:[${31000 + t}-${31000 + t}]`)),
        command: { value: 'sleep 3600' },
      });
    }
    master.accept(
      framework,
      create(Call_AcceptSchema, {
        offerIds: [{ value: offer.id }],
        operations: [{ type: Offer_Operation_Type.LAUNCH, launch: { taskInfos } }],
      }),
    );
  }
  // Distinct first-status timestamps, one millisecond apart (without advancing the clock, whose
  // timers, the agents' pingers, would all be scanned on every step).
  const start = clock.now();
  for (const [i, task] of launched.entries()) {
    links.get(task.agentId)?.deliver({
      type: AgentToMaster_Type.STATUS_UPDATE,
      statusUpdate: {
        frameworkId: { value: task.frameworkId },
        status: {
          taskId: { value: task.taskId },
          agentId: { value: task.agentId },
          state: TaskState.TASK_RUNNING,
          source: TaskStatus_Source.EXECUTOR,
          timestamp: (start + i) / 1000,
          uuid: new Uint8Array(16).fill(i % 256),
          containerStatus: {
            networkInfos: [{ ipAddresses: [{ ipAddress: `172.16.${(i >> 8) & 255}.${i & 255}` }] }],
          },
        },
        latestState: TaskState.TASK_RUNNING,
      },
    });
  }
  // One more cycle so that what is left on each agent is on offer too.
  master.allocate();
  return { master, clock };
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await run();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

async function main(): Promise<void> {
  const caseName = `${AGENTS}_agents_${AGENTS * TASKS_PER_AGENT}_tasks`;
  const built = await timed(async () => populate());
  const { master, clock } = built.value;
  let tasks = 0;
  for (const framework of master.frameworks.values()) tasks += framework.tasks.size;
  report(BENCH, caseName, 'populate_ms', built.ms, 'ms');
  report(BENCH, caseName, 'tasks', tasks, 'tasks');
  report(BENCH, caseName, 'outstanding_offers', master.offers.size, 'offers');

  const context: EndpointContext = {
    flags: flagValues(),
    hostname: 'master.bench',
    address: { host: '127.0.0.1', port: 5050 },
    clock,
  };
  const query = new URLSearchParams();

  // As served: sliced, yielding to the event loop; the histogram sees how late timers ran.
  let totalMs = 0;
  let longestSlice = 0;
  const slices: number[] = [];
  let worstDelay = 0;
  let yields = 0;
  let bytes = 0;
  let text = '';
  for (let i = 0; i < REPEAT; i++) {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const sink = new JsonTextSink();
    const rendered = await timed(() => renderJson(query, (out) => writeState(out, master, context), sink));
    delay.disable();
    totalMs += rendered.ms;
    longestSlice = Math.max(longestSlice, sink.longestSliceMs);
    slices.push(sink.longestSliceMs);
    worstDelay = Math.max(worstDelay, delay.max / 1e6);
    yields += sink.yields;
    const pieces = rendered.value.body as Buffer[];
    bytes = pieces.reduce((sum, piece) => sum + piece.byteLength, 0);
    if (i === 0) text = Buffer.concat(pieces).toString('utf8');
  }
  report(BENCH, 'state', 'render_ms', totalMs / REPEAT, 'ms');
  report(BENCH, 'state', 'longest_slice_ms', longestSlice, 'ms');
  // The worst slice is usually one that a major GC step landed in; the median shows the usual one.
  const median = [...slices].sort((a, b) => a - b)[Math.floor(slices.length / 2)] ?? 0;
  report(BENCH, 'state', 'median_render_longest_slice_ms', median, 'ms');
  report(BENCH, 'state', 'event_loop_max_delay_ms', worstDelay, 'ms');
  report(BENCH, 'state', 'yields_per_render', yields / REPEAT, 'count');
  report(BENCH, 'state', 'body_mb', bytes / 1e6, 'MB');

  let oneSliceMs = 0;
  for (let i = 0; i < REPEAT; i++) {
    const rendered = await timed(() =>
      renderJson(query, (out) => writeState(out, master, context), new JsonTextSink(false)),
    );
    oneSliceMs += rendered.ms;
  }
  oneSliceMs /= REPEAT;
  report(BENCH, 'state_one_slice', 'render_ms', oneSliceMs, 'ms');

  const tree: unknown = JSON.parse(text);
  let naiveMs = 0;
  for (let i = 0; i < REPEAT; i++) naiveMs += (await timed(async () => JSON.stringify(tree))).ms;
  naiveMs /= REPEAT;
  report(BENCH, 'state_naive_baseline', 'stringify_ms', naiveMs, 'ms');
  report(BENCH, 'state_naive_baseline', 'ratio', oneSliceMs / naiveMs, 'x');

  const summary = await timed(() =>
    renderJson(query, (out) => writeStateSummary(out, master, context), new JsonTextSink(false)),
  );
  report(BENCH, 'state_summary', 'render_ms', summary.ms, 'ms');
  const page = await timed(() =>
    renderJson(query, (out) => writeTasks(out, master, query), new JsonTextSink(false)),
  );
  report(BENCH, 'tasks', 'render_ms', page.ms, 'ms');

  let metricsMs = 0;
  const pacer = new Pacer();
  for (let i = 0; i < 10; i++) metricsMs += (await timed(() => metricsText(master, clock, pacer))).ms;
  report(BENCH, 'metrics_snapshot', 'per_call_ms', metricsMs / 10, 'ms');
  report(BENCH, 'metrics_snapshot', 'longest_slice_ms', pacer.longestSliceMs, 'ms');

  // `/metrics` (Prometheus): the same snapshot, mapped and rendered by prom-client, process
  // metrics included; the first scrape (which creates the series) is left out.
  const exporter = new PrometheusExporter({
    snapshot: () => metricsSnapshot(master, clock),
    timers: master.timers.all,
  });
  await exporter.render();
  let prometheusMs = 0;
  let prometheusBytes = 0;
  for (let i = 0; i < 10; i++) {
    const scrape = await timed(() => exporter.render());
    prometheusMs += scrape.ms;
    prometheusBytes = scrape.value.length;
  }
  report(BENCH, 'metrics_prometheus', 'per_call_ms', prometheusMs / 10, 'ms');
  report(BENCH, 'metrics_prometheus', 'bytes', prometheusBytes, 'bytes');
}

await main();
