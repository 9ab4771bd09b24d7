/**
 * Task groups and nested containers in the Agent core, with fake processes and streams:
 * RUN_TASK_GROUP → the built-in default executor, LAUNCH_GROUP on subscription, kills of queued
 * groups, executor exit, and nested containers below an executor's container (launched, signalled,
 * destroyed with their executor).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { Agent, type AgentConfig } from '../../../src/agent/agent.js';
import type { ExecutorProcess, LaunchSpec } from '../../../src/agent/launcher.js';
import { ContainerLaunchError, ContainerRemoveError } from '../../../src/agent/nested-containers.js';
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
  CommandInfoSchema,
  type ContainerID,
  ContainerIDSchema,
  ExecutorInfo_Type,
  ExecutorInfoSchema,
  FrameworkInfoSchema,
  TaskInfoSchema,
  TaskState,
  TaskStatus_Reason,
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

describe('Agent task groups and nested containers (fake I/O)', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'strata-agent-groups-'));
  after(() => rmSync(workDir, { recursive: true, force: true }));

  function harness(overrides: Partial<AgentConfig> = {}) {
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
        executorBaseEnvironment: { HOME: '/home/agent' },
        commandExecutor: { file: '/bin/true', args: ['true'] },
        defaultExecutor: { file: '/usr/bin/node', args: ['node', '/opt/default-executor.js'] },
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
      },
    );
    agent.registered('S1', false);
    return { clock, sent, launches, agent };
  }

  const framework = create(FrameworkInfoSchema, { user: 'u', name: 'f', id: { value: 'fw' } });
  const executorInfo = create(ExecutorInfoSchema, {
    executorId: { value: 'default' },
    type: ExecutorInfo_Type.DEFAULT,
    resources: [{ name: 'cpus', type: 0, scalar: { value: 0.1 } }],
  });
  const task = (id: string) =>
    create(TaskInfoSchema, {
      name: id,
      taskId: { value: id },
      agentId: { value: 'S1' },
      command: { value: `echo ${id}` },
    });
  const updates = (sent: AgentToMaster[]) =>
    sent.filter((m) => m.type === AgentToMaster_Type.STATUS_UPDATE).map((m) => m.statusUpdate!.status!);

  function runGroup(agent: Agent, ...taskIds: string[]): void {
    agent.masterMessage(
      create(MasterToAgentSchema, {
        type: MasterToAgent_Type.RUN_TASK_GROUP,
        runTaskGroup: {
          frameworkInfo: framework,
          executor: executorInfo,
          taskGroup: { tasks: taskIds.map(task) },
        },
      }),
    );
  }

  function subscribe(agent: Agent): MemoryStream {
    const found = agent.lookupExecutor('fw', 'default');
    assert.ok(found.kind === 'found');
    const stream = new MemoryStream();
    agent.subscribe(
      found.framework,
      found.executor,
      create(Call_SubscribeSchema, {}),
      stream,
      'application/json',
    );
    return stream;
  }

  function executorContainer(agent: Agent): string {
    const found = agent.lookupExecutor('fw', 'default');
    assert.ok(found.kind === 'found');
    return found.executor.containerId;
  }

  const nestedId = (value: string, parent: string | ContainerID): ContainerID =>
    create(ContainerIDSchema, { value, parent: typeof parent === 'string' ? { value: parent } : parent });
  const shell = (value: string) => create(CommandInfoSchema, { value });

  it('runs a task group with the built-in default executor and delivers it in one LAUNCH_GROUP', async () => {
    const { agent, launches } = harness();
    runGroup(agent, 'a', 'b');
    await flush();
    assert.equal(launches.length, 1);
    const { spec } = launches[0]!;
    assert.deepEqual(spec.program, {
      file: '/usr/bin/node',
      args: ['/opt/default-executor.js'],
      argv0: 'node',
    });
    assert.equal(spec.env.MESOS_EXECUTOR_ID, 'default');
    assert.equal(spec.env.MESOS_FRAMEWORK_ID, 'fw');
    // The ExecutorInfo keeps no command: the program is the agent's business.
    const found = agent.lookupExecutor('fw', 'default');
    assert.ok(found.kind === 'found');
    assert.equal(found.executor.info.command, undefined);
    assert.equal(found.executor.tasks.get('a')?.task.executorId?.value, 'default');

    const stream = subscribe(agent);
    assert.deepEqual(stream.types(), ['SUBSCRIBED', 'LAUNCH_GROUP']);
    assert.equal(stream.events[0]!.subscribed?.containerId?.value, found.executor.containerId);
    assert.equal(stream.events[0]!.subscribed?.executorInfo?.command, undefined);
    const group = stream.events[1]!.launchGroup?.taskGroup?.tasks.map((t) => t.taskId?.value);
    assert.deepEqual(group, ['a', 'b']);

    // A later group for the same executor goes straight to it.
    runGroup(agent, 'c');
    await flush();
    assert.equal(launches.length, 1);
    assert.deepEqual(stream.types().slice(2), ['LAUNCH_GROUP']);
    assert.deepEqual(
      stream.events[2]!.launchGroup?.taskGroup?.tasks.map((t) => t.taskId?.value),
      ['c'],
    );
  });

  it('fails the group when the default executor is not installed', async () => {
    const { agent, sent, launches } = harness({ defaultExecutor: undefined });
    runGroup(agent, 'a', 'b');
    await flush();
    assert.equal(launches.length, 0);
    const failed = updates(sent);
    assert.deepEqual(
      failed.map((s) => [s.taskId?.value, s.state, s.reason]),
      [
        ['a', TaskState.TASK_FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED],
        ['b', TaskState.TASK_FAILED, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED],
      ],
    );
  });

  it('kills a queued group as a whole and shuts down the executor left with nothing', async () => {
    const { agent, sent, launches } = harness();
    runGroup(agent, 'a', 'b');
    await flush();
    agent.killTask('fw', 'b', undefined);
    const killed = updates(sent);
    assert.deepEqual(
      killed.map((s) => [s.taskId?.value, s.state, s.reason]),
      [
        ['a', TaskState.TASK_KILLED, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH],
        ['b', TaskState.TASK_KILLED, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH],
      ],
    );
    assert.deepEqual(launches[0]!.process.signals, ['SIGTERM']);
  });

  it('forwards a kill of a delivered group task to the executor', async () => {
    const { agent } = harness();
    runGroup(agent, 'a', 'b');
    await flush();
    const stream = subscribe(agent);
    agent.killTask('fw', 'a', undefined);
    assert.equal(stream.types().at(-1), 'KILL');
    assert.equal(stream.events.at(-1)!.kill?.taskId?.value, 'a');
  });

  it('fails the unfinished tasks of the group when the executor exits', async () => {
    const { agent, sent, launches } = harness();
    runGroup(agent, 'a', 'b');
    await flush();
    subscribe(agent);
    launches[0]!.process.exit(256);
    await flush();
    const failed = updates(sent);
    assert.deepEqual(
      failed.map((s) => [s.taskId?.value, s.state, s.reason]),
      [
        ['a', TaskState.TASK_FAILED, TaskStatus_Reason.EXECUTOR_TERMINATED],
        ['b', TaskState.TASK_FAILED, TaskStatus_Reason.EXECUTOR_TERMINATED],
      ],
    );
    assert.equal(sent.filter((m) => m.type === AgentToMaster_Type.EXECUTOR_EXITED).length, 1);
  });

  it('launches nested containers below the executor container, in their own sandbox and environment', async () => {
    const { agent, launches } = harness();
    runGroup(agent, 'a');
    await flush();
    subscribe(agent);
    const root = executorContainer(agent);
    const found = agent.lookupExecutor('fw', 'default');
    assert.ok(found.kind === 'found');

    const child = nestedId('child', root);
    assert.equal(await agent.launchNestedContainer(child, shell('sleep 100'), undefined), 'launched');
    const { spec } = launches[1]!;
    assert.equal(spec.sandbox, join(found.executor.directory, 'containers', 'child'));
    assert.ok(statSync(spec.sandbox).isDirectory());
    assert.deepEqual(spec.program, { file: '/bin/sh', args: ['-c', 'sleep 100'], argv0: 'sh' });
    // Nothing of the agent's or the executor's environment leaks in.
    assert.equal(spec.env.MESOS_SANDBOX, spec.sandbox);
    assert.equal(spec.env.HOME, undefined);
    assert.equal(spec.env.MESOS_EXECUTOR_ID, undefined);

    assert.equal(await agent.launchNestedContainer(child, shell('sleep 100'), undefined), 'already-launched');
    assert.equal(launches.length, 2);

    // A grandchild lives in the child's sandbox.
    const grandchild = nestedId('grand', child);
    assert.equal(await agent.launchNestedContainer(grandchild, shell('true'), undefined), 'launched');
    assert.equal(launches[2]!.spec.sandbox, join(spec.sandbox, 'containers', 'grand'));

    await assert.rejects(
      agent.launchNestedContainer(nestedId('x', 'no-such-root'), shell('true'), undefined),
      (err: unknown) =>
        err instanceof ContainerLaunchError && err.message === 'Parent container no-such-root does not exist',
    );
    await assert.rejects(
      agent.launchNestedContainer(nestedId('x', nestedId('gone', root)), shell('true'), undefined),
      (err: unknown) =>
        err instanceof ContainerLaunchError && err.message === `Parent container ${root}.gone does not exist`,
    );
    await assert.rejects(
      agent.launchNestedContainer(nestedId('x', root), undefined, {
        $typeName: 'mesos.v1.ContainerInfo',
        type: 1,
        volumes: [],
        hostname: '',
        networkInfos: [],
      } as never),
      (err: unknown) =>
        err instanceof ContainerLaunchError && err.message === 'The provided ContainerInfo is not supported',
    );
  });

  it('signals, waits for and removes nested containers', async () => {
    const { agent, launches } = harness();
    runGroup(agent, 'a');
    await flush();
    subscribe(agent);
    const root = executorContainer(agent);
    const child = nestedId('child', root);
    await agent.launchNestedContainer(child, shell('sleep 100'), undefined);
    const process = launches[1]!.process;

    assert.throws(() => agent.containers.remove(child), ContainerRemoveError);
    assert.equal(agent.killContainer(child, 'SIGTERM'), true);
    assert.deepEqual(process.signals, ['SIGTERM']);
    const waiting = agent.waitContainer(child);
    process.exit(15);
    assert.deepEqual(await waiting, { status: 15 });
    // Ended but not removed: WAIT still answers, KILL finds nothing to signal.
    assert.deepEqual(await agent.waitContainer(child), { status: 15 });
    assert.equal(agent.killContainer(child, 'SIGKILL'), false);
    agent.containers.remove(child);
    assert.equal(await agent.waitContainer(child), undefined);
    assert.equal(agent.killContainer(nestedId('nobody', root), 'SIGKILL'), false);
  });

  it('destroys the nested containers of an executor whose process exits', async () => {
    const { agent, launches } = harness();
    runGroup(agent, 'a');
    await flush();
    subscribe(agent);
    const root = executorContainer(agent);
    const child = nestedId('child', root);
    const grandchild = nestedId('grand', child);
    await agent.launchNestedContainer(child, shell('sleep 100'), undefined);
    await agent.launchNestedContainer(grandchild, shell('sleep 100'), undefined);
    const waiting = agent.waitContainer(child);

    launches[0]!.process.exit(9);
    await flush();
    assert.deepEqual(launches[1]!.process.signals, ['SIGKILL']);
    assert.deepEqual(launches[2]!.process.signals, ['SIGKILL']);
    launches[1]!.process.exit(9);
    launches[2]!.process.exit(9);
    assert.deepEqual(await waiting, { status: 9 });
    await flush();
    // The root is gone, and the containers below it with it.
    assert.equal(agent.containers.size, 0);
    assert.equal(await agent.waitContainer(child), undefined);
    await assert.rejects(
      agent.launchNestedContainer(nestedId('late', root), shell('true'), undefined),
      ContainerLaunchError,
    );
  });

  it('WAIT and KILL on a top-level id address the executor container', async () => {
    const { agent, launches } = harness();
    runGroup(agent, 'a');
    await flush();
    subscribe(agent);
    const root = create(ContainerIDSchema, { value: executorContainer(agent) });
    assert.equal(agent.killContainer(root, 'SIGUSR1'), true);
    assert.deepEqual(launches[0]!.process.signals, ['SIGUSR1']);
    const waiting = agent.waitContainer(root);
    launches[0]!.process.exit(0);
    assert.deepEqual(await waiting, { status: 0 });
    assert.equal(await agent.waitContainer(root), undefined);
  });
});
