/**
 * Reference mesos-v1-api.md section 8.2 cases that need a real agent and executor: status-update
 * retries (F3), implicit reconciliation of live tasks (F5), MESSAGE to an executor and back (F13),
 * and KILL of a running command task.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Offer, TaskState, TaskStatus_Reason } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { REPO_ROOT, startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;

function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

const small = [
  { name: 'cpus', type: 0, scalar: { value: 0.1 } },
  { name: 'mem', type: 0, scalar: { value: 32 } },
];

describe('scheduler semantics with a real agent', { timeout: 120_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let scheduler: TestScheduler;

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, ['--resources=cpus:4;mem:2048', '--logging_level=warn']);
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'semantics',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.process.stop();
    if (agent) killProcessesUnder(agent.workDir);
    await master?.process.stop();
  });

  /** Launches on the first offer big enough for a task plus an executor (offers may be small leftovers). */
  async function launch(task: Record<string, unknown>): Promise<Offer> {
    for (;;) {
      const event = await scheduler.nextOfType(Event_Type.OFFERS);
      for (const offer of event.offers!.offers) {
        const cpus = offer.resources
          .filter((r) => r.name === 'cpus')
          .reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
        const mem = offer.resources
          .filter((r) => r.name === 'mem')
          .reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
        if (cpus < 0.3 || mem < 96) continue;
        const res = await scheduler.call({
          type: Call_Type.ACCEPT,
          accept: {
            offerIds: [offer.id!],
            operations: [
              { type: 1, launch: { taskInfos: [{ agentId: offer.agentId!, resources: small, ...task }] } },
            ],
            filters: { refuseSeconds: 0 },
          },
        });
        assert.equal(res.status, 202);
        return offer;
      }
    }
  }

  async function update(taskId: string, timeoutMs = 20_000) {
    const event = await scheduler.next(
      (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === taskId,
      timeoutMs,
      `an update of ${taskId}`,
    );
    return event.update!.status!;
  }

  async function ack(status: Awaited<ReturnType<typeof update>>): Promise<void> {
    assert.equal(
      status.uuid.length,
      16,
      `expected an agent update, got ${TaskState[status.state]}: ${status.message}`,
    );
    const res = await scheduler.call({
      type: Call_Type.ACKNOWLEDGE,
      acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
    });
    assert.equal(res.status, 202);
  }

  it('F3: an unacknowledged update is re-sent with the same uuid, and nothing follows it until acked', async () => {
    await launch({ name: 'f3', taskId: { value: 'f3' }, command: { value: 'sleep 1' } });
    const starting = await update('f3');
    assert.equal(starting.state, TaskState.TASK_STARTING);
    await ack(starting);
    const running = await update('f3');
    assert.equal(running.state, TaskState.TASK_RUNNING);
    // Not acknowledged: the agent resends it (first retry after 10 s) and holds back FINISHED.
    const again = await update('f3', 15_000);
    assert.equal(again.state, TaskState.TASK_RUNNING);
    assert.deepEqual(again.uuid, running.uuid);
    await ack(again);
    const finished = await update('f3');
    assert.equal(finished.state, TaskState.TASK_FINISHED);
    await ack(finished);
  });

  it('F5: implicit reconciliation reports every live task with REASON_RECONCILIATION', async () => {
    await launch({ name: 'f5', taskId: { value: 'f5' }, command: { value: 'sleep 60' } });
    for (;;) {
      const status = await update('f5');
      await ack(status);
      if (status.state === TaskState.TASK_RUNNING) break;
    }
    assert.equal((await scheduler.call({ type: Call_Type.RECONCILE, reconcile: {} })).status, 202);
    const reconciled = await update('f5');
    assert.equal(reconciled.state, TaskState.TASK_RUNNING);
    assert.equal(reconciled.reason, TaskStatus_Reason.RECONCILIATION);
    assert.equal(reconciled.uuid.length, 0);
  });

  it('KILL of a running command task ends it with TASK_KILLED', async () => {
    assert.equal(
      (await scheduler.call({ type: Call_Type.KILL, kill: { taskId: { value: 'f5' } } })).status,
      202,
    );
    const killed = await update('f5');
    assert.equal(killed.state, TaskState.TASK_KILLED);
    await ack(killed);
  });

  it('F13: MESSAGE reaches the executor with the same bytes, and its reply comes back', async () => {
    const offer = await launch({
      name: 'f13',
      taskId: { value: 'f13' },
      executor: {
        executorId: { value: 'echo-executor' },
        command: {
          value: process.execPath,
          shell: false,
          arguments: [process.execPath, join(REPO_ROOT, 'dist', 'test', 'support', 'test-executor.js')],
        },
        resources: small,
      },
    });
    for (;;) {
      const status = await update('f13');
      await ack(status);
      if (status.state === TaskState.TASK_RUNNING) break;
    }
    const data = Buffer.from('hello');
    const res = await scheduler.call({
      type: Call_Type.MESSAGE,
      message: { agentId: offer.agentId!, executorId: { value: 'echo-executor' }, data },
    });
    assert.equal(res.status, 202);
    const reply = await scheduler.nextOfType(Event_Type.MESSAGE);
    assert.equal(reply.message?.executorId?.value, 'echo-executor');
    assert.equal(reply.message?.agentId?.value, offer.agentId?.value);
    assert.equal(Buffer.from(reply.message!.data).toString(), 'hello');
  });
});
