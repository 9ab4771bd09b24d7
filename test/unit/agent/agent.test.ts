/**
 * The Agent core with its I/O replaced: a ManualClock, a launcher that hands out fake processes,
 * a recording link and in-memory event streams. Timing rules (registration timeout, shutdown grace,
 * SIGTERM → SIGKILL escalation, heartbeats) are checked without waiting for real time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { Agent, type AgentConfig, type AgentDeps } from '../../../src/agent/agent.js';
import { LaunchGate } from '../../../src/agent/launch-gate.js';
import type { ExecutorProcess, LaunchSpec } from '../../../src/agent/launcher.js';
import { ManualClock } from '../../../src/common/clock.js';
import type { RecordStream, StreamCloseReason } from '../../../src/http/responses.js';
import { parseResources } from '../../../src/resources/index.js';
import { codec } from '../../../src/wire/codec.js';
import {
  Call_SubscribeSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  FrameworkInfoSchema,
  TaskInfoSchema,
  TaskState,
  TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  MasterToAgent_Type,
  MasterToAgentSchema,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';

class FakeProcess implements ExecutorProcess {
  readonly signals: NodeJS.Signals[] = [];
  hasExited = false;
  readonly exited: Promise<number>;
  private resolveExit!: (status: number) => void;

  constructor(readonly pid: number) {
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.hasExited) this.signals.push(signal);
  }

  exit(status: number): void {
    this.hasExited = true;
    this.resolveExit(status);
  }
}

class MemoryStream implements RecordStream {
  readonly events: Event[] = [];
  closed = false;
  readonly bufferedBytes = 0;
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private settle!: (reason: StreamCloseReason) => void;
  readonly done = new Promise<StreamCloseReason>((resolve) => {
    this.settle = resolve;
  });

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
    this.settle('ended');
  }

  abort(): void {
    this.end();
  }

  types(): string[] {
    return this.events.map((e) => Event_Type[e.type]!);
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('Agent (fake I/O)', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'strata-agent-unit-'));
  after(() => rmSync(workDir, { recursive: true, force: true }));

  function harness(overrides: Partial<AgentConfig> = {}, deps: Partial<AgentDeps> = {}) {
    const clock = new ManualClock();
    const sent: AgentToMaster[] = [];
    const launches: { spec: LaunchSpec; process: FakeProcess }[] = [];
    const agent = new Agent(
      {
        workDir,
        ip: '127.0.0.1',
        port: 5051,
        hostname: 'host',
        resources: parseResources('cpus:4;mem:1024'),
        attributes: [],
        executorRegistrationTimeoutMs: 60_000,
        executorShutdownGracePeriodMs: 5000,
        executorReregistrationTimeoutMs: 2000,
        recoveryTimeoutMs: 900_000,
        heartbeatIntervalMs: 30_000,
        killEscalationMs: 3000,
        executorBaseEnvironment: {},
        commandExecutor: { file: '/bin/true', args: ['true'] },
        ...overrides,
      },
      {
        clock,
        log: pino({ level: 'silent' }),
        send: (message) => {
          sent.push(message);
          return true;
        },
        launch: async (spec) => {
          const process = new FakeProcess(1000 + launches.length);
          launches.push({ spec, process });
          return process;
        },
        ...deps,
      },
    );
    agent.registered('S1', false);
    return { clock, sent, launches, agent };
  }

  const framework = create(FrameworkInfoSchema, { user: 'u', name: 'f', id: { value: 'fw' } });
  const commandTask = (id: string) =>
    create(TaskInfoSchema, {
      name: id,
      taskId: { value: id },
      agentId: { value: 'S1' },
      command: { value: 'sleep 1' },
    });
  const updates = (sent: AgentToMaster[]) =>
    sent.filter((m) => m.type === AgentToMaster_Type.STATUS_UPDATE).map((m) => m.statusUpdate!.status!);

  it('launches the command executor for a command task, with the Mesos environment', async () => {
    const { agent, launches } = harness();
    agent.runTask(framework, commandTask('t1'));
    await flush();
    assert.equal(launches.length, 1);
    const { spec } = launches[0]!;
    assert.deepEqual(spec.program, { file: '/bin/true', args: [], argv0: 'true' });
    assert.equal(spec.env.MESOS_EXECUTOR_ID, 't1');
    assert.equal(spec.env.MESOS_FRAMEWORK_ID, 'fw');
    assert.equal(spec.env.MESOS_SLAVE_ID, 'S1');
    assert.match(spec.sandbox, /\/slaves\/S1\/frameworks\/fw\/executors\/t1\/runs\/[0-9a-f-]{36}$/);
    const found = agent.lookupExecutor('fw', 't1');
    assert.ok(found.kind === 'found');
    assert.equal(found.executor.info.name, "Command Executor (Task: t1) (Command: sh -c 'sleep 1')");
  });

  it('gates executor processes (admit) until they subscribe; a launch that hosts its executor takes no slot', async () => {
    const gate = new LaunchGate(1);
    const admitted: string[] = [];
    const processLaunch = harness(
      {},
      {
        launchGate: gate,
        launch: async (spec) => {
          await spec.admit?.();
          admitted.push(spec.env.MESOS_EXECUTOR_ID ?? '');
          return new FakeProcess(2000 + admitted.length);
        },
      },
    );
    processLaunch.agent.runTask(framework, commandTask('p1'));
    processLaunch.agent.runTask(framework, commandTask('p2'));
    await flush();
    assert.deepEqual(admitted, ['p1'], 'the second executor process waits for the slot');
    const found = processLaunch.agent.lookupExecutor('fw', 'p1');
    assert.ok(found.kind === 'found');
    processLaunch.agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      new MemoryStream(),
      'application/json',
    );
    await flush();
    assert.deepEqual(admitted, ['p1', 'p2'], 'a subscribed executor gives its slot back');

    // A launcher that hosts the executor (no process to boot) never asks: nothing waits.
    const hostedGate = new LaunchGate(1);
    const hosted: string[] = [];
    const hostedLaunch = harness(
      {},
      {
        launchGate: hostedGate,
        launch: async (spec) => {
          hosted.push(spec.env.MESOS_EXECUTOR_ID ?? '');
          return new FakeProcess(3000 + hosted.length);
        },
      },
    );
    for (const id of ['h1', 'h2', 'h3']) hostedLaunch.agent.runTask(framework, commandTask(id));
    await flush();
    assert.deepEqual(hosted, ['h1', 'h2', 'h3']);
    assert.equal(hostedGate.booting, 0);
  });

  it('destroys an executor that does not subscribe in time and fails its task', async () => {
    const { agent, launches, clock, sent } = harness();
    agent.runTask(framework, commandTask('t1'));
    await flush();
    const process = launches[0]!.process;
    clock.advance(59_999);
    assert.deepEqual(process.signals, []);
    clock.advance(1);
    assert.deepEqual(process.signals, ['SIGKILL']);
    process.exit(9);
    await flush();
    const [failed] = updates(sent);
    assert.equal(failed?.state, TaskState.TASK_FAILED);
    assert.equal(failed?.reason, TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT);
    assert.equal(failed?.message, 'Executor did not register within 1mins');
    assert.equal(failed?.source, TaskStatus_Source.AGENT);
    // A command executor's exit is not reported to the master (Mesos keeps no record of them).
    assert.equal(sent.filter((m) => m.type === AgentToMaster_Type.EXECUTOR_EXITED).length, 0);
  });

  it('subscribes: SUBSCRIBED then LAUNCH, heartbeats, and a SHUTDOWN that escalates to SIGKILL', async () => {
    const { agent, launches, clock } = harness();
    agent.runTask(framework, commandTask('t1'));
    await flush();
    const found = agent.lookupExecutor('fw', 't1');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    assert.deepEqual(stream.types(), ['SUBSCRIBED', 'LAUNCH']);
    clock.advance(60_000);
    assert.deepEqual(stream.types().slice(2), ['HEARTBEAT', 'HEARTBEAT']);
    // No registration timeout after subscribing.
    const process = launches[0]!.process;
    assert.deepEqual(process.signals, []);

    agent.shutdownExecutor(found.executor, 'test');
    assert.equal(stream.types().at(-1), 'SHUTDOWN');
    clock.advance(4999);
    assert.deepEqual(process.signals, []);
    clock.advance(1);
    assert.deepEqual(process.signals, ['SIGTERM']);
    clock.advance(3000);
    assert.deepEqual(process.signals, ['SIGTERM', 'SIGKILL']);
  });

  it('takes custody of executor updates, acknowledges them and forwards the head only', async () => {
    const { agent, sent, clock } = harness();
    agent.runTask(framework, commandTask('t1'));
    await flush();
    const found = agent.lookupExecutor('fw', 't1');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    const status = (state: TaskState, n: number) =>
      create(TaskStatusSchema, {
        taskId: { value: 't1' },
        state,
        source: TaskStatus_Source.EXECUTOR,
        uuid: new Uint8Array(16).fill(n),
      });
    agent.executorUpdate(found.framework, found.executor, status(TaskState.TASK_STARTING, 1));
    agent.executorUpdate(found.framework, found.executor, status(TaskState.TASK_RUNNING, 2));
    assert.deepEqual(stream.types().slice(2), ['ACKNOWLEDGED', 'ACKNOWLEDGED']);
    const forwarded = sent.filter((m) => m.type === AgentToMaster_Type.STATUS_UPDATE);
    assert.equal(forwarded.length, 1);
    assert.equal(forwarded[0]!.statusUpdate!.status!.state, TaskState.TASK_STARTING);
    // latest_state is what the agent knew when it sent; the resend 10 s later knows RUNNING.
    assert.equal(forwarded[0]!.statusUpdate!.latestState, TaskState.TASK_STARTING);
    clock.advance(10_000);
    const resent = sent.filter((m) => m.type === AgentToMaster_Type.STATUS_UPDATE);
    assert.equal(resent.length, 2);
    assert.equal(resent[1]!.statusUpdate!.status!.state, TaskState.TASK_STARTING);
    assert.equal(resent[1]!.statusUpdate!.latestState, TaskState.TASK_RUNNING);
    assert.equal(forwarded[0]!.statusUpdate!.status!.executorId?.value, 't1');
    assert.equal(
      forwarded[0]!.statusUpdate!.status!.containerStatus?.containerId?.value,
      found.executor.containerId,
    );
    assert.equal(found.executor.tasks.get('t1')!.task.state, TaskState.TASK_RUNNING);
  });
  it('shuts down a custom executor that sits with no task for --executor_idle_timeout, not before', async () => {
    const { agent, sent, clock, launches } = harness({ executorIdleTimeoutMs: 60_000 });
    const customTask = (id: string) =>
      create(TaskInfoSchema, {
        name: id,
        taskId: { value: id },
        agentId: { value: 'S1' },
        executor: { executorId: { value: 'custom' }, command: { value: './executor' } },
      });
    agent.runTask(framework, customTask('t1'));
    await flush();
    const found = agent.lookupExecutor('fw', 'custom');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    const finish = (taskId: string, n: number) => {
      agent.executorUpdate(
        found.framework,
        found.executor,
        create(TaskStatusSchema, {
          taskId: { value: taskId },
          state: TaskState.TASK_FINISHED,
          source: TaskStatus_Source.EXECUTOR,
          uuid: new Uint8Array(16).fill(n),
        }),
      );
      agent.masterMessage(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.ACKNOWLEDGE,
          acknowledge: {
            frameworkId: { value: 'fw' },
            taskId: { value: taskId },
            uuid: new Uint8Array(16).fill(n),
          },
        }),
      );
    };
    finish('t1', 1);
    assert.equal(found.executor.tasks.size, 0);
    // A new task within the timeout keeps the executor; the clock starts again when it ends.
    clock.advance(59_000);
    agent.runTask(framework, customTask('t2'));
    clock.advance(59_000);
    assert.equal(stream.types().includes('SHUTDOWN'), false);
    finish('t2', 2);
    clock.advance(59_999);
    assert.equal(stream.types().includes('SHUTDOWN'), false);
    clock.advance(1);
    assert.equal(stream.types().at(-1), 'SHUTDOWN');
    assert.equal(found.executor.phase, 'terminating');
    clock.advance(5000);
    assert.deepEqual(launches[0]!.process.signals, ['SIGTERM']);
    assert.equal(updates(sent).length, 2);
  });

  it('resizes a running executor container as its tasks come and go, before handing it a task', async () => {
    const resizes: number[] = [];
    let release!: () => void;
    const { agent } = harness(
      {},
      {
        updateContainer: async (_containerId, resources) => {
          resizes.push(
            Math.round(
              resources.filter((r) => r.name === 'cpus').reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0) *
                10,
            ) / 10,
          );
          if (resizes.length === 1) await new Promise<void>((r) => (release = r));
        },
      },
    );
    const task = (id: string, cpus: number) =>
      create(TaskInfoSchema, {
        name: id,
        taskId: { value: id },
        agentId: { value: 'S1' },
        resources: [{ name: 'cpus', type: 0, scalar: { value: cpus } }],
        executor: {
          executorId: { value: 'custom' },
          command: { value: './executor' },
          resources: [{ name: 'cpus', type: 0, scalar: { value: 0.1 } }],
        },
      });
    agent.runTask(framework, task('t1', 1));
    await flush();
    const found = agent.lookupExecutor('fw', 'custom');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    assert.deepEqual(resizes, [], 'the launch sized the container');
    agent.runTask(framework, task('t2', 0.5));
    assert.deepEqual(resizes, [1.6]);
    await flush();
    assert.equal(stream.types().filter((t) => t === 'LAUNCH').length, 1, 't2 waits for the resize');
    release();
    await flush();
    assert.equal(stream.types().filter((t) => t === 'LAUNCH').length, 2);
    agent.executorUpdate(
      found.framework,
      found.executor,
      create(TaskStatusSchema, {
        taskId: { value: 't1' },
        state: TaskState.TASK_FINISHED,
        source: TaskStatus_Source.EXECUTOR,
        uuid: new Uint8Array(16).fill(1),
      }),
    );
    assert.deepEqual(resizes, [1.6, 0.6], 'an ended task leaves the container');
  });

  it('the in-process executor link (hosted executors): SUBSCRIBED, LAUNCH, acknowledged updates', async () => {
    const { agent, sent } = harness();
    agent.runTask(framework, commandTask('t1'));
    await flush();
    const events: string[] = [];
    const lost: string[] = [];
    const handlers = {
      subscribed: () => events.push('SUBSCRIBED'),
      launch: (task: { taskId?: { value: string } }) => events.push(`LAUNCH ${task.taskId?.value}`),
      acknowledged: (taskId: { value: string }) => events.push(`ACKNOWLEDGED ${taskId.value}`),
      connectionLost: (why: string) => lost.push(why),
    };
    const link = agent.localExecutorLink('fw', 't1')(handlers);
    link.start();
    // As over the network: nothing happens within the caller's turn.
    assert.equal(link.state, 'connecting');
    assert.deepEqual(events, []);
    await flush();
    assert.deepEqual(events, ['SUBSCRIBED', 'LAUNCH t1']);
    assert.equal(link.state, 'subscribed');
    link.sendUpdate(
      create(TaskStatusSchema, {
        taskId: { value: 't1' },
        state: TaskState.TASK_RUNNING,
        source: TaskStatus_Source.EXECUTOR,
        uuid: new Uint8Array(16).fill(7),
      }),
    );
    assert.equal(link.unacknowledgedUpdates.length, 1);
    await flush();
    assert.equal(events.at(-1), 'ACKNOWLEDGED t1');
    assert.equal(link.unacknowledgedUpdates.length, 0);
    assert.equal(updates(sent).at(-1)?.state, TaskState.TASK_RUNNING);
    // The executor closing its link is no loss; an executor the agent does not know is one.
    link.close();
    await flush();
    assert.deepEqual(lost, []);
    const stranger = agent.localExecutorLink('fw', 'nobody-here')(handlers);
    stranger.start();
    await flush();
    assert.equal(stranger.state, 'closed');
    assert.deepEqual(lost, ['the agent does not know this executor']);
  });

  it('never shuts an idle executor down when the timeout is 0', async () => {
    const { agent, clock } = harness({ executorIdleTimeoutMs: 0 });
    agent.runTask(
      framework,
      create(TaskInfoSchema, {
        name: 'k',
        taskId: { value: 'k' },
        agentId: { value: 'S1' },
        executor: { executorId: { value: 'keeper' }, command: { value: './executor' } },
      }),
    );
    await flush();
    const found = agent.lookupExecutor('fw', 'keeper');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    agent.killTask('fw', 'k', undefined);
    agent.executorUpdate(
      found.framework,
      found.executor,
      create(TaskStatusSchema, {
        taskId: { value: 'k' },
        state: TaskState.TASK_KILLED,
        source: TaskStatus_Source.EXECUTOR,
        uuid: new Uint8Array(16).fill(7),
      }),
    );
    agent.masterMessage(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.ACKNOWLEDGE,
        acknowledge: {
          frameworkId: { value: 'fw' },
          taskId: { value: 'k' },
          uuid: new Uint8Array(16).fill(7),
        },
      }),
    );
    clock.advance(24 * 3_600_000);
    assert.equal(stream.types().includes('SHUTDOWN'), false);
    assert.equal(found.executor.phase, 'running');
  });
});
