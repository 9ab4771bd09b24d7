/**
 * `GET /metrics` (Prometheus text format) on a real master and agent, read with a parser
 * (test/support/prometheus.ts): before any work, every `/metrics/snapshot` key is there under its
 * mapped name and kind; after one task has run and every update was acknowledged, the counters
 * moved, and the histograms (allocation cycle, offer to launch, status-update round trip on both
 * processes) are consistent with themselves and with the snapshot's timer keys.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { describeKnown } from '../../../src/metrics/catalog.js';
import { prometheusName } from '../../../src/metrics/names.js';
import { type Offer, TaskState, type TaskStatus } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, type Event, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { Exposition } from '../../support/prometheus.js';
import { post, TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;

/** Snapshot keys written by timers: `<key>_ms` and `<key>_ms/<statistic>`; /metrics has histograms instead. */
const TIMER_KEY = /_ms(\/[a-z0-9]+)?$/;

/** Keys whose value cannot change between two requests once the cluster is idle. */
const STABLE_KEY =
  /^(master|slave)\/(tasks_|messages_|slaves_|frameworks_|valid_|invalid_|slave_|executors_|(cpus|mem|disk|gpus)(_revocable)?_(total|used)$)/;

async function scrape(url: string): Promise<{ exposition: Exposition; contentType: string }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return {
    exposition: new Exposition(await response.text()),
    contentType: response.headers.get('content-type') ?? '',
  };
}

async function snapshot(url: string): Promise<Record<string, number>> {
  const response = await fetch(`${url}/metrics/snapshot`);
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, number>;
}

/** Every non-timer snapshot key is catalogued and exposed under its name, kind and (if stable) value. */
function assertSameValues(snap: Record<string, number>, exposition: Exposition): void {
  for (const [key, value] of Object.entries(snap)) {
    if (TIMER_KEY.test(key)) continue;
    const description = describeKnown(key);
    assert.ok(description, `snapshot key ${key} has a rule in src/metrics/catalog.ts`);
    const family = exposition.family(prometheusName(key, description.kind));
    assert.equal(family.kind, description.kind, key);
    assert.ok(family.help.length > 0, `${key} has HELP`);
    if (STABLE_KEY.test(key)) assert.equal(exposition.value(family.name), value, key);
  }
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone already, or not ours to see
    }
  }
}

describe('Prometheus /metrics on master and agent', { timeout: 120_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let scheduler: TestScheduler | undefined;

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, [
      '--resources=cpus:2;mem:512;disk:512',
      '--logging_level=warn',
    ]);
    await until(
      'the agent to register',
      () => snapshot(agent.url),
      (snap) => snap['slave/registered'] === 1,
    );
  });

  after(async () => {
    scheduler?.close();
    await agent?.process.stop();
    if (agent) killProcessesUnder(agent.workDir);
    await master?.process.stop();
  });

  it('serves every snapshot key, with the Prometheus content type, GET only', async () => {
    for (const url of [master.url, agent.url]) {
      const snap = await snapshot(url);
      const { exposition, contentType } = await scrape(url);
      assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
      assertSameValues(snap, exposition);
      assert.equal(exposition.family('process_cpu_seconds_total').kind, 'counter');
      const refused = await post(`${url}/metrics`, '', {});
      assert.equal(refused.status, 405);
    }
    const masterMetrics = (await scrape(master.url)).exposition;
    assert.equal(masterMetrics.value('mesos_master_elected'), 1);
    assert.equal(masterMetrics.value('mesos_master_slaves_active'), 1);
    assert.equal(masterMetrics.value('mesos_master_cpus_total'), 2);
    assert.equal(masterMetrics.family('mesos_master_tasks_finished_total').kind, 'counter');
    assert.equal(masterMetrics.family('mesos_master_tasks_running').kind, 'gauge');
    assert.equal((await scrape(agent.url)).exposition.value('mesos_slave_registered'), 1);
  });

  it('after a task ran: counters moved, histograms are consistent and match the snapshot timers', async () => {
    const before = (await scrape(master.url)).exposition;
    const allocationsBefore = before.histogram('mesos_allocator_mesos_allocation_run_seconds').count;
    assert.ok(allocationsBefore > 0, 'allocation cycles ran while the cluster was idle');
    assert.equal(before.histogram('mesos_master_offer_to_launch_seconds').count, 0);
    assert.equal(before.histogram('mesos_master_status_update_round_trip_seconds').count, 0);

    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'prometheus',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }],
    });
    const offer: Offer = (await scheduler.nextOfType(Event_Type.OFFERS)).offers!.offers[0]!;
    // Let the offer wait a moment, so offer-to-launch has a lower bound to check.
    await new Promise((resolve) => setTimeout(resolve, 30));
    await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 1,
            launch: {
              taskInfos: [
                {
                  name: 'once',
                  taskId: { value: 'once' },
                  agentId: offer.agentId!,
                  command: { value: 'true' },
                  resources: [
                    { name: 'cpus', type: 0, scalar: { value: 0.1 } },
                    { name: 'mem', type: 0, scalar: { value: 16 } },
                  ],
                },
              ],
            },
          },
        ],
        filters: { refuseSeconds: 3600 },
      },
    });
    let acks = 0;
    for (;;) {
      const event: Event = await scheduler.nextOfType(Event_Type.UPDATE, 30_000);
      const status: TaskStatus = event.update!.status!;
      assert.equal(status.uuid.length, 16, 'updates from the executor carry a uuid');
      await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
      acks++;
      if (status.state === TaskState.TASK_FINISHED) break;
      assert.ok(
        [TaskState.TASK_STARTING, TaskState.TASK_RUNNING].includes(status.state),
        TaskState[status.state],
      );
    }
    assert.ok(acks >= 2, 'at least TASK_RUNNING and TASK_FINISHED');

    // Master: the ACKNOWLEDGE calls were handled before their 202s came back.
    const m = (await scrape(master.url)).exposition;
    assert.equal(m.value('mesos_master_tasks_finished_total'), 1);
    assert.equal(m.value('mesos_master_tasks_running'), 0);
    assert.equal(m.value('mesos_master_messages_launch_tasks_total'), 1);
    assert.equal(m.value('mesos_master_messages_status_update_acknowledgement_total'), acks);
    assert.equal(m.value('mesos_master_valid_status_updates_total'), acks);
    const launch = m.histogram('mesos_master_offer_to_launch_seconds');
    assert.equal(launch.count, 1, 'one offer was accepted with a LAUNCH');
    assert.ok(launch.sum >= 0.025 && launch.sum < 30, `offer waited ~30 ms: ${launch.sum} s`);
    const firstBucketAbove = launch.buckets.find(([le]) => le >= launch.sum)!;
    assert.equal(firstBucketAbove[1], 1, 'the observation is counted in the bucket that holds it');
    const masterRoundTrip = m.histogram('mesos_master_status_update_round_trip_seconds');
    assert.equal(masterRoundTrip.count, acks, 'one round trip per acknowledged update');
    assert.ok(masterRoundTrip.sum > 0);
    const allocations = m.histogram('mesos_allocator_mesos_allocation_run_seconds');
    assert.ok(allocations.count > allocationsBefore);
    assert.ok(m.value('mesos_allocator_mesos_allocation_runs_total') <= allocations.count);

    // The snapshot carries the same timers, libprocess style.
    const snap = await snapshot(master.url);
    assert.ok(
      Math.abs(snap['master/offer_to_launch_ms']! - launch.sum * 1000) < 1e-6,
      'the one offer-to-launch value is the histogram sum',
    );
    assert.equal(
      snap['master/offer_to_launch_ms/count'],
      undefined,
      'libprocess: statistics from two values on',
    );
    assert.equal(snap['master/status_update_round_trip_ms/count'], acks);
    assert.ok(
      snap['master/status_update_round_trip_ms/p50']! <= snap['master/status_update_round_trip_ms/max']!,
    );
    assert.ok(snap['allocator/mesos/allocation_run_ms/count']! >= 2);
    assert.ok(snap['allocator/mesos/allocation_runs']! >= allocations.count);
    assertSameValues(snap, (await scrape(master.url)).exposition);

    // Agent: the master relays each acknowledgement over the link, so wait for the last one.
    const a = await until(
      'the agent to see every acknowledgement',
      async () => (await scrape(agent.url)).exposition,
      (e) => e.histogram('mesos_slave_status_update_round_trip_seconds').count === acks,
    );
    const agentRoundTrip = a.histogram('mesos_slave_status_update_round_trip_seconds');
    assert.ok(agentRoundTrip.sum >= masterRoundTrip.sum, 'the agent’s loop contains the master’s');
    assert.equal(a.value('mesos_slave_tasks_finished_total'), 1);
    assert.equal(a.value('mesos_slave_valid_status_updates_total'), acks);
    const agentSnap = await snapshot(agent.url);
    assert.equal(agentSnap['slave/status_update_round_trip_ms/count'], acks);
    assertSameValues(agentSnap, (await scrape(agent.url)).exposition);
  });
});
