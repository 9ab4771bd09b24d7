/**
 * `npm run bench -- resources`: throughput of the Resources arithmetic the master and allocator run
 * most (add, subtract, contains) on an agent-sized collection: cpus, mem, disk, gpus, ports in 10
 * ranges, static, dynamic (labelled) and refined reservations, and one persistent volume. The
 * operand is a task-sized request (cpus, mem, one port) allocated to a role.
 *
 * Baseline in the same run: a naive implementation over plain wire-shaped objects, the way a first
 * port would do it: float scalars, ranges appended without coalescing, results built by copying the
 * input objects, and resources matched by comparing name, type and JSON-serialized metadata on every
 * operation. It also drifts: the bench reports its float error after 1000 take/give-back cycles. Ratios are ours ÷ naive in
 * ops/s (above 1 = faster).
 *
 * Also measured, without a baseline: building an agent's Resources from wire messages, the
 * allocator's per-offer step (allocatable to a role, then allocated), and the legacy summary.
 *
 * Options: --duration-ms=N (measured time per case, default 700), --warmup-ms=N (default 150).
 */
import { resourcesFromMessages, resourcesToMessages } from '../src/resources/messages.js';
import type { ResourceMeta } from '../src/resources/resource.js';
import { ResourceItem } from '../src/resources/resource.js';
import { Resources } from '../src/resources/resources.js';
import { legacySummaryValues } from '../src/resources/summary.js';
import { type Measurement, type MeasureOptions, measure, report, reportRate } from './_lib.js';

const BENCH = 'resources';

function option(name: string, fallback: number): number {
  const prefix = `--${name}=`;
  const arg = process.argv.find((a) => a.startsWith(prefix));
  const value = arg === undefined ? Number.NaN : Number(arg.slice(prefix.length));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const measureOptions: MeasureOptions = {
  warmupMs: option('warmup-ms', 150),
  durationMs: option('duration-ms', 700),
};

// --- the workload, in our model --------------------------------------------------------------------

const PORT_RANGES: [number, number][] = Array.from({ length: 10 }, (_, i) => [
  31000 + i * 100,
  31049 + i * 100,
]);
const labelled: ResourceMeta = {
  reservations: [
    { type: 'DYNAMIC', role: 'analytics', principal: 'ops', labels: [{ key: 'owner', value: 'team-3' }] },
  ],
};
const refined: ResourceMeta = {
  reservations: [
    { type: 'DYNAMIC', role: 'eng', principal: 'ops' },
    { type: 'DYNAMIC', role: 'eng/web', principal: 'web' },
  ],
};

const agent = Resources.of(
  ResourceItem.scalar('cpus', 24),
  ResourceItem.scalar('mem', 65536),
  ResourceItem.scalar('disk', 409600),
  ResourceItem.scalar('gpus', 2),
  ResourceItem.ranges('ports', PORT_RANGES),
  ResourceItem.scalar('cpus', 8, { reservations: [{ type: 'STATIC', role: 'eng' }] }),
  ResourceItem.scalar('mem', 16384, { reservations: [{ type: 'STATIC', role: 'eng' }] }),
  ResourceItem.scalar('cpus', 4, labelled),
  ResourceItem.scalar('mem', 8192, labelled),
  ResourceItem.scalar('cpus', 2, refined),
  ResourceItem.scalar('disk', 1024, {
    reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'ops' }],
    disk: { persistence: { id: 'pg-data' }, volume: { containerPath: 'data', mode: 'RW' } },
  }),
);

const task = Resources.of(
  ResourceItem.scalar('cpus', 0.1),
  ResourceItem.scalar('mem', 512),
  ResourceItem.ranges('ports', [[31210, 31210]]),
  ResourceItem.scalar('cpus', 0.3, labelled),
);

// --- the naive baseline ----------------------------------------------------------------------------

interface NaiveResource {
  name: string;
  type: 'SCALAR' | 'RANGES' | 'SET';
  scalar?: { value: number };
  ranges?: { range: { begin: number; end: number }[] };
  set?: { item: string[] };
  reservations?: unknown[];
  allocation_info?: { role: string };
  disk?: unknown;
}

function naiveSameKind(left: NaiveResource, right: NaiveResource): boolean {
  return (
    left.name === right.name &&
    left.type === right.type &&
    JSON.stringify(left.reservations ?? []) === JSON.stringify(right.reservations ?? []) &&
    JSON.stringify(left.allocation_info ?? null) === JSON.stringify(right.allocation_info ?? null) &&
    JSON.stringify(left.disk ?? null) === JSON.stringify(right.disk ?? null)
  );
}

/** A structural copy of the mutable parts, so the naive operations do not alter their inputs. */
function naiveClone(resource: NaiveResource): NaiveResource {
  const out: NaiveResource = { ...resource };
  if (resource.scalar) out.scalar = { value: resource.scalar.value };
  if (resource.ranges) out.ranges = { range: resource.ranges.range.slice() };
  if (resource.set) out.set = { item: resource.set.item.slice() };
  return out;
}

function naiveAdd(left: NaiveResource[], right: NaiveResource[]): NaiveResource[] {
  const out = left.map(naiveClone);
  for (const resource of right) {
    const match = out.find((candidate) => naiveSameKind(candidate, resource));
    if (match === undefined) out.push(naiveClone(resource));
    else if (match.scalar && resource.scalar) match.scalar.value += resource.scalar.value;
    else if (match.ranges && resource.ranges) match.ranges.range.push(...resource.ranges.range);
    else if (match.set && resource.set)
      match.set.item.push(...resource.set.item.filter((i) => !match.set?.item.includes(i)));
  }
  return out;
}

function naiveSubtractRanges(
  ranges: { begin: number; end: number }[],
  cut: { begin: number; end: number },
): { begin: number; end: number }[] {
  const out: { begin: number; end: number }[] = [];
  for (const range of ranges) {
    if (cut.end < range.begin || cut.begin > range.end) out.push(range);
    else {
      if (range.begin < cut.begin) out.push({ begin: range.begin, end: cut.begin - 1 });
      if (range.end > cut.end) out.push({ begin: cut.end + 1, end: range.end });
    }
  }
  return out;
}

function naiveSubtract(left: NaiveResource[], right: NaiveResource[]): NaiveResource[] {
  let out = left.map(naiveClone);
  for (const resource of right) {
    const match = out.find((candidate) => naiveSameKind(candidate, resource));
    if (match === undefined) continue;
    if (match.scalar && resource.scalar) match.scalar.value -= resource.scalar.value;
    else if (match.ranges && resource.ranges) {
      for (const cut of resource.ranges.range)
        match.ranges.range = naiveSubtractRanges(match.ranges.range, cut);
    } else if (match.set && resource.set)
      match.set.item = match.set.item.filter((i) => !resource.set?.item.includes(i));
    out = out.filter((r) => !(r.scalar && r.scalar.value <= 0) && !(r.ranges && r.ranges.range.length === 0));
  }
  return out;
}

function naiveContains(left: NaiveResource[], right: NaiveResource[]): boolean {
  return right.every((resource) => {
    const match = left.find((candidate) => naiveSameKind(candidate, resource));
    if (match === undefined) return false;
    if (match.scalar && resource.scalar) return match.scalar.value >= resource.scalar.value;
    if (match.ranges && resource.ranges) {
      return resource.ranges.range.every((need) =>
        match.ranges?.range.some((have) => have.begin <= need.begin && need.end <= have.end),
      );
    }
    return resource.set?.item.every((i) => match.set?.item.includes(i)) ?? false;
  });
}

function toNaive(resources: Resources): NaiveResource[] {
  return resources.toInputs().map((input) => {
    const out: NaiveResource = { name: input.name, type: input.type as NaiveResource['type'] };
    if (input.scalar !== undefined) out.scalar = { value: input.scalar };
    if (input.ranges !== undefined) {
      out.ranges = {
        range: input.ranges.map((range) => ({ begin: Number(range.begin), end: Number(range.end) })),
      };
    }
    if (input.set !== undefined) out.set = { item: [...input.set] };
    if (input.reservations !== undefined)
      out.reservations = JSON.parse(JSON.stringify(input.reservations)) as unknown[];
    if (input.allocationInfo?.role !== undefined) out.allocation_info = { role: input.allocationInfo.role };
    if (input.disk !== undefined) out.disk = JSON.parse(JSON.stringify(input.disk)) as unknown;
    return out;
  });
}

function sumNaive(resources: NaiveResource[], name: string): number {
  let total = 0;
  for (const resource of resources)
    if (resource.name === name && resource.scalar) total += resource.scalar.value;
  return total;
}

// --- measurement -----------------------------------------------------------------------------------

function compare(caseName: string, ours: () => unknown, naive: () => unknown): void {
  const mine: Measurement = measure(ours, measureOptions);
  const baseline: Measurement = measure(naive, measureOptions);
  reportRate(BENCH, caseName, mine);
  reportRate(BENCH, `${caseName}/naive`, baseline);
  report(BENCH, caseName, 'ratio_vs_naive', mine.opsPerSecond / baseline.opsPerSecond, 'x');
}

function main(): void {
  const naiveAgent = toNaive(agent);
  const naiveTask = toNaive(task);
  const allocatedAgent = agent.subtract(task);
  const naiveAllocated = naiveSubtract(naiveAgent, naiveTask);

  // Sanity: both implementations agree on the answers being timed.
  if (!agent.contains(task) || !naiveContains(naiveAgent, naiveTask))
    throw new Error('workload: task must fit');
  if (!allocatedAgent.add(task).equals(agent)) throw new Error('workload: (a - b) + b must equal a');

  compare(
    'add',
    () => allocatedAgent.add(task),
    () => naiveAdd(naiveAllocated, naiveTask),
  );
  compare(
    'subtract',
    () => agent.subtract(task),
    () => naiveSubtract(naiveAgent, naiveTask),
  );
  compare(
    'contains',
    () => agent.contains(task),
    () => naiveContains(naiveAgent, naiveTask),
  );

  // A launch cycle: check the request fits, take it, give it back.
  compare(
    'contains+subtract+add',
    () => agent.contains(task) && agent.subtract(task).add(task),
    () => naiveContains(naiveAgent, naiveTask) && naiveAdd(naiveSubtract(naiveAgent, naiveTask), naiveTask),
  );

  // Correctness after many cycles: take the task 1000 times from an empty start, then give it all
  // back. Exact arithmetic ends empty; the float baseline keeps residues and fragmented ranges.
  let naiveState: NaiveResource[] = [];
  let ours = Resources.EMPTY;
  for (let i = 0; i < 1000; i++) {
    naiveState = naiveAdd(naiveState, naiveTask);
    ours = ours.add(task);
  }
  // Exactly 1000 × (0.1 + 0.3) = 400 cpus are held now.
  report(BENCH, 'after-1000-adds', 'cpus_abs_error', Math.abs((ours.cpus() ?? 0) - 400), 'cpus');
  report(
    BENCH,
    'after-1000-adds/naive',
    'cpus_abs_error',
    Math.abs(sumNaive(naiveState, 'cpus') - 400),
    'cpus',
  );
  report(
    BENCH,
    'after-1000-adds/naive',
    'port_range_count',
    naiveState.find((r) => r.name === 'ports')?.ranges?.range.length ?? 0,
    'ranges',
  );
  report(BENCH, 'after-1000-adds', 'port_range_count', ours.ports()?.rangeCount ?? 0, 'ranges');
  for (let i = 0; i < 1000; i++) {
    naiveState = naiveSubtract(naiveState, naiveTask);
    ours = ours.subtract(task);
  }
  report(BENCH, 'after-1000-subtracts', 'leftover_cpus', Math.abs(ours.cpus() ?? 0), 'cpus');
  report(
    BENCH,
    'after-1000-subtracts/naive',
    'leftover_cpus',
    Math.abs(sumNaive(naiveState, 'cpus')),
    'cpus',
  );
  report(BENCH, 'after-1000-subtracts', 'leftover_entries', ours.size, 'resources');
  report(BENCH, 'after-1000-subtracts/naive', 'leftover_entries', naiveState.length, 'resources');

  // Ours only.
  const messages = resourcesToMessages(agent);
  reportRate(
    BENCH,
    'from-messages',
    measure(() => resourcesFromMessages(messages), measureOptions),
  );
  reportRate(
    BENCH,
    'offer-step',
    measure(() => agent.allocatableTo('eng/web').allocate('eng/web'), measureOptions),
  );
  reportRate(
    BENCH,
    'legacy-summary',
    measure(() => legacySummaryValues(agent), measureOptions),
  );
}

main();
