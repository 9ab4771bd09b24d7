import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { Call_Type } from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import { Event_Type } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  TaskGroupInfoSchema,
  type TaskInfo,
  TaskState,
  type TaskStatus,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  commandTask,
  DEFAULT_EXECUTOR_SCRIPT,
  EXECUTOR_CONTAINER_ID,
  executorEnvironment,
  FakeAgent,
  makeSandbox,
  type RunningExecutor,
  startExecutor,
} from './fake-agent.js';
import { FakeNestedContainers } from './fake-nested-containers.js';

const statesOf = (updates: readonly TaskStatus[], taskId: string) =>
  updates.filter((u) => u.taskId?.value === taskId).map((u) => TaskState[u.state]);
const lastOf = (updates: readonly TaskStatus[], taskId: string) =>
  updates.filter((u) => u.taskId?.value === taskId).at(-1);

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(20);
  }
}

async function exitCode(executor: RunningExecutor, timeoutMs = 10_000): Promise<number | null> {
  // ref: false, so a pending deadline never holds the test process open after the run.
  const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
    throw new Error(`executor did not exit within ${timeoutMs}ms`);
  });
  return Promise.race([executor.exited, timeout]);
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

const group = (...tasks: TaskInfo[]) => create(TaskGroupInfoSchema, { tasks });
const graceMs = (ms: number) => ({ gracePeriod: { nanoseconds: BigInt(ms) * 1_000_000n } });

describe('default executor process against a fake agent (executor and operator APIs)', () => {
  const agents: FakeAgent[] = [];
  const hosts: FakeNestedContainers[] = [];
  const executors: RunningExecutor[] = [];
  const sandboxes: string[] = [];

  async function setUp(
    options: ConstructorParameters<typeof FakeAgent>[0],
    refuse?: (command: string) => boolean,
  ) {
    const agent = new FakeAgent(options);
    agents.push(agent);
    const sandbox = makeSandbox();
    sandboxes.push(sandbox);
    const host = new FakeNestedContainers(agent, sandbox, refuse);
    hosts.push(host);
    const port = await agent.listen();
    const executor = startExecutor(sandbox, executorEnvironment(port, sandbox), DEFAULT_EXECUTOR_SCRIPT);
    executors.push(executor);
    return { agent, host, sandbox, executor };
  }

  afterEach(async () => {
    for (const executor of executors.splice(0)) {
      const pid = executor.child.pid;
      if (executor.child.exitCode === null && executor.child.signalCode === null && pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const host of hosts.splice(0)) host.killAll();
    await Promise.all(agents.splice(0).map((agent) => agent.close()));
  });

  after(() => {
    for (const sandbox of sandboxes) rmSync(sandbox, { recursive: true, force: true });
  });

  it('two tasks: both nested containers run for real, both FINISHED, executor exits 0', async () => {
    const { agent, host, sandbox, executor } = await setUp({
      taskGroup: group(
        commandTask('one', { value: 'echo one-out' }),
        commandTask('two', { value: 'sleep 0.2; echo two-out' }),
      ),
    });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    for (const id of ['one', 'two']) {
      assert.deepEqual(statesOf(updates, id), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      assert.equal(lastOf(updates, id)?.message, 'Command exited with status 0');
      assert.equal(lastOf(updates, id)?.containerStatus?.containerId?.parent?.value, EXECUTOR_CONTAINER_ID);
    }
    const launches = host.calls.filter((call) => call.type === Call_Type.LAUNCH_NESTED_CONTAINER);
    assert.equal(launches.length, 2);
    const ids = launches.map((call) => call.launchNestedContainer?.containerId?.value ?? '');
    assert.notEqual(ids[0], ids[1]);
    for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      host.callTypes().filter((type) => type === 'WAIT_NESTED_CONTAINER').length,
      2,
      'one WAIT per container',
    );
    assert.match(readFileSync(`${sandbox}/${ids[0]}.stdout`, 'utf8'), /one-out/);
    assert.match(readFileSync(`${sandbox}/${ids[1]}.stdout`, 'utf8'), /two-out/);
  });

  it('one task exits 1: it is FAILED, the other is KILLED (SIGTERM through the operator API)', async () => {
    const { agent, host, executor } = await setUp({
      taskGroup: group(
        commandTask('bad', { value: 'sleep 0.2; exit 1' }),
        commandTask('long', { value: 'sleep 1000' }),
      ),
    });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(statesOf(updates, 'bad'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.equal(lastOf(updates, 'bad')?.message, 'Command exited with status 1');
    assert.deepEqual(statesOf(updates, 'long'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    assert.equal(lastOf(updates, 'long')?.message, 'Command terminated with signal Terminated');
    const long = [...host.containers.values()].find((c) => c.command === 'sleep 1000');
    assert.deepEqual(long?.signals, [15]);
    assert.ok(!alive(long?.process.pid));
  });

  it('KILL of one task kills both: TASK_KILLING, SIGTERM, SIGKILL for one that ignores SIGTERM', async () => {
    const { agent, host, executor } = await setUp({
      taskKillingState: true,
      taskGroup: group(
        commandTask('polite', { value: 'sleep 1000' }),
        commandTask('stubborn', { value: 'trap "" TERM; sleep 1000' }, { killPolicy: graceMs(300) }),
      ),
    });
    await waitFor('both tasks running', () =>
      ['polite', 'stubborn'].every((id) => statesOf(agent.updates(), id).includes('TASK_RUNNING')),
    );
    agent.kill('polite');
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    for (const id of ['polite', 'stubborn']) {
      assert.deepEqual(statesOf(updates, id), [
        'TASK_STARTING',
        'TASK_RUNNING',
        'TASK_KILLING',
        'TASK_KILLED',
      ]);
    }
    assert.equal(lastOf(updates, 'polite')?.message, 'Command terminated with signal Terminated');
    assert.equal(lastOf(updates, 'stubborn')?.message, 'Command terminated with signal Killed');
    const stubborn = [...host.containers.values()].find((c) => c.command.startsWith('trap'));
    assert.deepEqual(stubborn?.signals, [15, 9]);
  });

  it('SHUTDOWN kills every task (TASK_KILLED) and exits 0', async () => {
    const { agent, host, executor } = await setUp({
      taskGroup: group(commandTask('a', { value: 'sleep 1000' }), commandTask('b', { value: 'sleep 1000' })),
    });
    await waitFor('both tasks running', () =>
      ['a', 'b'].every((id) => statesOf(agent.updates(), id).includes('TASK_RUNNING')),
    );
    agent.sendEvent({ type: Event_Type.SHUTDOWN });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    for (const id of ['a', 'b']) {
      assert.deepEqual(statesOf(updates, id), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    }
    for (const container of host.containers.values()) assert.ok(!alive(container.process.pid));
  });

  it('a refused launch is TASK_FAILED with the agent answer; the launched task is killed', async () => {
    const { agent, executor } = await setUp(
      { taskGroup: group(commandTask('ok', { value: 'sleep 1000' }), commandTask('no', { value: 'true' })) },
      (command) => command === 'true',
    );
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(statesOf(updates, 'no'), ['TASK_STARTING', 'TASK_FAILED']);
    assert.equal(
      lastOf(updates, 'no')?.message,
      "Failed to launch the task's container: agent answered 400: refused by the test",
    );
    assert.deepEqual(statesOf(updates, 'ok'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
  });

  it('a second group runs on after the first one finished; the executor exits when both are done', async () => {
    const { agent, executor } = await setUp({
      taskGroup: group(commandTask('first', { value: 'sleep 0.5' })),
    });
    await waitFor('first running', () => statesOf(agent.updates(), 'first').includes('TASK_RUNNING'));
    agent.sendEvent({
      type: Event_Type.LAUNCH_GROUP,
      launchGroup: { taskGroup: group(commandTask('second', { value: 'sleep 1' })) },
    });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(statesOf(updates, 'first'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.deepEqual(statesOf(updates, 'second'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
  });
});
