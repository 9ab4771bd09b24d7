/**
 * The master's resource ledger (what `/state`, `/slaves` and the metrics report as used and
 * offered) must always equal a recount from the master's own records, through launches, executor
 * exits, terminal updates, declines, agent loss and teardown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { HierarchicalDrfAllocator } from '../../../src/allocator/hierarchical-drf.js';
import { ManualClock } from '../../../src/common/clock.js';
import { IdMinter } from '../../../src/common/ids.js';
import { createLogger } from '../../../src/common/log.js';
import type { RecordStream, StreamCloseReason } from '../../../src/http/responses.js';
import { ResourceLedger } from '../../../src/master/ledger.js';
import { type AgentLink, Master } from '../../../src/master/master.js';
import { emptyRegistryState, type Registry } from '../../../src/master/registry/registry.js';
import { SchedulerStream } from '../../../src/master/scheduler-stream.js';
import { parseResources } from '../../../src/resources/flags.js';
import { resourcesToMessages } from '../../../src/resources/messages.js';
import { Resources } from '../../../src/resources/resources.js';
import {
  FrameworkInfo_Capability_Type,
  FrameworkInfoSchema,
  MasterInfoSchema,
  Offer_Operation_Type,
  TaskState,
  TaskStatus_Source,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_AcceptSchema } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';

class QuietStream implements RecordStream {
  closed = false;
  readonly bufferedBytes = 0;
  private readonly controller = new AbortController();
  private settle!: (reason: StreamCloseReason) => void;
  readonly done = new Promise<StreamCloseReason>((resolve) => {
    this.settle = resolve;
  });
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  write(): boolean {
    return !this.closed;
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.settle('ended');
  }
  abort(): void {
    this.end();
  }
}

class MemoryLink {
  closed = false;
  readonly sent: MasterToAgent[] = [];
  private handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void } | undefined;
  attach(handlers: { onMessage(m: AgentToMaster): void; onClose(reason: string): void }): void {
    this.handlers = handlers;
  }
  send(message: MasterToAgent): boolean {
    if (this.closed) return false;
    this.sent.push(message);
    if (message.type === MasterToAgent_Type.PING)
      this.deliver({ type: AgentToMaster_Type.PONG, pong: { sequence: message.ping?.sequence ?? 0n } });
    return true;
  }
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose(reason);
  }
  deliver(init: Parameters<typeof create<typeof AgentToMasterSchema>>[1]): void {
    this.handlers?.onMessage(create(AgentToMasterSchema, init));
  }
}

class NullRegistry implements Registry {
  private readonly state = emptyRegistryState();
  get() {
    return this.state;
  }
  async apply(): Promise<void> {}
  async close(): Promise<void> {}
}

function makeMaster(): { master: Master; clock: ManualClock } {
  const clock = new ManualClock(1_000_000);
  const master = new Master(
    create(MasterInfoSchema, { id: 'm', ip: 0, port: 5050, hostname: 'localhost' }),
    {
      heartbeatIntervalMs: 15_000,
      offerTimeoutMs: undefined,
      agentPingTimeoutMs: 1000,
      maxAgentPingTimeouts: 3,
      maxCompletedFrameworks: 50,
      maxCompletedTasksPerFramework: 1000,
      maxUnreachableTasksPerFramework: 1000,
    },
    new HierarchicalDrfAllocator({ seed: 1, minAllocatable: [parseResources('cpus:0.01')] }),
    new IdMinter('m'),
    clock,
    createLogger('test', 'silent'),
    new NullRegistry(),
  );
  return { master, clock };
}

function addAgent(master: Master, index: number): { link: MemoryLink; agentId: string } {
  const link = new MemoryLink();
  master.agentLinked(link as unknown as AgentLink);
  link.deliver({
    type: AgentToMaster_Type.REGISTER,
    register: {
      agentInfo: {
        hostname: `host${index}`,
        port: 5051,
        resources: resourcesToMessages(parseResources('cpus:4;mem:4096;ports:[31000-31010]')),
      },
      version: '0.1.0',
      pid: `slave(1)@127.0.0.${index}:5051`,
      address: { hostname: `host${index}`, ip: `127.0.0.${index}`, port: 5051 },
    },
  });
  const registered = link.sent.find((m) => m.type === MasterToAgent_Type.REGISTERED);
  return { link, agentId: registered?.registered?.agentId?.value ?? '' };
}

/** Recounts used and offered resources from the master's records and compares with the ledger. */
function assertConsistent(master: Master, step: string): void {
  const usedByAgent = new Map<string, Resources>();
  const usedByFramework = new Map<string, Resources>();
  const add = (map: Map<string, Resources>, key: string, resources: Resources) =>
    map.set(key, (map.get(key) ?? Resources.EMPTY).add(resources));
  for (const framework of [...master.frameworks.values(), ...master.completedFrameworks.values()]) {
    for (const record of framework.tasks.values()) {
      if (record.released) continue;
      add(usedByAgent, record.task.agentId?.value ?? '', record.resources);
      add(usedByFramework, framework.id, record.resources);
    }
    for (const [agentId, executors] of framework.executors) {
      for (const executor of executors.values()) {
        add(usedByAgent, agentId, executor.resources);
        add(usedByFramework, framework.id, executor.resources);
      }
    }
  }
  const offeredByAgent = new Map<string, Resources>();
  const offeredByFramework = new Map<string, Resources>();
  for (const offer of master.offers.values()) {
    add(offeredByAgent, offer.agentId, offer.resources);
    add(offeredByFramework, offer.frameworkId, offer.resources);
  }
  const ledger = master.ledger;
  const same = (actual: Resources, expected: Resources | undefined, what: string) =>
    assert.ok(
      actual.equals(expected ?? Resources.EMPTY),
      `${step}: ${what}: ledger ${actual.toString()} vs records ${(expected ?? Resources.EMPTY).toString()}`,
    );
  for (const agentId of master.agents.keys()) {
    same(ledger.agentUsed(agentId), usedByAgent.get(agentId), `used on agent ${agentId}`);
    same(ledger.agentOffered(agentId), offeredByAgent.get(agentId), `offered on agent ${agentId}`);
  }
  for (const frameworkId of [...master.frameworks.keys(), ...master.completedFrameworks.keys()]) {
    same(ledger.frameworkUsed(frameworkId), usedByFramework.get(frameworkId), `used by ${frameworkId}`);
    same(
      ledger.frameworkOffered(frameworkId),
      offeredByFramework.get(frameworkId),
      `offered to ${frameworkId}`,
    );
  }
  same(ledger.clusterUsed, Resources.sum(usedByAgent.values()), 'used in the cluster');
  same(ledger.clusterOffered, Resources.sum(offeredByAgent.values()), 'offered in the cluster');
}

function statusUpdate(
  link: MemoryLink,
  frameworkId: string,
  agentId: string,
  taskId: string,
  state: TaskState,
) {
  link.deliver({
    type: AgentToMaster_Type.STATUS_UPDATE,
    statusUpdate: {
      frameworkId: { value: frameworkId },
      status: {
        taskId: { value: taskId },
        agentId: { value: agentId },
        state,
        source: TaskStatus_Source.EXECUTOR,
        timestamp: 1,
        uuid: new Uint8Array(16).fill(state),
      },
      latestState: state,
    },
  });
}

describe('ResourceLedger', () => {
  it('adds and subtracts per agent, per framework and for the cluster', () => {
    const ledger = new ResourceLedger();
    const a = parseResources('cpus:1;mem:10').allocate('*');
    const b = parseResources('cpus:2;ports:[1-2]').allocate('*');
    ledger.use('f1', 'a1', a);
    ledger.use('f1', 'a2', b);
    ledger.use('f2', 'a1', b);
    assert.ok(ledger.agentUsed('a1').equals(a.add(b)));
    assert.ok(ledger.frameworkUsed('f1').equals(a.add(b)));
    ledger.release('f1', 'a1', a);
    assert.ok(ledger.agentUsed('a1').equals(b));
    assert.ok(ledger.clusterUsed.equals(b.add(b)));
    ledger.offer('f2', 'a2', a);
    ledger.unoffer('f2', 'a2', a);
    assert.ok(ledger.agentOffered('a2').isEmpty());
    assert.ok(ledger.frameworkOffered('unknown').isEmpty());
  });

  it('matches a recount of the master records through a framework and agent lifecycle', () => {
    const { master, clock } = makeMaster();
    const one = addAgent(master, 1);
    const two = addAgent(master, 2);
    const stream = new QuietStream();
    master.subscribe(
      create(FrameworkInfoSchema, {
        user: 'u',
        name: 'f',
        roles: ['*'],
        capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
      }),
      [],
      new SchedulerStream(stream, 'application/json'),
    );
    const framework = [...master.frameworks.values()][0]!;
    assertConsistent(master, 'subscribed');

    const offerOn = (agentId: string) => {
      for (let cycle = 0; cycle < 5; cycle++) {
        const offer = [...master.offers.values()].find((o) => o.agentId === agentId);
        if (offer) return offer;
        master.allocate();
      }
      return assert.fail(`no offer for agent ${agentId}`);
    };
    let nextPort = 31000;
    const task = (id: string, agentId: string, withExecutor: boolean, port = nextPort++) => ({
      name: id,
      taskId: { value: id },
      agentId: { value: agentId },
      resources: resourcesToMessages(parseResources(`cpus:1;mem:128;ports:[${port}-${port}]`)),
      ...(withExecutor
        ? {
            executor: {
              executorId: { value: `executor-${id}` },
              command: { value: 'run-executor' },
              resources: resourcesToMessages(parseResources('cpus:0.1;mem:32')),
            },
          }
        : { command: { value: 'true' } }),
    });
    const launch = (offerId: string, tasks: ReturnType<typeof task>[]) =>
      master.accept(
        framework,
        create(Call_AcceptSchema, {
          offerIds: [{ value: offerId }],
          operations: [{ type: Offer_Operation_Type.LAUNCH, launch: { taskInfos: tasks } }],
        }),
      );

    const first = offerOn(one.agentId);
    assertConsistent(master, 'offered');
    launch(first.id, [task('t1', one.agentId, false), task('t2', one.agentId, true)]);
    assert.equal(framework.tasks.size, 2);
    assertConsistent(master, 'launched');

    master.decline(framework, [offerOn(two.agentId).id], 0);
    assertConsistent(master, 'declined');

    statusUpdate(one.link, framework.id, one.agentId, 't1', TaskState.TASK_RUNNING);
    statusUpdate(one.link, framework.id, one.agentId, 't1', TaskState.TASK_FINISHED);
    assertConsistent(master, 'finished');

    one.link.deliver({
      type: AgentToMaster_Type.EXECUTOR_EXITED,
      executorExited: {
        frameworkId: { value: framework.id },
        executorId: { value: 'executor-t2' },
        status: 0,
      },
    });
    assertConsistent(master, 'executor exited');

    launch(offerOn(two.agentId).id, [task('t3', two.agentId, true)]);
    // t1 stays until its terminal update is acknowledged, released already.
    assert.equal(framework.tasks.size, 3);
    assertConsistent(master, 'launched on the second agent');

    two.link.close('network down');
    assertConsistent(master, 'agent disconnected');
    clock.advance(10_000);
    assertConsistent(master, 'agent unreachable');

    master.removeFramework(framework);
    assertConsistent(master, 'torn down');
    assert.ok(master.ledger.clusterUsed.isEmpty(), master.ledger.clusterUsed.toString());
    assert.ok(master.ledger.clusterOffered.isEmpty(), master.ledger.clusterOffered.toString());
  });
});
