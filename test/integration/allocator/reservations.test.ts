/**
 * Dynamic reservations and persistent volumes end to end (issue 5), with real processes: a
 * `strata master`, a `strata agent` that is SIGKILLed and started again on the same work_dir, the
 * built-in command executor, and schedulers written from the v1 spec. The volume is a real
 * directory under the agent's work_dir that tasks write and read through `$MESOS_SANDBOX/data`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  type Offer,
  OperationState,
  type ResourceSchema,
  TaskState,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { eventually } from '../../support/eventually.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../../support/processes.js';
import { post, TestScheduler } from '../../support/scheduler-client.js';

type ResourceInit = MessageInitShape<typeof ResourceSchema>;

const MULTI_ROLE = 6;
const SCALAR = 0;
const DYNAMIC = 2;
const RW = 1;

const reservation = {
  type: DYNAMIC,
  role: 'db',
  principal: 'ops',
  labels: { labels: [{ key: 'team', value: 'storage' }] },
};

function reserved(name: string, value: number, role = 'db', allocationRole = role): ResourceInit {
  return {
    name,
    type: SCALAR,
    scalar: { value },
    reservations: [{ ...reservation, role }],
    allocationInfo: { role: allocationRole },
  };
}

function volume(id: string, size: number): ResourceInit {
  return {
    name: 'disk',
    type: SCALAR,
    scalar: { value: size },
    reservations: [reservation],
    allocationInfo: { role: 'db' },
    disk: { persistence: { id, principal: 'ops' }, volume: { containerPath: 'data', mode: RW } },
  };
}

function hasVolume(offer: Offer, id: string): boolean {
  return offer.resources.some((r) => r.disk?.persistence?.id === id);
}

/** Reserved cpus in the offer (pre-refinement format: this framework is not RESERVATION_REFINEMENT capable). */
function reservedCpus(offer: Offer): number {
  return offer.resources
    .filter(
      (r) => r.name === 'cpus' && (r.reservations.length > 0 || (r.role !== undefined && r.role !== '*')),
    )
    .reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0);
}

class Agent {
  process: StrataProcess | undefined;
  readonly workDir = tempDir('agent-volumes');
  port = 0;

  constructor(readonly masterPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.process = new StrataProcess(`agent:${this.port}`, [
      'agent',
      `--master=127.0.0.1:${this.masterPort}`,
      '--ip=127.0.0.1',
      `--port=${this.port}`,
      `--work_dir=${this.workDir}`,
      '--resources=cpus:2;mem:1024;disk:1000',
      '--registration_backoff_factor=100ms',
      '--executor_reregistration_timeout=2secs',
    ]);
    await this.process.waitForHealth(`${this.url}/health`);
  }

  async state(): Promise<{ id?: string; reserved_resources: Record<string, Record<string, number>> }> {
    return (await (await fetch(`${this.url}/state`)).json()) as never;
  }
}

/** The next offer (from any agent) that `want` accepts; the others are declined for 0 s. */
async function offerWhere(scheduler: TestScheduler, want: (offer: Offer) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await scheduler.nextOfType(Event_Type.OFFERS, Math.max(1, deadline - Date.now()));
    const offers = event.offers?.offers ?? [];
    const wanted = offers.find(want);
    const others = offers.filter((o) => o !== wanted);
    if (others.length > 0) {
      await scheduler.call({
        type: Call_Type.DECLINE,
        decline: { offerIds: others.map((o) => o.id!), filters: { refuseSeconds: 0 } },
      });
    }
    if (wanted) return wanted;
  }
}

async function operationStatus(scheduler: TestScheduler, id: string) {
  const event = await scheduler.next(
    (e) =>
      e.type === Event_Type.UPDATE_OPERATION_STATUS &&
      e.updateOperationStatus?.status?.operationId?.value === id,
    20_000,
    `operation status of ${id}`,
  );
  return event.updateOperationStatus!.status!;
}

async function terminalState(scheduler: TestScheduler, taskId: string): Promise<TaskState> {
  for (;;) {
    const event = await scheduler.next(
      (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === taskId,
      30_000,
      `an update of ${taskId}`,
    );
    const status = event.update!.status!;
    if (status.uuid.length > 0) {
      await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
    }
    if (
      [
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
      ].includes(status.state)
    ) {
      return status.state;
    }
  }
}

async function waitForRunning(scheduler: TestScheduler, taskId: string): Promise<void> {
  for (;;) {
    const event = await scheduler.next(
      (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === taskId,
      30_000,
      `RUNNING of ${taskId}`,
    );
    const status = event.update!.status!;
    if (status.uuid.length > 0) {
      await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
    }
    if (status.state === TaskState.TASK_RUNNING) return;
    assert.ok(status.state === TaskState.TASK_STARTING, `${taskId}: ${TaskState[status.state]}`);
  }
}

/** A command task on the reservation, with the volume when asked. */
function task(offer: Offer, id: string, command: string, withVolume: boolean) {
  return {
    name: id,
    taskId: { value: id },
    agentId: offer.agentId!,
    command: { value: command },
    resources: [reserved('cpus', 0.1), reserved('mem', 16), ...(withVolume ? [volume('vol1', 100)] : [])],
  };
}

const json = { 'Content-Type': 'application/json', Accept: 'application/json' };

describe('reservations and persistent volumes', { timeout: 180_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function cluster() {
    const master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    cleanups.push(() => master.process.stop());
    const agent = new Agent(master.port);
    cleanups.push(() => agent.process?.stop());
    await agent.start();
    const agentId = await eventually('agent registration', async () => (await agent.state()).id || undefined);
    return { master, agent, agentId };
  }

  async function framework(masterUrl: string, role: string) {
    const scheduler = await new TestScheduler(masterUrl).subscribe({
      user: 'root',
      name: `volumes-${role}`,
      roles: [role],
      principal: 'ops',
      checkpoint: true,
      capabilities: [{ type: MULTI_ROLE }],
    });
    cleanups.push(() => scheduler.close());
    return scheduler;
  }

  it('reserve, create a volume, write, finish, restart the agent, read back, destroy, unreserve', async () => {
    const { master, agent } = await cluster();
    const scheduler = await framework(master.url, 'db');
    // One ACCEPT: reserve, create the volume on the reservation, launch a writer using both.
    const first = await offerWhere(scheduler, () => true);
    const accept = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [first.id!],
        operations: [
          {
            type: 2,
            id: { value: 'reserve-1' },
            reserve: { resources: [reserved('cpus', 0.5), reserved('mem', 64), reserved('disk', 100)] },
          },
          { type: 4, id: { value: 'create-1' }, create: { volumes: [volume('vol1', 100)] } },
          {
            type: 1,
            launch: { taskInfos: [task(first, 'writer', 'echo hello > data/f && test -L data', true)] },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(accept.status, 202, accept.body);
    const reserve = await operationStatus(scheduler, 'reserve-1');
    assert.equal(reserve.state, OperationState.OPERATION_FINISHED, reserve.message);
    assert.ok(
      reserve.convertedResources.some((r) => r.reservations[0]?.labels?.labels[0]?.value === 'storage'),
    );
    const create = await operationStatus(scheduler, 'create-1');
    assert.equal(create.state, OperationState.OPERATION_FINISHED, create.message);
    assert.equal(await terminalState(scheduler, 'writer'), TaskState.TASK_FINISHED);

    const volumeDir = join(agent.workDir, 'volumes', 'roles', 'db', 'vol1');
    assert.equal(readFileSync(join(volumeDir, 'f'), 'utf8'), 'hello\n');
    const state = await agent.state();
    assert.deepEqual(state.reserved_resources.db, { cpus: 0.5, disk: 100, gpus: 0, mem: 64 });
    const masterState = (await (await fetch(`${master.url}/master/state`)).json()) as {
      slaves: Array<{ reserved_resources: Record<string, Record<string, number>> }>;
    };
    assert.deepEqual(masterState.slaves[0]?.reserved_resources.db, {
      cpus: 0.5,
      disk: 100,
      gpus: 0,
      mem: 64,
    });

    // The agent dies and comes back: the reservation and the volume are offered again.
    await agent.process!.kill();
    await agent.start();
    const again = await offerWhere(
      scheduler,
      (o) => hasVolume(o, 'vol1') && reservedCpus(o) >= 0.5 - 1e-9,
      30_000,
    );
    const relaunch = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [again.id!],
        operations: [
          { type: 1, launch: { taskInfos: [task(again, 'reader', 'test "$(cat data/f)" = hello', true)] } },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(relaunch.status, 202, relaunch.body);
    assert.equal(await terminalState(scheduler, 'reader'), TaskState.TASK_FINISHED);

    // A volume in use cannot be destroyed.
    const third = await offerWhere(scheduler, (o) => hasVolume(o, 'vol1'));
    await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [third.id!],
        operations: [{ type: 1, launch: { taskInfos: [task(third, 'holder', 'sleep 600', true)] } }],
        filters: { refuseSeconds: 0 },
      },
    });
    await waitForRunning(scheduler, 'holder');
    const busy = await offerWhere(scheduler, (o) => reservedCpus(o) > 0);
    await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [busy.id!],
        operations: [{ type: 5, id: { value: 'destroy-busy' }, destroy: { volumes: [volume('vol1', 100)] } }],
        filters: { refuseSeconds: 0 },
      },
    });
    const refused = await operationStatus(scheduler, 'destroy-busy');
    assert.equal(refused.state, OperationState.OPERATION_ERROR);
    assert.match(refused.message, /in use/);
    assert.ok(existsSync(volumeDir), 'nothing destroyed');
    await scheduler.call({
      type: Call_Type.KILL,
      kill: { taskId: { value: 'holder' }, agentId: third.agentId! },
    });
    assert.equal(await terminalState(scheduler, 'holder'), TaskState.TASK_KILLED);

    // Destroy, then unreserve: the directory goes, the agent has no reservation left.
    const last = await offerWhere(scheduler, (o) => hasVolume(o, 'vol1'));
    await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [last.id!],
        operations: [
          { type: 5, id: { value: 'destroy-1' }, destroy: { volumes: [volume('vol1', 100)] } },
          {
            type: 3,
            id: { value: 'unreserve-1' },
            unreserve: { resources: [reserved('cpus', 0.5), reserved('mem', 64), reserved('disk', 100)] },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal((await operationStatus(scheduler, 'destroy-1')).state, OperationState.OPERATION_FINISHED);
    const unreserve = await operationStatus(scheduler, 'unreserve-1');
    assert.equal(unreserve.state, OperationState.OPERATION_FINISHED, unreserve.message);
    await eventually('the volume directory removed', async () => (existsSync(volumeDir) ? undefined : true));
    assert.deepEqual((await agent.state()).reserved_resources, {});
  });

  it('refuses bad operations with Mesos reasons and applies nothing', async () => {
    const { master, agent, agentId } = await cluster();
    const db = await framework(master.url, 'db');

    // Reserving more than the offer holds.
    const offer = await offerWhere(db, () => true);
    await db.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [{ type: 2, id: { value: 'too-much' }, reserve: { resources: [reserved('cpus', 64)] } }],
        filters: { refuseSeconds: 0 },
      },
    });
    const tooMuch = await operationStatus(db, 'too-much');
    assert.equal(tooMuch.state, OperationState.OPERATION_ERROR);
    assert.match(tooMuch.message, /Invalid RESERVE Operation: .*does not contain/);
    assert.deepEqual((await agent.state()).reserved_resources, {});

    // A reservation for another role cannot be made out of this role's offer.
    const second = await offerWhere(db, () => true);
    await db.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [second.id!],
        operations: [
          {
            type: 2,
            id: { value: 'wrong-role' },
            reserve: { resources: [reserved('cpus', 1, 'other', 'db')] },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    const wrongRole = await operationStatus(db, 'wrong-role');
    assert.equal(wrongRole.state, OperationState.OPERATION_ERROR);
    assert.match(wrongRole.message, /allocated to role 'db'/);

    // The operator reserves for db; the other role's framework cannot unreserve it.
    const reserve = await post(
      `${master.url}/api/v1`,
      JSON.stringify({
        type: 'RESERVE_RESOURCES',
        reserve_resources: {
          agent_id: { value: agentId },
          resources: [
            {
              name: 'cpus',
              type: 'SCALAR',
              scalar: { value: 1 },
              reservations: [{ type: 'DYNAMIC', role: 'db', principal: 'ops' }],
            },
          ],
        },
      }),
      json,
    );
    assert.equal(reserve.status, 202, reserve.body);
    // db steps aside (the agent goes to one framework at a time), and another role's framework comes.
    await db.call({ type: Call_Type.SUPPRESS, suppress: { roles: [] } });
    const other = await framework(master.url, 'other');
    const otherOffer = await offerWhere(other, () => true);
    await other.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [otherOffer.id!],
        operations: [
          {
            type: 3,
            id: { value: 'not-mine' },
            unreserve: { resources: [reserved('cpus', 1, 'db', 'other')] },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    const notMine = await operationStatus(other, 'not-mine');
    assert.equal(notMine.state, OperationState.OPERATION_ERROR);
    assert.match(notMine.message, /Invalid UNRESERVE Operation: .*does not contain/);
    assert.deepEqual((await agent.state()).reserved_resources.db, { cpus: 1, disk: 0, gpus: 0, mem: 0 });
  });
});
