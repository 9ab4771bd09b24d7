import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toJson } from '@bufbuild/protobuf';
import { ManualClock } from '../../../src/common/clock.js';
import {
  Checker,
  checkStatusFromOutcome,
  emptyCheckStatus,
  HealthChecker,
  type HealthReport,
  healthVerdict,
  ProbeLoop,
  type ProbeOutcome,
} from '../../../src/executors/health/checker.js';
import {
  type CheckSpec,
  type HealthCheckSpec,
  parseCheck,
  parseHealthCheck,
} from '../../../src/executors/health/config.js';
import {
  CheckInfo_Type,
  CheckInfoSchema,
  type CheckStatusInfo,
  CheckStatusInfoSchema,
  HealthCheck_Type,
  HealthCheckSchema,
  NetworkInfo_Protocol,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const flush = async () => {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** A probe whose every call waits until the test answers it. */
class ScriptedProbe {
  readonly calls: { at: number; signal: AbortSignal; answer: (outcome: ProbeOutcome) => void }[] = [];

  constructor(private readonly clock: ManualClock) {}

  readonly probe = (signal: AbortSignal): Promise<ProbeOutcome> =>
    new Promise((resolve) => this.calls.push({ at: this.clock.now(), signal, answer: resolve }));

  /** Answers the latest call. */
  async answer(outcome: ProbeOutcome): Promise<void> {
    const call = this.calls.at(-1);
    assert.ok(call, 'no probe call to answer');
    call.answer(outcome);
    await flush();
  }
}

/** A probe that answers at once from a list (the last one repeats). */
function immediate(outcomes: ProbeOutcome[]) {
  let index = 0;
  return async (): Promise<ProbeOutcome> => outcomes[Math.min(index++, outcomes.length - 1)]!;
}

const ok: ProbeOutcome = { kind: 'command', exitCode: 0 };
const bad: ProbeOutcome = { kind: 'command', exitCode: 1 };

function healthSpec(overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return {
    probe: { kind: 'command', command: create(HealthCheckSchema).command! },
    delayMs: 1_000,
    intervalMs: 1_000,
    timeoutMs: 500,
    consecutiveFailures: 3,
    gracePeriodMs: 0,
    ...overrides,
  };
}

/** Advances time step by step, letting the promise callbacks of each probe run. */
async function advance(clock: ManualClock, ms: number, step = 100): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await flush();
  }
}

describe('ProbeLoop timing', () => {
  it('first probe after the delay, each next an interval after the previous one ended', async () => {
    const clock = new ManualClock(0);
    const probe = new ScriptedProbe(clock);
    const outcomes: ProbeOutcome[] = [];
    const loop = new ProbeLoop({
      clock,
      timing: { delayMs: 1_500, intervalMs: 1_000, timeoutMs: 0 },
      probe: probe.probe,
      name: 'COMMAND check',
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    loop.start();
    clock.advance(1_499);
    assert.equal(probe.calls.length, 0);
    clock.advance(1);
    assert.equal(probe.calls.length, 1);
    // The probe takes 3 s (no timeout); the next starts 1 s after it answers.
    clock.advance(3_000);
    await probe.answer(ok);
    assert.deepEqual(outcomes, [ok]);
    clock.advance(999);
    assert.equal(probe.calls.length, 1);
    clock.advance(1);
    assert.deepEqual(
      probe.calls.map((c) => c.at),
      [1_500, 5_500],
    );
  });

  it('a probe past its timeout is aborted and counts as an error naming the time', async () => {
    const clock = new ManualClock(0);
    const probe = new ScriptedProbe(clock);
    const outcomes: ProbeOutcome[] = [];
    const loop = new ProbeLoop({
      clock,
      timing: { delayMs: 0, intervalMs: 1_000, timeoutMs: 2_000 },
      probe: probe.probe,
      name: 'COMMAND health check',
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    loop.start();
    clock.advance(0);
    assert.equal(probe.calls.length, 1);
    clock.advance(2_000);
    assert.equal(probe.calls[0]?.signal.aborted, true);
    assert.deepEqual(outcomes, [{ kind: 'error', message: 'COMMAND health check timed out after 2secs' }]);
    // A late answer of the aborted probe is dropped.
    await probe.answer(ok);
    assert.equal(outcomes.length, 1);
    clock.advance(1_000);
    assert.equal(probe.calls.length, 2);
    assert.equal(probe.calls[1]?.at, 3_000);
  });

  it('pause aborts the probe under way and drops its answer; resume probes an interval later; stop ends it', async () => {
    const clock = new ManualClock(0);
    const probe = new ScriptedProbe(clock);
    const outcomes: ProbeOutcome[] = [];
    const loop = new ProbeLoop({
      clock,
      timing: { delayMs: 100, intervalMs: 1_000, timeoutMs: 0 },
      probe: probe.probe,
      name: 'TCP check',
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    loop.start();
    clock.advance(100);
    loop.pause();
    assert.equal(probe.calls[0]?.signal.aborted, true);
    await probe.answer(ok);
    assert.deepEqual(outcomes, []);
    clock.advance(10_000);
    assert.equal(probe.calls.length, 1);
    loop.resume();
    clock.advance(999);
    assert.equal(probe.calls.length, 1);
    clock.advance(1);
    assert.equal(probe.calls.length, 2);
    loop.stop();
    assert.equal(probe.calls[1]?.signal.aborted, true);
    await probe.answer(ok);
    clock.advance(10_000);
    assert.equal(probe.calls.length, 2);
    assert.deepEqual(outcomes, []);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('a probe that throws is an error, and the loop goes on', async () => {
    const clock = new ManualClock(0);
    const outcomes: ProbeOutcome[] = [];
    let calls = 0;
    const loop = new ProbeLoop({
      clock,
      timing: { delayMs: 0, intervalMs: 10, timeoutMs: 0 },
      probe: () => {
        calls += 1;
        throw new Error('boom');
      },
      name: 'x',
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    loop.start();
    await advance(clock, 20, 10);
    assert.ok(calls >= 2);
    assert.deepEqual(outcomes[0], { kind: 'error', message: 'boom' });
    loop.stop();
  });
});

describe('HealthChecker (Mesos HealthChecker semantics)', () => {
  function setUp(spec: HealthCheckSpec, outcomes: ProbeOutcome[]) {
    const clock = new ManualClock(0);
    const reports: HealthReport[] = [];
    const checker = new HealthChecker(spec, {
      clock,
      probe: immediate(outcomes),
      onReport: (report) => reports.push(report),
    });
    checker.start();
    return { clock, reports, checker };
  }

  it('reports healthy on the first success only, then again only after failures', async () => {
    const { clock, reports } = setUp(healthSpec({ consecutiveFailures: 5 }), [ok, ok, ok, bad, ok, ok]);
    await advance(clock, 6_500);
    assert.deepEqual(
      reports.map((r) => [r.healthy, r.consecutiveFailures, r.killTask]),
      [
        [true, 0, false],
        [false, 1, false],
        [true, 0, false],
      ],
    );
    assert.equal(reports[1]?.message, 'Command returned: exited with status 1');
  });

  it('every failure is reported; kill_task once consecutive_failures is reached, and on each later one', async () => {
    const { clock, reports, checker } = setUp(healthSpec({ consecutiveFailures: 3 }), [bad]);
    await advance(clock, 4_500);
    assert.deepEqual(
      reports.map((r) => [r.healthy, r.consecutiveFailures, r.killTask]),
      [
        [false, 1, false],
        [false, 2, false],
        [false, 3, true],
        [false, 4, true],
      ],
    );
    assert.equal(checker.consecutiveFailures, 4);
  });

  it('a success resets the count of consecutive failures', async () => {
    const { clock, reports } = setUp(healthSpec({ consecutiveFailures: 2 }), [bad, ok, bad, ok, bad, bad]);
    await advance(clock, 6_500);
    assert.deepEqual(
      reports.map((r) => [r.healthy, r.consecutiveFailures, r.killTask]),
      [
        [false, 1, false],
        [true, 0, false],
        [false, 1, false],
        [true, 0, false],
        [false, 1, false],
        [false, 2, true],
      ],
    );
  });

  it('ignores failures within the grace period (counted from start, delay included) until a success', async () => {
    // Probes at 1, 2, 3, 4, 5 s; grace 2.5 s: the failures at 1 and 2 s are ignored.
    const { clock, reports } = setUp(healthSpec({ gracePeriodMs: 2_500, consecutiveFailures: 2 }), [bad]);
    await advance(clock, 2_900);
    assert.equal(reports.length, 0);
    await advance(clock, 1_200);
    assert.deepEqual(
      reports.map((r) => [r.healthy, r.consecutiveFailures, r.killTask]),
      [
        [false, 1, false],
        [false, 2, true],
      ],
    );
  });

  it('a failure exactly at the end of the grace period is still ignored', async () => {
    const { clock, reports } = setUp(healthSpec({ gracePeriodMs: 2_000 }), [bad]);
    await advance(clock, 2_000);
    assert.equal(reports.length, 0);
    await advance(clock, 1_000);
    assert.equal(reports.length, 1);
  });

  it('after the first success, failures count even within the grace period', async () => {
    const { clock, reports } = setUp(healthSpec({ gracePeriodMs: 60_000, consecutiveFailures: 2 }), [
      ok,
      bad,
      bad,
    ]);
    await advance(clock, 3_500);
    assert.deepEqual(
      reports.map((r) => [r.healthy, r.consecutiveFailures, r.killTask]),
      [
        [true, 0, false],
        [false, 1, false],
        [false, 2, true],
      ],
    );
  });

  it('a timeout is a failure', async () => {
    const clock = new ManualClock(0);
    const probe = new ScriptedProbe(clock);
    const reports: HealthReport[] = [];
    const checker = new HealthChecker(healthSpec({ consecutiveFailures: 1, timeoutMs: 300 }), {
      clock,
      probe: probe.probe,
      onReport: (report) => reports.push(report),
    });
    checker.start();
    clock.advance(1_300);
    assert.deepEqual(reports, [
      {
        healthy: false,
        consecutiveFailures: 1,
        killTask: true,
        message: 'COMMAND health check timed out after 300ms',
      },
    ]);
  });

  it('consecutive_failures 0 kills on the first counted failure', async () => {
    const { clock, reports } = setUp(healthSpec({ consecutiveFailures: 0 }), [bad]);
    await advance(clock, 1_000);
    assert.equal(reports[0]?.killTask, true);
  });

  it('an unavailable result reports nothing and changes nothing', async () => {
    const { clock, reports } = setUp(healthSpec({ consecutiveFailures: 2 }), [
      bad,
      { kind: 'unavailable', message: 'agent away' },
      bad,
    ]);
    await advance(clock, 3_500);
    assert.deepEqual(
      reports.map((r) => r.consecutiveFailures),
      [1, 2],
    );
  });

  it('stop ends probing for good', async () => {
    const { clock, reports, checker } = setUp(healthSpec(), [bad]);
    await advance(clock, 1_000);
    checker.stop();
    await advance(clock, 10_000);
    assert.equal(reports.length, 1);
    assert.equal(checker.running, false);
  });

  it('reads HTTP 200–399 and connected TCP as healthy, the rest and errors as failures', () => {
    assert.deepEqual(healthVerdict({ kind: 'http', statusCode: 200 }), { healthy: true });
    assert.deepEqual(healthVerdict({ kind: 'http', statusCode: 399 }), { healthy: true });
    assert.deepEqual(healthVerdict({ kind: 'http', statusCode: 199 }), {
      healthy: false,
      why: 'Unexpected HTTP response code: 199',
    });
    assert.equal(healthVerdict({ kind: 'http', statusCode: 400 })?.healthy, false);
    assert.equal(healthVerdict({ kind: 'http', statusCode: 503 })?.healthy, false);
    assert.deepEqual(healthVerdict({ kind: 'tcp', succeeded: true }), { healthy: true });
    assert.equal(healthVerdict({ kind: 'tcp', succeeded: false })?.healthy, false);
    assert.deepEqual(healthVerdict({ kind: 'error', message: 'refused' }), {
      healthy: false,
      why: 'refused',
    });
    assert.equal(healthVerdict({ kind: 'unavailable', message: '' }), undefined);
  });
});

describe('Checker (generalized checks)', () => {
  const json = (status: CheckStatusInfo) => toJson(CheckStatusInfoSchema, status);

  function setUp(spec: CheckSpec, outcomes: ProbeOutcome[]) {
    const clock = new ManualClock(0);
    const statuses: CheckStatusInfo[] = [];
    const checker = new Checker(spec, {
      clock,
      probe: immediate(outcomes),
      onStatus: (status) => statuses.push(status),
    });
    checker.start();
    return { clock, statuses, checker };
  }

  const commandSpec: CheckSpec = {
    type: CheckInfo_Type.COMMAND,
    probe: { kind: 'command', command: create(HealthCheckSchema).command! },
    delayMs: 0,
    intervalMs: 1_000,
    timeoutMs: 0,
  };

  it('reports the raw result whenever it changes, not when it repeats', async () => {
    const { clock, statuses, checker } = setUp(commandSpec, [
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 1 },
      { kind: 'command', exitCode: 0 },
      { kind: 'command', exitCode: 0 },
      { kind: 'command', exitCode: 3 },
    ]);
    await advance(clock, 4_500);
    assert.deepEqual(statuses.map(json), [
      { type: 'COMMAND', command: { exitCode: 1 } },
      { type: 'COMMAND', command: { exitCode: 0 } },
      { type: 'COMMAND', command: { exitCode: 3 } },
    ]);
    assert.deepEqual(json(checker.status), { type: 'COMMAND', command: { exitCode: 3 } });
  });

  it('an error or timeout is the empty result of the type; starting empty, a first error reports nothing', async () => {
    const { clock, statuses } = setUp(commandSpec, [
      { kind: 'error', message: 'timed out' },
      { kind: 'command', exitCode: 0 },
      { kind: 'error', message: 'timed out' },
      { kind: 'unavailable', message: 'agent away' },
    ]);
    await advance(clock, 3_500);
    assert.deepEqual(statuses.map(json), [
      { type: 'COMMAND', command: { exitCode: 0 } },
      { type: 'COMMAND', command: {} },
    ]);
  });

  it('HTTP and TCP results carry the status code and whether the connection succeeded', () => {
    assert.deepEqual(json(checkStatusFromOutcome(CheckInfo_Type.HTTP, { kind: 'http', statusCode: 503 })!), {
      type: 'HTTP',
      http: { statusCode: 503 },
    });
    assert.deepEqual(json(checkStatusFromOutcome(CheckInfo_Type.TCP, { kind: 'tcp', succeeded: false })!), {
      type: 'TCP',
      tcp: { succeeded: false },
    });
    assert.deepEqual(json(checkStatusFromOutcome(CheckInfo_Type.HTTP, { kind: 'error', message: 'x' })!), {
      type: 'HTTP',
      http: {},
    });
    assert.deepEqual(json(emptyCheckStatus(CheckInfo_Type.TCP)), { type: 'TCP', tcp: {} });
    assert.equal(checkStatusFromOutcome(CheckInfo_Type.TCP, { kind: 'unavailable', message: '' }), undefined);
  });
});

describe('health check and check configuration', () => {
  it('applies the proto defaults: delay 15 s, interval 10 s, timeout 20 s, grace 10 s, 3 failures', () => {
    const parsed = parseHealthCheck(
      create(HealthCheckSchema, { type: HealthCheck_Type.TCP, tcp: { port: 8080 } }),
    );
    assert.deepEqual(parsed, {
      ok: true,
      spec: {
        probe: { kind: 'tcp', host: '127.0.0.1', port: 8080 },
        delayMs: 15_000,
        intervalMs: 10_000,
        timeoutMs: 20_000,
        consecutiveFailures: 3,
        gracePeriodMs: 10_000,
      },
    });
    const check = parseCheck(create(CheckInfoSchema, { type: CheckInfo_Type.HTTP, http: { port: 80 } }));
    assert.deepEqual(check, {
      ok: true,
      spec: {
        type: CheckInfo_Type.HTTP,
        probe: { kind: 'http', url: 'http://127.0.0.1:80' },
        delayMs: 15_000,
        intervalMs: 10_000,
        timeoutMs: 20_000,
      },
    });
  });

  it('builds HTTP URLs with scheme, path and IPv6 loopback', () => {
    const https = parseHealthCheck(
      create(HealthCheckSchema, {
        type: HealthCheck_Type.HTTP,
        http: { port: 8443, scheme: 'https', path: '/health' },
        delaySeconds: 0.5,
      }),
    );
    assert.ok(https.ok);
    assert.deepEqual(https.spec.probe, { kind: 'http', url: 'https://127.0.0.1:8443/health' });
    assert.equal(https.spec.delayMs, 500);
    const v6 = parseHealthCheck(
      create(HealthCheckSchema, {
        type: HealthCheck_Type.HTTP,
        http: { port: 80, path: '/', protocol: NetworkInfo_Protocol.IPv6 },
      }),
    );
    assert.ok(v6.ok);
    assert.deepEqual(v6.spec.probe, { kind: 'http', url: 'http://[::1]:80/' });
  });

  it('refuses what cannot be run, with Mesos texts', () => {
    const fail = (parsed: { ok: boolean; message?: string }) => (parsed.ok ? 'ok' : parsed.message);
    assert.equal(fail(parseHealthCheck(create(HealthCheckSchema, {}))), "HealthCheck must specify 'type'");
    assert.equal(
      fail(parseHealthCheck(create(HealthCheckSchema, { type: HealthCheck_Type.COMMAND }))),
      "Expecting 'command' to be set for COMMAND health check",
    );
    assert.equal(
      fail(
        parseHealthCheck(
          create(HealthCheckSchema, { type: HealthCheck_Type.HTTP, http: { port: 1, scheme: 'ftp' } }),
        ),
      ),
      "Unsupported HTTP health check scheme: 'ftp'",
    );
    assert.equal(
      fail(
        parseHealthCheck(
          create(HealthCheckSchema, { type: HealthCheck_Type.TCP, tcp: { port: 1 }, intervalSeconds: -1 }),
        ),
      ),
      "Expecting 'interval_seconds' to be non-negative",
    );
    assert.equal(fail(parseCheck(create(CheckInfoSchema, {}))), "CheckInfo must specify 'type'");
    assert.equal(
      fail(parseCheck(create(CheckInfoSchema, { type: CheckInfo_Type.TCP }))),
      "Expecting 'tcp' to be set for TCP check",
    );
  });
});
