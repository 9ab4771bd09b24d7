/**
 * Shared benchmark helpers. Every benchmark prints one JSON line per measurement:
 * {"bench","case","metric","value","unit"}.
 */

export interface MeasureOptions {
  /** Untimed running before measuring, so the JIT has settled. */
  warmupMs?: number;
  /** Measured running time. */
  durationMs?: number;
}

export interface Measurement {
  readonly opsPerSecond: number;
  readonly iterations: number;
  readonly elapsedMs: number;
}

/** Written by every measured call so the engine cannot drop the work as dead code. */
export let benchSink: unknown;

function runFor(fn: () => unknown, ms: number): { iterations: number; elapsedMs: number } {
  let batch = 1;
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  for (;;) {
    const batchStart = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) benchSink = fn();
    iterations += batch;
    const now = process.hrtime.bigint();
    if (now >= deadline) return { iterations, elapsedMs: Number(now - start) / 1e6 };
    // Aim for ~5 ms batches so the clock is read rarely.
    const batchMs = Number(now - batchStart) / 1e6;
    if (batchMs < 5) batch = Math.min(batch * 2, 1 << 20);
  }
}

/** Runs `fn` repeatedly for a fixed time after a warm-up and reports its rate. */
export function measure(fn: () => unknown, options?: MeasureOptions): Measurement {
  runFor(fn, options?.warmupMs ?? 200);
  const { iterations, elapsedMs } = runFor(fn, options?.durationMs ?? 800);
  return { opsPerSecond: (iterations * 1000) / elapsedMs, iterations, elapsedMs };
}

/** Prints one measurement line. */
export function report(bench: string, caseName: string, metric: string, value: number, unit: string): void {
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(4));
  process.stdout.write(`${JSON.stringify({ bench, case: caseName, metric, value: rounded, unit })}\n`);
}

/** Reports ops/s and, when `bytes` is known, MB/s (10^6 bytes) for one case. */
export function reportRate(bench: string, caseName: string, measurement: Measurement, bytes?: number): void {
  report(bench, caseName, 'ops_per_s', measurement.opsPerSecond, 'ops/s');
  if (bytes !== undefined)
    report(bench, caseName, 'throughput', (measurement.opsPerSecond * bytes) / 1e6, 'MB/s');
}

// ---------------------------------------------------------------------------------------------
// Realistic scheduler traffic, written as the Mesos JSON a master sends / a framework posts.

const MASTER_ID = '5b8f2f5e-7c0a-4d7e-9d6b-2b1f0c9e8a71';

function offerJson(i: number): string {
  const agent = `${MASTER_ID}-S${i}`;
  const host = `agent-${i}.dc1.example.com`;
  const ip = `10.0.${i >> 8}.${i & 255}`;
  const alloc = '"allocation_info":{"role":"analytics"}';
  return `{"id":{"value":"${MASTER_ID}-O${1000 + i}"},"framework_id":{"value":"${MASTER_ID}-0000"},
    "agent_id":{"value":"${agent}"},"hostname":"${host}",
    "url":{"scheme":"http","address":{"hostname":"${host}","ip":"${ip}","port":5051},"path":"/slave(1)"},
    "domain":{"fault_domain":{"region":{"name":"us-east"},"zone":{"name":"us-east-${1 + (i % 3)}"}}},
    "resources":[
      {"name":"cpus","type":"SCALAR","scalar":{"value":${(i % 16) + 0.5}},${alloc}},
      {"name":"mem","type":"SCALAR","scalar":{"value":${16384 + i * 8}.0},${alloc}},
      {"name":"disk","type":"SCALAR","scalar":{"value":102400.0},${alloc}},
      {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31999},{"begin":${32000 + i},"end":32999}]},${alloc}},
      {"name":"cpus","type":"SCALAR","scalar":{"value":2.0},${alloc},
       "reservations":[{"type":"DYNAMIC","role":"analytics","principal":"ops","labels":{"labels":[{"key":"owner","value":"team-${i % 7}"}]}}]},
      {"name":"gpus","type":"SET","set":{"item":["gpu0","gpu1"]},${alloc}}
    ],
    "attributes":[
      {"name":"rack","type":"TEXT","text":{"value":"rack-${i % 20}"}},
      {"name":"kernel","type":"TEXT","text":{"value":"5.15.0-${i % 9}"}},
      {"name":"level","type":"SCALAR","scalar":{"value":${i % 4}.0}},
      {"name":"slots","type":"RANGES","ranges":{"range":[{"begin":1,"end":${4 + (i % 4)}}]}},
      {"name":"features","type":"SET","set":{"item":["ssd","avx2","10g"]}}
    ],
    "executor_ids":[{"value":"executor-${i}"}],
    ${alloc}}`;
}

/** An Event OFFERS with `count` offers: scalar, ranges, set and reserved resources, attributes, domains. */
export function offersEventJson(count: number): string {
  const offers: string[] = [];
  for (let i = 0; i < count; i++) offers.push(offerJson(i));
  return `{"type":"OFFERS","offers":{"offers":[${offers.join(',')}]}}`;
}

function taskJson(i: number): string {
  return `{"name":"web-${i}","task_id":{"value":"web.instance-${i}-2f1c"},"agent_id":{"value":"${MASTER_ID}-S7"},
    "resources":[
      {"name":"cpus","type":"SCALAR","scalar":{"value":0.5},"allocation_info":{"role":"analytics"}},
      {"name":"mem","type":"SCALAR","scalar":{"value":512.0},"allocation_info":{"role":"analytics"}},
      {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":${31000 + i},"end":${31000 + i}}]},"allocation_info":{"role":"analytics"}}
    ],
    "command":{"uris":[{"value":"https://artifacts.example.com/web-${i}.tgz","extract":true,"cache":false}],
      "environment":{"variables":[{"name":"PORT","value":"${31000 + i}"},{"name":"ENV","value":"prod"}]},
      "shell":true,"value":"./bin/web --port=$PORT --instance=${i}"},
    "health_check":{"type":"HTTP","http":{"port":${31000 + i},"path":"/health"},"delay_seconds":5.0,"interval_seconds":10.0},
    "kill_policy":{"grace_period":{"nanoseconds":30000000000}},
    "labels":{"labels":[{"key":"app","value":"web"},{"key":"instance","value":"${i}"}]},
    "limits":{"cpus":{"value":1.0},"mem":{"value":1024.0}}}`;
}

/** A Call ACCEPT with one LAUNCH of `tasks` command tasks (resources, URIs, env, health check, limits). */
export function acceptCallJson(tasks: number): string {
  const infos: string[] = [];
  for (let i = 0; i < tasks; i++) infos.push(taskJson(i));
  return `{"framework_id":{"value":"${MASTER_ID}-0000"},"type":"ACCEPT","accept":{
    "offer_ids":[{"value":"${MASTER_ID}-O1007"}],
    "operations":[{"type":"LAUNCH","launch":{"task_infos":[${infos.join(',')}]}}],
    "filters":{"refuse_seconds":5.0}}}`;
}
