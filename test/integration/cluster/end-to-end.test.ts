/**
 * The whole path with real processes on loopback: `strata master`, `strata agent`s and the
 * built-in command executor, driven by a scheduler written from the v1 spec.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Offer, TaskState } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, type Event, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { type StrataProcess, startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler, withTimeout } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const PARTITION_AWARE = 5;

/** Executors outlive a killed agent by design; tests clean up whatever runs inside their dirs. */
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

function scalar(offer: Offer, name: string): number {
  return offer.resources.filter((r) => r.name === name).reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0);
}

function taskInfo(offer: Offer, id: string, command: string, cpus = 0.1, mem = 16) {
  return {
    name: id,
    taskId: { value: id },
    agentId: offer.agentId!,
    command: { value: command },
    resources: [
      { name: 'cpus', type: 0, scalar: { value: cpus } },
      { name: 'mem', type: 0, scalar: { value: mem } },
    ],
  };
}

/**
 * Acknowledges each update that carries a uuid exactly once, and records what it saw. A resend
 * that crossed our acknowledgement on the wire is legal (the agent retries until it hears the ack);
 * it is counted in `duplicates`, recorded once, and not acknowledged again.
 */
function autoAcknowledge(
  scheduler: TestScheduler,
  seen: Map<string, TaskState[]>,
  acked: Set<string>,
  duplicates: { count: number },
): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      let event: Event;
      try {
        event = await scheduler.nextOfType(Event_Type.UPDATE, 60_000);
      } catch {
        return;
      }
      const status = event.update?.status;
      if (!status) continue;
      const taskId = status.taskId?.value ?? '';
      if (status.uuid.length !== 16) {
        seen.set(taskId, [...(seen.get(taskId) ?? []), status.state]);
        continue;
      }
      const key = `${taskId}/${Buffer.from(status.uuid).toString('hex')}`;
      if (acked.has(key)) {
        duplicates.count++;
        continue;
      }
      acked.add(key);
      seen.set(taskId, [...(seen.get(taskId) ?? []), status.state]);
      await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}

describe('end to end: master, agents, command executor', { timeout: 240_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  const agents: Array<Awaited<ReturnType<typeof startAgentProcess>>> = [];
  const schedulers: TestScheduler[] = [];
  const extra: StrataProcess[] = [];

  // Default pings for the busy part (a hundred executors starting on two cores can stall an
  // agent's event loop for seconds); a second master with short pings for the agent-loss cases.
  let lossMaster: Awaited<ReturnType<typeof startMasterProcess>>;

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    lossMaster = await startMasterProcess([
      '--allocation_interval=50ms',
      '--agent_ping_timeout=500ms',
      '--max_agent_ping_timeouts=4',
      '--logging_level=warn',
    ]);
    for (let i = 0; i < 3; i++) {
      agents.push(
        await startAgentProcess(master.port, [
          '--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]',
          '--logging_level=warn',
          `--attributes=rack:r${i}`,
        ]),
      );
    }
  });

  after(async () => {
    for (const s of schedulers) s.close();
    for (const a of agents) {
      await a.process.stop();
      killProcessesUnder(a.workDir);
    }
    for (const p of extra) await p.stop();
    await master.process.stop();
    await lossMaster.process.stop();
  });

  it('F1: offers carry the agent resources, attributes and URL', async () => {
    const scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'offers',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }],
    });
    schedulers.push(scheduler);
    const offers: Offer[] = [];
    while (offers.length < 3) {
      const event = await scheduler.nextOfType(Event_Type.OFFERS);
      offers.push(...(event.offers?.offers ?? []));
    }
    const agentIds = new Set(offers.map((o) => o.agentId?.value));
    assert.equal(agentIds.size, 3);
    for (const offer of offers) {
      assert.equal(scalar(offer, 'cpus'), 2);
      assert.equal(scalar(offer, 'mem'), 1024);
      assert.equal(scalar(offer, 'disk'), 1024);
      const ports = offer.resources.find((r) => r.name === 'ports');
      assert.deepEqual(
        ports?.ranges?.range.map((r) => [r.begin, r.end]),
        [[31000n, 32000n]],
      );
      assert.equal(offer.url?.path, '/slave(1)');
      assert.equal(offer.allocationInfo?.role, '*');
      assert.match(offer.attributes[0]?.text?.value ?? '', /^r[0-2]$/);
    }
    await scheduler.call({ type: Call_Type.TEARDOWN });
  });

  it('launches 100 short tasks across 3 agents; every TASK_FINISHED is acknowledged once', async () => {
    const scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'hundred',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }],
    });
    schedulers.push(scheduler);
    const seen = new Map<string, TaskState[]>();
    const acked = new Set<string>();
    const duplicates = { count: 0 };
    const started = Date.now();
    const stop = autoAcknowledge(scheduler, seen, acked, duplicates);
    let launched = 0;
    const usedAgents = new Set<string>();
    const finished = () => [...seen.values()].filter((s) => s.includes(TaskState.TASK_FINISHED)).length;
    const deadline = Date.now() + 180_000;
    while (finished() < 100 && Date.now() < deadline) {
      const event = await scheduler.nextOfType(Event_Type.OFFERS, 30_000);
      for (const offer of event.offers?.offers ?? []) {
        const tasks = [];
        let cpus = scalar(offer, 'cpus');
        let mem = scalar(offer, 'mem');
        while (launched < 100 && cpus >= 0.1 - 1e-9 && mem >= 16 && tasks.length < 12) {
          tasks.push(taskInfo(offer, `task-${launched++}`, 'true'));
          cpus -= 0.1;
          mem -= 16;
        }
        if (tasks.length > 0) usedAgents.add(offer.agentId?.value ?? '');
        await scheduler.call({
          type: Call_Type.ACCEPT,
          accept: {
            offerIds: [offer.id!],
            operations: tasks.length > 0 ? [{ type: 1, launch: { taskInfos: tasks } }] : [],
            filters: { refuseSeconds: 0 },
          },
        });
      }
    }
    stop();
    console.log(
      `# 100 tasks on 3 agents finished in ${Date.now() - started} ms; ${duplicates.count} resent update(s) crossed an ack`,
    );
    assert.equal(finished(), 100, `finished ${finished()} of 100`);
    assert.equal(usedAgents.size, 3, 'tasks ran on all three agents');
    for (const [taskId, states] of seen) {
      assert.equal(
        states.filter((s) => s === TaskState.TASK_FINISHED).length,
        1,
        `${taskId}: ${states.map((s) => TaskState[s])}`,
      );
      assert.ok(states.includes(TaskState.TASK_RUNNING), `${taskId} ran`);
    }
    await scheduler.call({ type: Call_Type.TEARDOWN });
  });

  for (const partitionAware of [true, false]) {
    it(`agent loss: RESCIND, then ${partitionAware ? 'TASK_UNREACHABLE' : 'TASK_LOST'}, then FAILURE`, async () => {
      const victim = await startAgentProcess(lossMaster.port, [
        '--resources=cpus:1;mem:256',
        '--logging_level=warn',
      ]);
      const scheduler = await new TestScheduler(lossMaster.url).subscribe({
        user: 'root',
        name: `loss-${partitionAware}`,
        roles: ['*'],
        checkpoint: true,
        capabilities: [{ type: MULTI_ROLE }, ...(partitionAware ? [{ type: PARTITION_AWARE }] : [])],
      });
      schedulers.push(scheduler);
      const victimId = await withTimeout(
        (async () => {
          for (;;) {
            const state = (await (await fetch(`${victim.url}/state`)).json()) as { id?: string };
            if (state.id) return state.id;
            await new Promise((r) => setTimeout(r, 50));
          }
        })(),
        10_000,
        'agent id',
      );
      // Launch a long task on the victim, keep declining everyone else's offers.
      let launchedOn: Offer | undefined;
      while (!launchedOn) {
        const event = await scheduler.nextOfType(Event_Type.OFFERS);
        for (const offer of event.offers?.offers ?? []) {
          const mine = offer.agentId?.value === victimId && !launchedOn;
          if (mine) launchedOn = offer;
          await scheduler.call({
            type: Call_Type.ACCEPT,
            accept: {
              offerIds: [offer.id!],
              operations: mine
                ? [{ type: 1, launch: { taskInfos: [taskInfo(offer, 'long', 'sleep 1000')] } }]
                : [],
              filters: { refuseSeconds: mine ? 0 : 3600 },
            },
          });
        }
      }
      for (;;) {
        const update = await scheduler.nextOfType(Event_Type.UPDATE);
        const status = update.update!.status!;
        if (status.uuid.length > 0) {
          await scheduler.call({
            type: Call_Type.ACKNOWLEDGE,
            acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
          });
        }
        if (status.state === TaskState.TASK_RUNNING) break;
      }
      // Hold an offer from the victim so there is something to rescind.
      const held = await scheduler.next(
        (e) =>
          e.type === Event_Type.OFFERS && (e.offers?.offers ?? []).some((o) => o.agentId?.value === victimId),
        10_000,
        'an offer from the victim',
      );
      const heldOffer = held.offers!.offers.find((o) => o.agentId?.value === victimId)!;
      const order: string[] = [];
      const rescind = scheduler
        .next(
          (e) => e.type === Event_Type.RESCIND && e.rescind?.offerId?.value === heldOffer.id?.value,
          20_000,
          'RESCIND',
        )
        .then(() => order.push('RESCIND'));
      const lost = scheduler
        .next(
          (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === 'long',
          20_000,
          'the lost task update',
        )
        .then((e) => {
          order.push('UPDATE');
          return e;
        });
      const failure = scheduler
        .next(
          (e) => e.type === Event_Type.FAILURE && e.failure?.agentId?.value === victimId,
          20_000,
          'FAILURE',
        )
        .then(() => order.push('FAILURE'));
      await victim.process.kill();
      const [, update] = await Promise.all([rescind, lost, failure]);
      killProcessesUnder(victim.workDir);
      const status = update.update!.status!;
      assert.equal(status.state, partitionAware ? TaskState.TASK_UNREACHABLE : TaskState.TASK_LOST);
      assert.equal(status.uuid.length, 0, 'master-generated updates carry no uuid');
      assert.deepEqual(order, ['RESCIND', 'UPDATE', 'FAILURE']);
      await scheduler.call({ type: Call_Type.TEARDOWN });
    });
  }
});
