/**
 * The Master's behaviour with time under test control: a ManualClock, in-memory agent links and
 * scheduler streams. Cases follow reference mesos-v1-api.md sections 2.4-2.8 and 8.2.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { HierarchicalDrfAllocator } from '../../../src/allocator/hierarchical-drf.js';
import { ManualClock } from '../../../src/common/clock.js';
import { IdMinter } from '../../../src/common/ids.js';
import { createLogger } from '../../../src/common/log.js';
import type { RecordStream, StreamCloseReason } from '../../../src/http/responses.js';
import { type AgentLink, Master } from '../../../src/master/master.js';
import { applyOperation, emptyRegistryState, type Registry } from '../../../src/master/registry/registry.js';
import { SchedulerStream } from '../../../src/master/scheduler-stream.js';
import { parseResources } from '../../../src/resources/flags.js';
import { resourcesToMessages } from '../../../src/resources/messages.js';
import { codec } from '../../../src/wire/codec.js';
import {
  FrameworkInfoSchema,
  MasterInfoSchema,
  type Offer,
  TaskState,
  TaskStatus_Reason,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  Call_AcceptSchema as CallAcceptSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';

const MULTI_ROLE = 6;
const PARTITION_AWARE = 5;

class FakeRecordStream implements RecordStream {
  readonly events: Event[] = [];
  closed = false;
  bufferedBytes = 0;
  private readonly controller = new AbortController();
  private resolveDone!: (reason: StreamCloseReason) => void;
  readonly done = new Promise<StreamCloseReason>((resolve) => {
    this.resolveDone = resolve;
  });
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  write(record: Uint8Array | string): boolean {
    if (this.closed) return false;
    const bytes = typeof record === 'string' ? new TextEncoder().encode(record) : record;
    this.events.push(codec.decode(EventSchema, bytes, 'application/json'));
    return true;
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.resolveDone('ended');
  }
  abort(): void {
    this.end();
  }
  ofType(type: Event_Type): Event[] {
    return this.events.filter((e) => e.type === type);
  }
}

class FakeLink {
  readonly sent: MasterToAgent[] = [];
  closed = false;
  private handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void } | undefined;
  attach(handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void }): void {
    this.handlers = handlers;
  }
  send(message: MasterToAgent): boolean {
    if (this.closed) return false;
    this.sent.push(message);
    // A healthy agent answers every ping.
    if (message.type === MasterToAgent_Type.PING && this.answerPings) {
      this.deliver({ type: AgentToMaster_Type.PONG, pong: { sequence: message.ping!.sequence } });
    }
    return true;
  }
  answerPings = true;
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose(reason);
  }
  deliver(init: Parameters<typeof create<typeof AgentToMasterSchema>>[1]): void {
    this.handlers?.onMessage(create(AgentToMasterSchema, init));
  }
  ofType(type: MasterToAgent_Type): MasterToAgent[] {
    return this.sent.filter((m) => m.type === type);
  }
}

class MemoryRegistry implements Registry {
  state = emptyRegistryState();
  get() {
    return this.state;
  }
  async apply(...ops: Parameters<Registry['apply']>): Promise<void> {
    for (const op of ops) this.state = applyOperation(this.state, op);
  }
  async close(): Promise<void> {}
}

interface Harness {
  clock: ManualClock;
  master: Master;
  registry: MemoryRegistry;
}

function makeMaster(offerTimeoutMs?: number): Harness {
  const clock = new ManualClock(1_000_000);
  const registry = new MemoryRegistry();
  const master = new Master(
    create(MasterInfoSchema, { id: 'm', ip: 0, port: 5050, hostname: 'localhost' }),
    {
      heartbeatIntervalMs: 15_000,
      offerTimeoutMs,
      agentPingTimeoutMs: 1000,
      maxAgentPingTimeouts: 3,
      maxCompletedFrameworks: 50,
      maxCompletedTasksPerFramework: 1000,
      maxUnreachableTasksPerFramework: 1000,
    },
    new HierarchicalDrfAllocator({
      seed: 1,
      minAllocatable: [parseResources('cpus:0.01'), parseResources('mem:32')],
    }),
    new IdMinter('m'),
    clock,
    createLogger('test', 'silent'),
    registry,
  );
  return { clock, master, registry };
}

function addAgent(h: Harness, resources = 'cpus:2;mem:1024'): { link: FakeLink; agentId: string } {
  const link = new FakeLink();
  h.master.agentLinked(link as unknown as AgentLink);
  link.deliver({
    type: AgentToMaster_Type.REGISTER,
    register: {
      agentInfo: { hostname: 'host1', port: 5051, resources: resourcesToMessages(parseResources(resources)) },
      version: '0.1.0',
      pid: `slave(1)@127.0.0.1:${5051 + h.master.agents.size}`,
      address: { hostname: 'host1', ip: '127.0.0.1', port: 5051 },
    },
  });
  const registered = link.ofType(MasterToAgent_Type.REGISTERED)[0];
  assert.ok(registered, 'agent registered');
  return { link, agentId: registered.registered!.agentId!.value };
}

function subscribe(
  h: Harness,
  capabilities: number[] = [MULTI_ROLE],
  extra: { failoverTimeout?: number } = {},
) {
  const stream = new FakeRecordStream();
  const info = create(FrameworkInfoSchema, {
    user: 'u',
    name: 'f',
    ...(capabilities.includes(MULTI_ROLE) ? { roles: ['*'] } : {}),
    capabilities: capabilities.map((type) => ({ type })),
    ...extra,
  });
  h.master.subscribe(info, [], new SchedulerStream(stream, 'application/json'));
  const id = stream.ofType(Event_Type.SUBSCRIBED)[0]!.subscribed!.frameworkId!.value;
  return { stream, framework: h.master.framework(id)!, id };
}

function offersOf(stream: FakeRecordStream): Offer[] {
  return stream.ofType(Event_Type.OFFERS).flatMap((e) => e.offers?.offers ?? []);
}

function accept(
  h: Harness,
  fw: ReturnType<typeof subscribe>,
  offerIds: string[],
  tasks: Array<{ id: string; resources?: string; agentId: string }>,
  refuseSeconds = 5,
): void {
  h.master.accept(
    fw.framework,
    create(CallAcceptSchema, {
      offerIds: offerIds.map((value) => ({ value })),
      operations: [
        {
          type: 1,
          launch: {
            taskInfos: tasks.map((t) => ({
              name: t.id,
              taskId: { value: t.id },
              agentId: { value: t.agentId },
              command: { value: 'true' },
              resources:
                t.resources === ''
                  ? []
                  : resourcesToMessages(parseResources(t.resources ?? 'cpus:1;mem:128')),
            })),
          },
        },
      ],
      filters: { refuseSeconds },
    }),
  );
}

function updates(stream: FakeRecordStream) {
  return stream.ofType(Event_Type.UPDATE).map((e) => e.update!.status!);
}

describe('Master', () => {
  let h: Harness;
  beforeEach(() => {
    h = makeMaster(2000);
  });

  it('offers an agent to a subscribed framework, one offer per agent and role', () => {
    const { agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    const offers = offersOf(fw.stream);
    assert.equal(offers.length, 1);
    assert.equal(offers[0]!.agentId?.value, agentId);
    assert.equal(offers[0]!.allocationInfo?.role, '*');
    assert.ok(offers[0]!.resources.every((r) => r.allocationInfo?.role === '*'));
  });

  it('strips allocation_info and uses the pre-refinement format for old frameworks', () => {
    addAgent(h);
    const fw = subscribe(h, []);
    h.master.allocate();
    const offer = offersOf(fw.stream)[0]!;
    assert.equal(offer.allocationInfo, undefined);
    assert.ok(offer.resources.every((r) => r.allocationInfo === undefined && r.role === '*'));
  });

  it('rescinds an offer after --offer_timeout', () => {
    addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    const offer = offersOf(fw.stream)[0]!;
    h.clock.advance(1999);
    assert.equal(fw.stream.ofType(Event_Type.RESCIND).length, 0);
    h.clock.advance(1);
    assert.equal(fw.stream.ofType(Event_Type.RESCIND)[0]?.rescind?.offerId?.value, offer.id?.value);
    assert.equal(h.master.offers.size, 0);
  });

  it('launches a task: STAGING, RUN_TASK to the agent, status updates forwarded and acknowledged', () => {
    const { link, agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    const offer = offersOf(fw.stream)[0]!;
    accept(h, fw, [offer.id!.value], [{ id: 't1', agentId }]);
    const run = link.ofType(MasterToAgent_Type.RUN_TASK)[0];
    assert.equal(run?.runTask?.task?.taskId?.value, 't1');
    assert.equal(fw.framework.tasks.get('t1')?.task.state, TaskState.TASK_STAGING);
    const uuid = new Uint8Array(16).fill(7);
    link.deliver({
      type: AgentToMaster_Type.STATUS_UPDATE,
      statusUpdate: {
        frameworkId: { value: fw.id },
        status: { taskId: { value: 't1' }, state: TaskState.TASK_FINISHED, source: 2, uuid },
        latestState: TaskState.TASK_FINISHED,
      },
    });
    const update = updates(fw.stream)[0]!;
    assert.equal(update.state, TaskState.TASK_FINISHED);
    assert.deepEqual(update.uuid, uuid);
    assert.equal(update.agentId?.value, agentId);
    // Terminal but not yet acknowledged: still a live task.
    assert.ok(fw.framework.tasks.has('t1'));
    h.master.acknowledge(fw.framework, agentId, 't1', uuid);
    assert.deepEqual(link.ofType(MasterToAgent_Type.ACKNOWLEDGE)[0]?.acknowledge?.uuid, uuid);
    assert.ok(!fw.framework.tasks.has('t1'));
    assert.equal(fw.framework.completedTasks[0]?.taskId?.value, 't1');
  });

  it('F19: a task with no resources gets TASK_ERROR, Task uses no resources, no uuid', () => {
    const { agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    accept(h, fw, [offersOf(fw.stream)[0]!.id!.value], [{ id: 't', agentId, resources: '' }]);
    const status = updates(fw.stream)[0]!;
    assert.equal(status.state, TaskState.TASK_ERROR);
    assert.equal(status.reason, TaskStatus_Reason.TASK_INVALID);
    assert.match(status.message, /Task uses no resources/);
    assert.equal(status.uuid.length, 0);
  });

  it('refuses a whole task group when it does not fit, telling every task', () => {
    const { link, agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    const offerId = offersOf(fw.stream)[0]!.id!.value;
    const task = (id: string, res: string) => ({
      name: id,
      taskId: { value: id },
      agentId: { value: agentId },
      command: { value: 'true' },
      resources: resourcesToMessages(parseResources(res)),
    });
    h.master.accept(
      fw.framework,
      create(CallAcceptSchema, {
        offerIds: [{ value: offerId }],
        operations: [
          {
            type: 6,
            launchGroup: {
              executor: {
                type: 1,
                executorId: { value: 'e' },
                resources: resourcesToMessages(parseResources('cpus:0.1;mem:32')),
              },
              taskGroup: { tasks: [task('small', 'cpus:0.5;mem:10'), task('big', 'cpus:5;mem:10')] },
            },
          },
        ],
      }),
    );
    const statuses = updates(fw.stream);
    assert.deepEqual(
      statuses.map((s) => [s.taskId?.value, s.state, s.reason]),
      [
        ['small', TaskState.TASK_ERROR, TaskStatus_Reason.TASK_GROUP_INVALID],
        ['big', TaskState.TASK_ERROR, TaskStatus_Reason.TASK_GROUP_INVALID],
      ],
    );
    assert.match(statuses[0]!.message, /Task group uses more resources/);
    assert.equal(link.ofType(MasterToAgent_Type.RUN_TASK_GROUP).length, 0);
    assert.equal(fw.framework.tasks.size, 0);
    assert.equal(fw.framework.executors.size, 0);
  });

  it('refuses a task asking for more than the offer, and a duplicate task id', () => {
    const { agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    accept(
      h,
      fw,
      [offersOf(fw.stream)[0]!.id!.value],
      [
        { id: 'big', agentId, resources: 'cpus:3;mem:1' },
        { id: 'a', agentId, resources: 'cpus:0.5;mem:10' },
        { id: 'a', agentId, resources: 'cpus:0.5;mem:10' },
      ],
    );
    const statuses = updates(fw.stream);
    assert.equal(statuses.length, 2);
    assert.match(statuses[0]!.message, /more resources/);
    assert.match(statuses[1]!.message, /Task has duplicate ID: a/);
    assert.ok(fw.framework.tasks.has('a'));
  });

  for (const partitionAware of [false, true]) {
    const capabilities = partitionAware ? [MULTI_ROLE, PARTITION_AWARE] : [MULTI_ROLE];
    const label = partitionAware ? 'partition-aware' : 'not partition-aware';

    it(`F17 (${label}): ACCEPT with a used offer loses its tasks with REASON_INVALID_OFFERS`, () => {
      const { agentId } = addAgent(h);
      const fw = subscribe(h, capabilities);
      h.master.allocate();
      const offerId = offersOf(fw.stream)[0]!.id!.value;
      h.master.decline(fw.framework, [offerId], 5);
      accept(h, fw, [offerId], [{ id: 't', agentId }]);
      const status = updates(fw.stream)[0]!;
      assert.equal(status.state, partitionAware ? TaskState.TASK_DROPPED : TaskState.TASK_LOST);
      assert.equal(status.reason, TaskStatus_Reason.INVALID_OFFERS);
      assert.match(status.message, /^Task launched with invalid offers: Offer .* is no longer valid/);
      assert.equal(status.uuid.length, 0);
    });

    it(`F7/F9 (${label}): reconciling unknown tasks`, () => {
      const { agentId } = addAgent(h);
      const fw = subscribe(h, capabilities);
      const reconcile = (taskId: string, agent?: string) =>
        h.master.reconcile(fw.framework, [
          create(TaskStatusSchema, {
            taskId: { value: taskId },
            ...(agent ? { agentId: { value: agent } } : {}),
          }) as never,
        ]);
      reconcile('x', agentId);
      reconcile('y', 'no-such-agent');
      h.master.kill(fw.framework, 'z', undefined);
      const [onAgent, unknownAgent, killed] = updates(fw.stream);
      assert.equal(onAgent?.state, partitionAware ? TaskState.TASK_GONE : TaskState.TASK_LOST);
      assert.equal(unknownAgent?.state, partitionAware ? TaskState.TASK_UNKNOWN : TaskState.TASK_LOST);
      assert.equal(killed?.state, partitionAware ? TaskState.TASK_UNKNOWN : TaskState.TASK_LOST);
      for (const s of [onAgent, unknownAgent, killed]) {
        assert.equal(s?.reason, TaskStatus_Reason.RECONCILIATION);
        assert.equal(s?.uuid.length, 0);
      }
    });

    it(`agent loss (${label}): offers rescinded, tasks ${partitionAware ? 'UNREACHABLE' : 'LOST'}, then FAILURE`, () => {
      const { link, agentId } = addAgent(h);
      const fw = subscribe(h, capabilities);
      h.master.allocate();
      accept(h, fw, [offersOf(fw.stream)[0]!.id!.value], [{ id: 't', agentId }], 0);
      h.clock.advance(1);
      h.master.allocate();
      assert.equal(offersOf(fw.stream).length, 2, 'the rest is offered again');
      fw.framework.info.checkpoint = true;
      link.close('socket closed');
      assert.equal(fw.stream.ofType(Event_Type.RESCIND).length, 1);
      assert.equal(updates(fw.stream).length, 0, 'checkpointing frameworks wait for the agent');
      h.clock.advance(3000);
      const status = updates(fw.stream)[0]!;
      assert.equal(status.state, partitionAware ? TaskState.TASK_UNREACHABLE : TaskState.TASK_LOST);
      assert.equal(status.reason, TaskStatus_Reason.AGENT_REMOVED);
      assert.ok(status.unreachableTime);
      const kinds = fw.stream.events.map((e) => Event_Type[e.type]).filter((t) => t !== 'HEARTBEAT');
      assert.deepEqual(kinds.slice(-3), ['RESCIND', 'UPDATE', 'FAILURE']);
      assert.equal(h.registry.state.unreachable[agentId], h.clock.now());
    });
  }

  it('marks an agent unreachable after --max_agent_ping_timeouts unanswered pings', () => {
    const { link, agentId } = addAgent(h);
    link.answerPings = false;
    h.clock.advance(1000);
    assert.equal(link.ofType(MasterToAgent_Type.PING).length, 1);
    link.deliver({ type: AgentToMaster_Type.PONG, pong: { sequence: 1n } });
    h.clock.advance(3000);
    assert.equal(h.master.agents.get(agentId)?.state, 'registered');
    h.clock.advance(1000);
    assert.equal(h.master.agents.get(agentId)?.state, 'unreachable');
    assert.ok(link.closed);
  });

  it('loses tasks of non-checkpointing frameworks as soon as the agent disconnects', () => {
    const { link, agentId } = addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    accept(h, fw, [offersOf(fw.stream)[0]!.id!.value], [{ id: 't', agentId }]);
    link.close('socket closed');
    const status = updates(fw.stream)[0]!;
    assert.equal(status.state, TaskState.TASK_LOST);
    assert.equal(status.reason, TaskStatus_Reason.AGENT_DISCONNECTED);
  });

  it('F11: SUPPRESS stops offers; REVIVE resumes them and clears filters', () => {
    addAgent(h);
    const fw = subscribe(h);
    h.master.allocate();
    const offerId = offersOf(fw.stream)[0]!.id!.value;
    h.master.decline(fw.framework, [offerId], 3600);
    h.clock.advance(10);
    h.master.allocate();
    assert.equal(offersOf(fw.stream).length, 1, 'declined for an hour');
    h.master.suppress(fw.framework, []);
    h.master.revive(fw.framework, []);
    h.master.allocate();
    assert.equal(offersOf(fw.stream).length, 2, 'revive clears the filter');
    h.master.decline(fw.framework, [offersOf(fw.stream)[1]!.id!.value], 0);
    h.master.suppress(fw.framework, []);
    h.master.allocate();
    assert.equal(offersOf(fw.stream).length, 2, 'suppressed');
    h.master.revive(fw.framework, []);
    h.master.allocate();
    assert.equal(offersOf(fw.stream).length, 3);
  });

  it('removes a framework when its failover timeout expires, killing its tasks on agents', async () => {
    const { link, agentId } = addAgent(h);
    const fw = subscribe(h, [MULTI_ROLE], { failoverTimeout: 10 });
    h.master.allocate();
    accept(h, fw, [offersOf(fw.stream)[0]!.id!.value], [{ id: 't', agentId }]);
    fw.stream.end();
    await new Promise((resolve) => setImmediate(resolve));
    h.clock.advance(9_999);
    assert.ok(h.master.framework(fw.id));
    h.clock.advance(1);
    assert.equal(h.master.framework(fw.id), undefined);
    assert.ok(h.master.completedFrameworks.has(fw.id));
    assert.equal(
      link.ofType(MasterToAgent_Type.SHUTDOWN_FRAMEWORK)[0]?.shutdownFramework?.frameworkId?.value,
      fw.id,
    );
    const task = h.master.completedFrameworks.get(fw.id)!.completedTasks[0]!;
    assert.equal(task.state, TaskState.TASK_KILLED);
  });

  it('sends HEARTBEAT right after SUBSCRIBED and then every interval', () => {
    const fw = subscribe(h);
    assert.deepEqual(
      fw.stream.events.map((e) => e.type),
      [Event_Type.SUBSCRIBED, Event_Type.HEARTBEAT],
    );
    h.clock.advance(15_000);
    h.clock.advance(15_000);
    assert.equal(fw.stream.ofType(Event_Type.HEARTBEAT).length, 3);
  });

  it('re-registration of a known agent keeps its tasks and re-adds unknown ones', () => {
    const { link, agentId } = addAgent(h);
    const fw = subscribe(h);
    fw.framework.info.checkpoint = true;
    h.master.allocate();
    accept(h, fw, [offersOf(fw.stream)[0]!.id!.value], [{ id: 't', agentId }], 0);
    link.close('socket closed');
    const again = new FakeLink();
    h.master.agentLinked(again as unknown as AgentLink);
    const task = fw.framework.tasks.get('t')!.task;
    again.deliver({
      type: AgentToMaster_Type.REREGISTER,
      reregister: {
        agentInfo: {
          hostname: 'host1',
          port: 5051,
          id: { value: agentId },
          resources: resourcesToMessages(parseResources('cpus:2;mem:1024')),
        },
        version: '0.1.0',
        pid: 'slave(1)@127.0.0.1:5051',
        address: { hostname: 'host1', ip: '127.0.0.1', port: 5051 },
        tasks: [{ ...task, state: TaskState.TASK_RUNNING }],
        frameworks: [fw.framework.info],
      },
    });
    assert.equal(again.ofType(MasterToAgent_Type.REREGISTERED).length, 1);
    assert.equal(h.master.agents.get(agentId)?.state, 'registered');
    assert.ok(fw.framework.tasks.has('t'));
    h.clock.advance(10);
    h.master.allocate();
    assert.equal(offersOf(fw.stream).length, 2, 'offered again after re-registration');
    const last = offersOf(fw.stream).at(-1)!;
    const cpus = last.resources
      .filter((r) => r.name === 'cpus')
      .reduce((s, r) => s + (r.scalar?.value ?? 0), 0);
    assert.equal(cpus, 1, 'the running task keeps its cpu');
  });
});
