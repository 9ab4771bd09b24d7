/**
 * `npm run bench -- allocator`: allocation cycle time of the hierarchical DRF allocator, after
 * Mesos' `HierarchicalAllocator_BENCHMARK_Test.DeclineOffers` (reference §6.12): agents of
 * `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, frameworks spread over hierarchical roles
 * (`team<k>/svc<j>`), and
 *  - `first_cycle_ms`: one cycle over a fresh cluster (every agent is offered);
 *  - `decline_cycle_ms`: every framework then declines everything with a long refusal filter, and
 *    each further cycle offers every agent to the next framework in line (the mean of several
 *    rounds, and the slowest as `decline_cycle_max_ms`); filters pile up round after round;
 *  - the same with quota on half the top-level roles (`/quota` cases);
 *  - `heap_mb`: V8 heap in use with the case's allocator alive, `rss_peak_mb` the process peak.
 *
 * Baseline in the same run: the flat SimpleDrfAllocator (the placeholder the master used first),
 * on the cases small enough for it to finish in seconds; `ratio_first_cycle` is baseline ÷ ours.
 *
 * Options: --issue (also the cases of issue 5: 2,000×200, 10,000×1,000, 20,000×2,000, with and
 * without quota; about a minute more), --rounds=N decline rounds (default 3).
 */
import type { Allocation, Allocator, FrameworkSpec } from '../src/allocator/allocator.js';
import { HierarchicalDrfAllocator } from '../src/allocator/hierarchical-drf.js';
import { SimpleDrfAllocator } from '../src/allocator/simple-drf.js';
import { parseResources } from '../src/resources/flags.js';
import { report } from './_lib.js';

const BENCH = 'allocator';
const AGENT = parseResources('cpus:24;mem:4096;disk:4096;ports:[31000-32000]');
const MINIMUM = [parseResources('cpus:0.01'), parseResources('mem:32')];
const TOP_ROLES = 10;
const SUBROLES = 5;
const T0 = 1_000_000;

function option(name: string, fallback: number): number {
  const prefix = `--${name}=`;
  const arg = process.argv.find((a) => a.startsWith(prefix));
  const value = arg === undefined ? Number.NaN : Number(arg.slice(prefix.length));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const rounds = option('rounds', 3);
const issueCases = process.argv.includes('--issue');

function roleOf(framework: number): string {
  return `team${framework % TOP_ROLES}/svc${Math.floor(framework / TOP_ROLES) % SUBROLES}`;
}

function frameworkSpec(framework: number): FrameworkSpec {
  return { roles: [roleOf(framework)], suppressedRoles: [], capabilities: new Set() };
}

interface Cluster<A extends Allocator> {
  allocator: A;
  setupMs: number;
}

function build<A extends Allocator>(allocator: A, agents: number, frameworks: number): Cluster<A> {
  const start = performance.now();
  for (let f = 0; f < frameworks; f++) allocator.addFramework(`fw-${f}`, frameworkSpec(f), new Map(), true);
  for (let a = 0; a < agents; a++)
    allocator.addAgent(`agent-${a}`, { hostname: `agent-${a}.example`, total: AGENT }, new Map());
  return { allocator, setupMs: performance.now() - start };
}

/** Quota on every even top-level role: a small guarantee and a limit of twice a fair share. */
function addQuota(allocator: HierarchicalDrfAllocator, agents: number): void {
  const cpus = agents * 24;
  const mem = agents * 4096;
  for (let k = 0; k < TOP_ROLES; k += 2) {
    allocator.updateQuota(`team${k}`, {
      guarantees: new Map([
        ['cpus', cpus / TOP_ROLES / 4],
        ['mem', mem / TOP_ROLES / 4],
      ]),
      limits: new Map([
        ['cpus', (2 * cpus) / TOP_ROLES],
        ['mem', (2 * mem) / TOP_ROLES],
      ]),
    });
  }
}

function timed(run: () => Allocation[]): { ms: number; allocations: Allocation[] } {
  const start = performance.now();
  const allocations = run();
  return { ms: performance.now() - start, allocations };
}

function decline(allocator: Allocator, allocations: readonly Allocation[], now: number): void {
  for (const a of allocations) allocator.recoverResources(a.frameworkId, a.agentId, a.resources, 3600, now);
}

let rssPeak = 0;
function sampleMemory(caseName: string): void {
  const usage = process.memoryUsage();
  rssPeak = Math.max(rssPeak, usage.rss);
  report(BENCH, caseName, 'heap_mb', usage.heapUsed / 2 ** 20, 'MB');
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Ours: first cycle, then `rounds` decline cycles. Returns the first cycle time. */
function runOurs(agents: number, frameworks: number, withQuota: boolean): number {
  collectGarbage();
  const caseName = `${agents}x${frameworks}${withQuota ? '/quota' : ''}`;
  const { allocator, setupMs } = build(
    new HierarchicalDrfAllocator({ seed: 1, minAllocatable: MINIMUM }),
    agents,
    frameworks,
  );
  if (withQuota) addQuota(allocator, agents);
  report(BENCH, caseName, 'setup_ms', setupMs, 'ms');
  const first = timed(() => allocator.allocate(T0));
  report(BENCH, caseName, 'first_cycle_ms', first.ms, 'ms');
  report(BENCH, caseName, 'first_cycle_offers', first.allocations.length, 'offers');
  let previous = first.allocations;
  let sum = 0;
  let max = 0;
  let offers = 0;
  for (let r = 1; r <= rounds; r++) {
    const now = T0 + r * 1000;
    decline(allocator, previous, now);
    const cycle = timed(() => allocator.allocate(now));
    sum += cycle.ms;
    max = Math.max(max, cycle.ms);
    offers += cycle.allocations.length;
    previous = cycle.allocations;
  }
  report(BENCH, caseName, 'decline_cycle_ms', sum / rounds, 'ms');
  report(BENCH, caseName, 'decline_cycle_max_ms', max, 'ms');
  report(BENCH, caseName, 'decline_cycle_offers', offers / rounds, 'offers');
  sampleMemory(caseName);
  return first.ms;
}

/** The flat baseline: first cycle only (its decline cycles cost the same or more). */
function runBaseline(agents: number, frameworks: number): number {
  collectGarbage();
  const caseName = `${agents}x${frameworks}/simple-drf`;
  const { allocator } = build(
    new SimpleDrfAllocator({ seed: 1, minAllocatable: MINIMUM }),
    agents,
    frameworks,
  );
  const first = timed(() => allocator.allocate(T0));
  report(BENCH, caseName, 'first_cycle_ms', first.ms, 'ms');
  report(BENCH, caseName, 'first_cycle_offers', first.allocations.length, 'offers');
  return first.ms;
}

// Warm the JIT on a small case so the first measured case is not the interpreter's.
for (let i = 0; i < 3; i++) {
  const { allocator } = build(new HierarchicalDrfAllocator({ seed: 9, minAllocatable: MINIMUM }), 500, 50);
  decline(allocator, allocator.allocate(T0), T0);
  allocator.allocate(T0 + 1000);
}

const started = performance.now();
for (const agents of [1000, 5000, 20000]) {
  for (const frameworks of [10, 100, 500]) {
    const ours = runOurs(agents, frameworks, false);
    // The flat baseline re-derives every share per agent: seconds at 1,000 agents, minutes beyond.
    if (agents <= 1000) {
      const baseline = runBaseline(agents, frameworks);
      report(BENCH, `${agents}x${frameworks}`, 'ratio_first_cycle', baseline / ours, 'x');
    }
  }
}
runOurs(20000, 500, true);

if (issueCases) {
  for (const [agents, frameworks] of [
    [2000, 200],
    [10000, 1000],
    [20000, 2000],
  ] as const) {
    runOurs(agents, frameworks, false);
    runOurs(agents, frameworks, true);
  }
}
report(BENCH, 'all', 'rss_peak_mb', rssPeak / 2 ** 20, 'MB');
report(BENCH, 'all', 'wall_s', (performance.now() - started) / 1000, 's');
