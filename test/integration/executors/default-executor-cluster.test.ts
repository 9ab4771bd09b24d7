/**
 * Reference §8.2 F21 with real processes: a master, an agent and the built-in default executor.
 * LAUNCH_GROUP with `executor.type = DEFAULT` and two tasks: both reach TASK_STARTING then
 * TASK_RUNNING; killing one kills both (TASK_KILLED for each).
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { TaskState, type TaskStatus } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const TASK_KILLING_STATE = 2;
const LAUNCH_GROUP = 6;
const DEFAULT_EXECUTOR = 1;

function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

const scalar = (name: string, value: number) => ({ name, type: 0, scalar: { value } });

describe('default executor under a real agent (F21)', { timeout: 120_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let scheduler: TestScheduler;

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, [
      '--resources=cpus:4;mem:2048;disk:1024',
      '--logging_level=warn',
    ]);
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'f21',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }, { type: TASK_KILLING_STATE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.process.stop();
    if (agent) killProcessesUnder(agent.workDir);
    await master?.process.stop();
  });

  async function nextUpdate(): Promise<TaskStatus> {
    const event = await scheduler.next((e) => e.type === Event_Type.UPDATE, 30_000, 'an update');
    const status = event.update!.status!;
    if (status.uuid.length > 0) {
      const res = await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
      assert.equal(res.status, 202);
    }
    return status;
  }

  async function launchGroup(executorId: string, commands: Record<string, string>) {
    const event = await scheduler.nextOfType(Event_Type.OFFERS);
    const offer = event.offers!.offers[0]!;
    const tasks = Object.entries(commands).map(([id, command]) => ({
      name: id,
      taskId: { value: id },
      agentId: offer.agentId!,
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { value: command },
    }));
    const res = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: LAUNCH_GROUP,
            launchGroup: {
              executor: {
                type: DEFAULT_EXECUTOR,
                executorId: { value: executorId },
                frameworkId: { value: scheduler.frameworkId },
                resources: [scalar('cpus', 0.1), scalar('mem', 32), scalar('disk', 32)],
              },
              taskGroup: { tasks },
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(res.status, 202);
    return offer;
  }

  it('two tasks reach RUNNING; KILL of one kills both', async () => {
    const offer = await launchGroup('group-executor', { g1: 'sleep 1000', g2: 'sleep 1000' });
    const seen = new Map<string, string[]>([
      ['g1', []],
      ['g2', []],
    ]);
    const record = (status: TaskStatus) =>
      seen.get(status.taskId?.value ?? '')?.push(TaskState[status.state]);
    while (![...seen.values()].every((states) => states.includes('TASK_RUNNING'))) record(await nextUpdate());
    assert.equal(
      (
        await scheduler.call({
          type: Call_Type.KILL,
          kill: { taskId: { value: 'g1' }, agentId: offer.agentId! },
        })
      ).status,
      202,
    );
    const terminal = (states: string[]) => states.includes('TASK_KILLED') || states.includes('TASK_FAILED');
    while (![...seen.values()].every(terminal)) record(await nextUpdate());
    for (const id of ['g1', 'g2']) {
      assert.deepEqual(seen.get(id), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED'], id);
    }
  });

  it('a task that exits 1 is FAILED and its group KILLED; nothing more comes once the executor is gone', async () => {
    await launchGroup('failing-executor', { f1: 'sleep 0.3; exit 1', f2: 'sleep 1000' });
    const seen = new Map<string, string[]>([
      ['f1', []],
      ['f2', []],
    ]);
    const terminal = (states: string[]) => states.some((state) => /FINISHED|FAILED|KILLED|LOST/.test(state));
    while (![...seen.values()].every(terminal)) {
      const status = await nextUpdate();
      seen.get(status.taskId?.value ?? '')?.push(TaskState[status.state]);
    }
    assert.deepEqual(seen.get('f1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.deepEqual(seen.get('f2'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    // The executor exits once its updates are acknowledged; the agent adds no terminal updates of
    // its own for tasks that already ended.
    await assert.rejects(
      scheduler.next(
        (e) => e.type === Event_Type.UPDATE && /^f[12]$/.test(e.update?.status?.taskId?.value ?? ''),
        1_500,
        'a late update',
      ),
    );
  });
});
