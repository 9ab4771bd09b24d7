/**
 * The default executor's health checks and checks on fakes and a ManualClock: COMMAND probes as
 * check containers nested under the task's container, what the updates carry, the kill of an
 * unhealthy task (and so of its group).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape, toJson } from '@bufbuild/protobuf';
import { ManualClock } from '../../../src/common/clock.js';
import { createLogger } from '../../../src/common/log.js';
import type {
  AgentCallOutcome,
  LaunchNestedContainerRequest,
  NestedContainerApi,
} from '../../../src/executors/agent-api-client.js';
import type { ExecutorLink } from '../../../src/executors/command-executor.js';
import { DefaultExecutor } from '../../../src/executors/default-executor.js';
import { readExecutorEnvironment } from '../../../src/executors/environment.js';
import type {
  ExecutorConnectionState,
  ExecutorEventHandlers,
} from '../../../src/executors/executor-client.js';
import { nestedCommandProbe } from '../../../src/executors/health/nested-probe.js';
import type { NestedContainerTermination } from '../../../src/executors/status.js';
import { Event_SubscribedSchema } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  CheckInfo_Type,
  CheckStatusInfoSchema,
  CommandInfoSchema,
  type ContainerID,
  ContainerIDSchema,
  HealthCheck_Type,
  TaskGroupInfoSchema,
  type TaskInfoSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const flush = async () => {
  for (let i = 0; i < 10; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

const EXITED = (code: number) => code << 8;

class FakeLink implements ExecutorLink {
  state: ExecutorConnectionState = 'idle';
  readonly sent: TaskStatus[] = [];
  get unacknowledgedUpdates(): TaskStatus[] {
    return [];
  }
  start(): void {
    this.state = 'subscribed';
  }
  sendUpdate(status: TaskStatus): void {
    this.sent.push(status);
  }
  close(): void {
    this.state = 'closed';
  }
  of(taskId: string): TaskStatus[] {
    return this.sent.filter((s) => s.taskId?.value === taskId);
  }
}

interface Pending {
  resolve: (outcome: AgentCallOutcome<NestedContainerTermination>) => void;
}

const path = (id: ContainerID): string => (id.parent ? `${path(id.parent)}/${id.value}` : id.value);

/**
 * Task containers run until signalled; a check container (`check-…`) ends with the next scripted
 * exit status, or stays running when the script says `hang`.
 */
class FakeContainers implements NestedContainerApi {
  readonly launches: LaunchNestedContainerRequest[] = [];
  readonly kills: string[] = [];
  readonly removed: string[] = [];
  readonly waits = new Map<string, Pending>();
  checkScript: (number | 'hang' | 'unreachable')[] = [];
  readonly finished = new Map<string, number>();

  async launch(request: LaunchNestedContainerRequest): Promise<AgentCallOutcome<boolean>> {
    const id = request.containerId.value;
    if (id.startsWith('check-')) {
      const next = this.checkScript.shift() ?? 'hang';
      if (next === 'unreachable') return { kind: 'unreachable', detail: 'connection refused' };
      this.launches.push(request);
      if (next !== 'hang') this.finished.set(path(request.containerId), next);
      return { kind: 'ok', value: true };
    }
    this.launches.push(request);
    return { kind: 'ok', value: true };
  }

  wait(containerId: ContainerID): Promise<AgentCallOutcome<NestedContainerTermination>> {
    const key = path(containerId);
    const done = this.finished.get(key);
    if (done !== undefined) return Promise.resolve({ kind: 'ok', value: { exitStatus: done } });
    return new Promise((resolve) => this.waits.set(key, { resolve }));
  }

  async kill(containerId: ContainerID, signal: number): Promise<AgentCallOutcome<void>> {
    const key = path(containerId);
    this.kills.push(`${key}:${signal}`);
    const pending = this.waits.get(key);
    if (pending !== undefined) {
      this.waits.delete(key);
      pending.resolve({ kind: 'ok', value: { exitStatus: signal } });
    }
    return { kind: 'ok', value: undefined };
  }

  async remove(containerId: ContainerID): Promise<AgentCallOutcome<void>> {
    this.removed.push(path(containerId));
    return { kind: 'ok', value: undefined };
  }

  checkLaunches(): LaunchNestedContainerRequest[] {
    return this.launches.filter((l) => l.containerId.value.startsWith('check-'));
  }
}

type TaskInit = Exclude<MessageInitShape<typeof TaskInfoSchema>, { $typeName: string }>;

function setUp(options: { killingCapable?: boolean } = {}) {
  const clock = new ManualClock(0);
  const link = new FakeLink();
  const containers = new FakeContainers();
  let handlers: Partial<ExecutorEventHandlers> = {};
  let nextId = 0;
  const executor = new DefaultExecutor({
    environment: readExecutorEnvironment({
      MESOS_FRAMEWORK_ID: 'fw',
      MESOS_EXECUTOR_ID: 'ex',
      MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
      MESOS_SANDBOX: '/sandbox',
    }),
    logger: createLogger('test', 'silent'),
    connect: (given) => {
      handlers = given;
      return link;
    },
    containers,
    exit: () => {},
    clock,
    newContainerId: () => `c${++nextId}`,
  });
  executor.start();
  handlers.subscribed?.(
    create(Event_SubscribedSchema, {
      executorInfo: { executorId: { value: 'ex' } },
      frameworkInfo: {
        user: 'u',
        name: 'f',
        id: { value: 'fw' },
        capabilities: options.killingCapable ? [{ type: 2 }] : [],
      },
      agentInfo: { hostname: 'h' },
      containerId: { value: 'executor-container' },
    }),
  );
  const launchGroup = async (tasks: TaskInit[]) => {
    handlers.launchGroup?.(
      create(TaskGroupInfoSchema, {
        tasks: tasks.map((task) => ({
          name: 'n',
          agentId: { value: 'a' },
          command: { value: 'sleep 100' },
          ...task,
        })),
      }),
    );
    await flush();
  };
  const advance = async (ms: number, step = 100) => {
    for (let done = 0; done < ms; done += step) {
      clock.advance(Math.min(step, ms - done));
      await flush();
    }
  };
  return { clock, link, containers, launchGroup, advance };
}

const view = (status: TaskStatus) => {
  const out: Record<string, unknown> = { state: TaskState[status.state] };
  if (status.reason !== 0) out.reason = TaskStatus_Reason[status.reason];
  if (status.healthy !== undefined && Object.hasOwn(status, 'healthy')) out.healthy = status.healthy;
  if (status.checkStatus) out.check = toJson(CheckStatusInfoSchema, status.checkStatus);
  return out;
};

describe('DefaultExecutor health checks', () => {
  it('a failing COMMAND health check runs in check containers under the task container, then kills the task and its group', async () => {
    const { link, containers, launchGroup, advance } = setUp({ killingCapable: true });
    containers.checkScript = [EXITED(1), EXITED(1)];
    await launchGroup([
      {
        taskId: { value: 'web' },
        command: { value: 'sleep 100', environment: { variables: [{ name: 'TASK_VAR', value: 'task' }] } },
        healthCheck: {
          type: HealthCheck_Type.COMMAND,
          command: {
            value: 'test -f ready',
            environment: { variables: [{ name: 'CHECK_VAR', value: 'c' }] },
          },
          delaySeconds: 1,
          intervalSeconds: 1,
          gracePeriodSeconds: 0,
          consecutiveFailures: 2,
        },
      },
      { taskId: { value: 'sidecar' } },
    ]);
    await advance(2_500);
    const checks = containers.checkLaunches();
    assert.equal(checks.length, 2);
    const first = checks[0]!;
    assert.match(first.containerId.value, /^check-/);
    assert.equal(path(first.containerId.parent!), 'executor-container/c1');
    assert.equal(first.command?.value, 'test -f ready');
    assert.deepEqual(
      first.command?.environment?.variables.map((v) => `${v.name}=${v.value}`),
      ['TASK_VAR=task', 'MESOS_SANDBOX=/sandbox/containers/c1', 'CHECK_VAR=c'],
    );
    assert.deepEqual(
      containers.removed,
      checks.map((c) => path(c.containerId)),
    );
    assert.deepEqual(link.of('web').map(view), [
      { state: 'TASK_STARTING' },
      { state: 'TASK_RUNNING' },
      { state: 'TASK_RUNNING', reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: false },
      { state: 'TASK_RUNNING', reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: false },
      { state: 'TASK_KILLING' },
      { state: 'TASK_KILLED', healthy: false },
    ]);
    // Health updates name the task's own container, as every default executor update does.
    assert.equal(link.of('web')[2]?.containerStatus?.containerId?.value, 'c1');
    // The group goes with it; the sibling's end says nothing about health.
    assert.deepEqual(link.of('sidecar').map(view), [
      { state: 'TASK_STARTING' },
      { state: 'TASK_RUNNING' },
      { state: 'TASK_KILLING' },
      { state: 'TASK_KILLED' },
    ]);
    await advance(5_000);
    assert.equal(containers.checkLaunches().length, 2, 'no probes once the task is being killed');
  });

  it('a check container that outlives the timeout is SIGKILLed, and the probe is a failure', async () => {
    const { link, containers, launchGroup, advance } = setUp();
    containers.checkScript = ['hang'];
    await launchGroup([
      {
        taskId: { value: 't' },
        healthCheck: {
          type: HealthCheck_Type.COMMAND,
          command: { value: 'sleep 100' },
          delaySeconds: 0,
          timeoutSeconds: 1,
          gracePeriodSeconds: 0,
          consecutiveFailures: 5,
        },
      },
    ]);
    await advance(1_100);
    const check = containers.checkLaunches()[0]!;
    assert.ok(containers.kills.includes(`${path(check.containerId)}:9`));
    assert.deepEqual(view(link.of('t').at(-1)!), {
      state: 'TASK_RUNNING',
      reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED',
      healthy: false,
    });
  });

  it('an unreachable agent gives no result: nothing reported', async () => {
    const { link, containers, launchGroup, advance } = setUp();
    containers.checkScript = ['unreachable', 'unreachable', EXITED(0)];
    await launchGroup([
      {
        taskId: { value: 't' },
        healthCheck: {
          type: HealthCheck_Type.COMMAND,
          command: { value: 'true' },
          delaySeconds: 0,
          intervalSeconds: 1,
        },
      },
    ]);
    await advance(1_500);
    assert.equal(link.of('t').length, 2);
    await advance(1_000);
    assert.deepEqual(view(link.of('t').at(-1)!), {
      state: 'TASK_RUNNING',
      reason: 'TASK_HEALTH_CHECK_STATUS_UPDATED',
      healthy: true,
    });
  });
});

describe('DefaultExecutor checks', () => {
  it('check_status on every update of the task; RUNNING with REASON_TASK_CHECK_STATUS_UPDATED on a change', async () => {
    const { link, containers, launchGroup, advance } = setUp();
    containers.checkScript = [EXITED(2), EXITED(2), EXITED(0)];
    await launchGroup([
      {
        taskId: { value: 't' },
        check: {
          type: CheckInfo_Type.COMMAND,
          command: { command: { value: 'probe' } },
          delaySeconds: 0,
          intervalSeconds: 1,
        },
      },
    ]);
    await advance(2_500);
    const c1 = containers.launches.find((l) => l.containerId.value === 'c1')!;
    containers.kills.length = 0;
    await containers.kill(c1.containerId, 9);
    await flush();
    const empty = { type: 'COMMAND', command: {} };
    assert.deepEqual(link.of('t').map(view), [
      { state: 'TASK_STARTING', check: empty },
      { state: 'TASK_RUNNING', check: empty },
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_CHECK_STATUS_UPDATED',
        check: { type: 'COMMAND', command: { exitCode: 2 } },
      },
      {
        state: 'TASK_RUNNING',
        reason: 'TASK_CHECK_STATUS_UPDATED',
        check: { type: 'COMMAND', command: { exitCode: 0 } },
      },
      { state: 'TASK_FAILED', check: { type: 'COMMAND', command: { exitCode: 0 } } },
    ]);
  });
});

describe('nestedCommandProbe', () => {
  const parent = create(ContainerIDSchema, { value: 'task', parent: { value: 'executor' } });
  const command = create(CommandInfoSchema, { value: 'true' });
  const never = () => new AbortController().signal;

  it('an exit code is the outcome; a death by signal is an error; a refused launch is an error', async () => {
    const containers = new FakeContainers();
    const probe = nestedCommandProbe({
      containers,
      parent,
      command,
      logger: createLogger('test', 'silent'),
      newContainerId: () => 'x',
    });
    containers.checkScript = [EXITED(4), 9];
    assert.deepEqual(await probe(never()), { kind: 'command', exitCode: 4 });
    assert.deepEqual(await probe(never()), {
      kind: 'error',
      message: 'Command terminated with signal Killed',
    });
    containers.launch = async () => ({ kind: 'rejected', httpStatus: 400, detail: 'Parent container gone' });
    assert.deepEqual(await probe(never()), {
      kind: 'error',
      message: 'Failed to launch the check container: agent answered 400: Parent container gone',
    });
  });
});
