/**
 * Fair sharing with real processes: roles of weight 1 and 3 converge to a 1:3 share of a full
 * cluster; an agent one framework refuses goes to the other, and the allocator explains why the
 * refusing framework gets no offer from it (STRATA_EXPLAIN_OFFERS and /master/state).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Call_Type as OperatorCall } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import type { Offer } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { operatorCall } from '../../support/operator-client.js';
import { startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;

function scalar(offer: Offer, name: string): number {
  return offer.resources.filter((r) => r.name === name).reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0);
}

describe('fair sharing between roles', { timeout: 120_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function subscribe(url: string, role: string): Promise<TestScheduler> {
    const scheduler = await new TestScheduler(url).subscribe({
      user: 'root',
      name: `fair-${role}`,
      roles: [role],
      capabilities: [{ type: MULTI_ROLE }],
    });
    cleanups.push(() => scheduler.close());
    return scheduler;
  }

  it('roles weighted 1 and 3 converge to a 1:3 share of a full cluster', async () => {
    const master = await startMasterProcess([
      '--allocation_interval=50ms',
      '--logging_level=warn',
      '--weights=heavy=3',
    ]);
    cleanups.push(() => master.process.stop());
    // Both frameworks are there before any agent, so no one takes the cluster before the other comes.
    const light = await subscribe(master.url, 'light');
    const heavy = await subscribe(master.url, 'heavy');

    const agents = await Promise.all(
      [0, 1, 2, 3].map(() =>
        startAgentProcess(master.port, ['--resources=cpus:1;mem:256;disk:64', '--logging_level=warn']),
      ),
    );
    for (const agent of agents) cleanups.push(() => agent.process.stop());
    // Wait until every agent is registered.
    for (;;) {
      const state = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: unknown[] };
      if (state.slaves.length === 4) break;
      await sleep(100);
    }
    // Each framework takes every offer whole: one long task per agent.
    const taken = new Map<TestScheduler, Set<string>>([
      [light, new Set()],
      [heavy, new Set()],
    ]);
    const take = async (scheduler: TestScheduler) => {
      for (;;) {
        let event: Awaited<ReturnType<TestScheduler['nextOfType']>>;
        try {
          event = await scheduler.nextOfType(Event_Type.OFFERS, 60_000);
        } catch {
          return;
        }
        for (const offer of event.offers?.offers ?? []) {
          const cpus = scalar(offer, 'cpus');
          const mem = scalar(offer, 'mem');
          if (cpus < 0.5) {
            await scheduler.call({
              type: Call_Type.DECLINE,
              decline: { offerIds: [offer.id!], filters: { refuseSeconds: 3600 } },
            });
            continue;
          }
          const id = `task-${offer.agentId!.value}`;
          taken.get(scheduler)!.add(offer.agentId!.value);
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
                        name: id,
                        taskId: { value: id },
                        agentId: offer.agentId!,
                        command: { value: 'sleep 600' },
                        resources: [
                          {
                            name: 'cpus',
                            type: 0,
                            scalar: { value: cpus - 0.1 },
                            allocationInfo: offer.resources[0]!.allocationInfo!,
                          },
                          {
                            name: 'mem',
                            type: 0,
                            scalar: { value: mem - 32 },
                            allocationInfo: offer.resources[0]!.allocationInfo!,
                          },
                        ],
                      },
                    ],
                  },
                },
              ],
              filters: { refuseSeconds: 3600 },
            },
          });
        }
      }
    };
    void take(light);
    void take(heavy);
    for (let waited = 0; taken.get(light)!.size + taken.get(heavy)!.size < 4; waited += 100) {
      if (waited > 30_000)
        throw new Error(`cluster not filled: ${taken.get(light)!.size} + ${taken.get(heavy)!.size}`);
      await sleep(100);
    }
    assert.equal(taken.get(light)!.size, 1, 'weight 1 gets a quarter of the agents');
    assert.equal(taken.get(heavy)!.size, 3, 'weight 3 gets three quarters');

    const roles = await operatorCall(master.url, { type: OperatorCall.GET_ROLES });
    const byName = new Map(roles.response?.getRoles?.roles.map((r) => [r.name, r]));
    assert.equal(byName.get('heavy')?.weight, 3);
    assert.equal(byName.get('light')?.weight, 1);
  });

  it('an agent one framework refuses goes to the other, and the refusal is explained', async () => {
    const master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    cleanups.push(() => master.process.stop());
    const agent = await startAgentProcess(master.port, [
      '--resources=cpus:2;mem:512;disk:64',
      '--logging_level=warn',
    ]);
    cleanups.push(() => agent.process.stop());
    const first = await subscribe(master.url, 'first');
    const second = await subscribe(master.url, 'second');

    // Whoever is offered the agent first refuses it for an hour. (Polling the event lists rather
    // than racing two waits, which would leave a waiter behind to swallow a later offer.)
    const offersOf = (s: TestScheduler) => s.events.filter((e) => e.type === Event_Type.OFFERS);
    for (let waited = 0; offersOf(first).length + offersOf(second).length === 0; waited += 50) {
      if (waited > 20_000) throw new Error('no offer');
      await sleep(50);
    }
    const refuser = offersOf(first).length > 0 ? first : second;
    const other = refuser === first ? second : first;
    const offer = offersOf(refuser)[0]!.offers!.offers[0]!;
    await refuser.call({
      type: Call_Type.DECLINE,
      decline: { offerIds: [offer.id!], filters: { refuseSeconds: 3600 } },
    });
    const next = await other.nextOfType(Event_Type.OFFERS, 10_000);
    assert.equal(
      next.offers!.offers[0]!.agentId!.value,
      offer.agentId!.value,
      'the other framework gets the agent',
    );
    // The other framework refuses it too, so the agent sits idle and only filters keep it back.
    await other.call({
      type: Call_Type.DECLINE,
      decline: { offerIds: [next.offers!.offers[0]!.id!], filters: { refuseSeconds: 3600 } },
    });
    await sleep(500);
    assert.equal(
      refuser.events.filter((e) => e.type === Event_Type.OFFERS).length,
      1,
      'the refusing framework is not offered the agent again',
    );

    const explained = await operatorCall(master.url, {
      type: OperatorCall.STRATA_EXPLAIN_OFFERS,
      strataExplainOffers: { frameworkId: { value: refuser.frameworkId } },
    });
    assert.equal(explained.status, 200, explained.body);
    const [explanation] = explained.response?.strataExplainOffers?.explanations ?? [];
    assert.equal(explanation?.reason, 'FILTERED');
    assert.equal(explanation?.agentId?.value, offer.agentId!.value);
    assert.match(explanation?.message ?? '', /filtered until/);
    const until = Number(explanation?.filteredUntil?.nanoseconds ?? 0n) / 1e6;
    assert.ok(
      until > Date.now() + 3_000_000,
      `the filter lasts about an hour (${new Date(until).toISOString()})`,
    );

    // The same, summarised in /master/state for the UI and CLI.
    const state = (await (await fetch(`${master.url}/master/state`)).json()) as {
      frameworks: Array<{ id: string; strata_offer_summary: Record<string, number> }>;
    };
    const summary = state.frameworks.find((f) => f.id === refuser.frameworkId)?.strata_offer_summary;
    assert.deepEqual(summary, { FILTERED: 1 });

    // Suppressed offers are explained as such; an unknown framework is a 404.
    await other.call({ type: Call_Type.SUPPRESS, suppress: { roles: [] } });
    const suppressed = await operatorCall(master.url, {
      type: OperatorCall.STRATA_EXPLAIN_OFFERS,
      strataExplainOffers: { frameworkId: { value: other.frameworkId } },
    });
    assert.equal(suppressed.response?.strataExplainOffers?.explanations[0]?.reason, 'SUPPRESSED');
    const unknown = await operatorCall(master.url, {
      type: OperatorCall.STRATA_EXPLAIN_OFFERS,
      strataExplainOffers: { frameworkId: { value: 'nobody' } },
    });
    assert.equal(unknown.status, 404);
  });
});
