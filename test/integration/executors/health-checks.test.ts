/**
 * Health checks and checks of the real command executor process against the fake agent: probes
 * run for real (a shell command in the sandbox, HTTP and TCP against servers of this test).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFieldSet, toJson } from '@bufbuild/protobuf';
import {
  CheckInfo_Type,
  CheckStatusInfoSchema,
  HealthCheck_Type,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  commandTask,
  executorEnvironment,
  FakeAgent,
  makeSandbox,
  type RunningExecutor,
  startExecutor,
} from './fake-agent.js';

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(20);
  }
}

async function exitCode(executor: RunningExecutor, timeoutMs = 15_000): Promise<number | null> {
  const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
    throw new Error(`executor did not exit within ${timeoutMs}ms`);
  });
  return Promise.race([executor.exited, timeout]);
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

const healthUpdates = (updates: readonly TaskStatus[]) =>
  updates.filter((u) => u.reason === TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
const checkUpdates = (updates: readonly TaskStatus[]) =>
  updates.filter((u) => u.reason === TaskStatus_Reason.TASK_CHECK_STATUS_UPDATED);
const states = (updates: readonly TaskStatus[]) => updates.map((u) => TaskState[u.state]);

describe('command executor health checks and checks (real process, fake agent)', { timeout: 120_000 }, () => {
  const agents: FakeAgent[] = [];
  const executors: RunningExecutor[] = [];
  const sandboxes: string[] = [];
  const servers: { close(): void }[] = [];

  async function setUp(options: ConstructorParameters<typeof FakeAgent>[0]) {
    const agent = new FakeAgent(options);
    agents.push(agent);
    const port = await agent.listen();
    const sandbox = makeSandbox();
    sandboxes.push(sandbox);
    const executor = startExecutor(sandbox, executorEnvironment(port, sandbox));
    executors.push(executor);
    return { agent, sandbox, executor };
  }

  afterEach(async () => {
    for (const executor of executors.splice(0)) {
      if (executor.child.exitCode === null && executor.child.signalCode === null && executor.child.pid) {
        try {
          process.kill(-executor.child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const server of servers.splice(0)) server.close();
    await Promise.all(agents.splice(0).map((agent) => agent.close()));
  });

  after(() => {
    for (const sandbox of sandboxes) rmSync(sandbox, { recursive: true, force: true });
  });

  it('a failing COMMAND health check kills the task: healthy=false updates, TASK_KILLING, TASK_KILLED healthy=false', async () => {
    const task = commandTask(
      'unhealthy',
      { value: 'echo $$ > task.pid; exec sleep 1000' },
      {
        healthCheck: {
          type: HealthCheck_Type.COMMAND,
          command: { value: 'test -f "$MESOS_SANDBOX/healthy"' },
          delaySeconds: 0.1,
          intervalSeconds: 0.2,
          timeoutSeconds: 5,
          gracePeriodSeconds: 0,
          consecutiveFailures: 3,
        },
        killPolicy: { gracePeriod: { nanoseconds: 2_000_000_000n } },
      },
    );
    const { agent, sandbox, executor } = await setUp({ task, taskKillingState: true });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), [
      'TASK_STARTING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_KILLING',
      'TASK_KILLED',
    ]);
    const health = healthUpdates(updates);
    assert.equal(health.length, 3);
    for (const update of health) {
      assert.equal(update.healthy, false);
      assert.equal(update.source, 2);
    }
    const killed = updates.at(-1)!;
    assert.equal(killed.healthy, false);
    assert.equal(killed.message, 'Command terminated with signal Terminated');
    // The task itself is gone.
    const pid = Number(readFileSync(join(sandbox, 'task.pid'), 'utf8').trim());
    assert.throws(() => process.kill(pid, 0));
  });

  it('a COMMAND health check that outlives its timeout is a failure, and its process is killed', async () => {
    const task = commandTask(
      'slow-check',
      { value: 'exec sleep 1000' },
      {
        healthCheck: {
          type: HealthCheck_Type.COMMAND,
          command: { value: 'echo $$ >> "$MESOS_SANDBOX/check.pids"; exec sleep 1000' },
          delaySeconds: 0,
          intervalSeconds: 0.1,
          timeoutSeconds: 0.3,
          gracePeriodSeconds: 0,
          consecutiveFailures: 1,
        },
      },
    );
    const { agent, sandbox, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    assert.deepEqual(states(agent.updates()), [
      'TASK_STARTING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_KILLED',
    ]);
    assert.equal(agent.updates().at(-1)?.healthy, false);
    for (const line of readFileSync(join(sandbox, 'check.pids'), 'utf8').trim().split('\n')) {
      assert.throws(() => process.kill(Number(line), 0), `check process ${line} should be gone`);
    }
  });

  it('an HTTP health check against a local server that answers 200: healthy=true once', async () => {
    let hits = 0;
    const server = createHttpServer((request, response) => {
      hits += 1;
      response.writeHead(request.url === '/health' ? 200 : 404).end();
    });
    servers.push(server);
    const port = await listen(server);
    const task = commandTask(
      'http-healthy',
      { value: 'exec sleep 1000' },
      {
        healthCheck: {
          type: HealthCheck_Type.HTTP,
          http: { port, path: '/health' },
          delaySeconds: 0,
          intervalSeconds: 0.1,
          timeoutSeconds: 5,
        },
      },
    );
    const { agent, executor } = await setUp({ task });
    await waitFor('several probes', () => hits >= 5);
    const health = healthUpdates(agent.updates());
    assert.equal(health.length, 1);
    assert.equal(health[0]?.healthy, true);
    assert.equal(health[0]?.state, TaskState.TASK_RUNNING);
    agent.kill('http-healthy', 0);
    assert.equal(await exitCode(executor), 0);
    const last = agent.updates().at(-1)!;
    assert.equal(TaskState[last.state], 'TASK_KILLED');
    // Killed by the framework, not by its health check: the end says nothing about health.
    assert.equal(isFieldSet(last, TaskStatusSchema.field.healthy), false);
  });

  it('an HTTP health check that gets 500 fails', async () => {
    const server = createHttpServer((_request, response) => response.writeHead(500).end());
    servers.push(server);
    const port = await listen(server);
    const task = commandTask(
      'http-500',
      { value: 'exec sleep 1000' },
      {
        healthCheck: {
          type: HealthCheck_Type.HTTP,
          http: { port, path: '/' },
          delaySeconds: 0,
          intervalSeconds: 0.1,
          gracePeriodSeconds: 0,
          consecutiveFailures: 2,
        },
      },
    );
    const { agent, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    assert.deepEqual(
      healthUpdates(agent.updates()).map((u) => u.healthy),
      [false, false],
    );
    assert.equal(agent.updates().at(-1)?.healthy, false);
  });

  it('a TCP health check: healthy while something listens, killed once nothing does', async () => {
    const server = createTcpServer((socket) => socket.end());
    const port = await listen(server);
    const task = commandTask(
      'tcp',
      { value: 'exec sleep 1000' },
      {
        healthCheck: {
          type: HealthCheck_Type.TCP,
          tcp: { port },
          delaySeconds: 0,
          intervalSeconds: 0.1,
          gracePeriodSeconds: 0,
          consecutiveFailures: 2,
        },
      },
    );
    const { agent, executor } = await setUp({ task });
    await waitFor('healthy', () => healthUpdates(agent.updates()).length === 1);
    assert.equal(healthUpdates(agent.updates())[0]?.healthy, true);
    await sleep(300);
    assert.equal(healthUpdates(agent.updates()).length, 1, 'a healthy task is reported once');
    server.close();
    assert.equal(await exitCode(executor), 0);
    assert.deepEqual(
      healthUpdates(agent.updates()).map((u) => u.healthy),
      [true, false, false],
    );
    assert.deepEqual(states(agent.updates()).at(-1), 'TASK_KILLED');
    assert.equal(agent.updates().at(-1)?.healthy, false);
  });

  it('a COMMAND check reports check_status on every update and a new one when the exit code changes', async () => {
    const task = commandTask(
      'checked',
      { value: 'exec sleep 1000' },
      {
        check: {
          type: CheckInfo_Type.COMMAND,
          command: { command: { value: 'test -f "$MESOS_SANDBOX/flag"' } },
          delaySeconds: 0,
          intervalSeconds: 0.1,
          timeoutSeconds: 5,
        },
      },
    );
    const { agent, sandbox, executor } = await setUp({ task });
    await waitFor('exit code 1', () => checkUpdates(agent.updates()).length === 1);
    writeFileSync(join(sandbox, 'flag'), '');
    await waitFor('exit code 0', () => checkUpdates(agent.updates()).length === 2);
    await sleep(300);
    agent.kill('checked', 0);
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    const json = (u: TaskStatus) =>
      u.checkStatus ? toJson(CheckStatusInfoSchema, u.checkStatus) : undefined;
    assert.deepEqual(states(updates), [
      'TASK_STARTING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_RUNNING',
      'TASK_KILLED',
    ]);
    assert.deepEqual(updates.map(json), [
      { type: 'COMMAND', command: {} },
      { type: 'COMMAND', command: {} },
      { type: 'COMMAND', command: { exitCode: 1 } },
      { type: 'COMMAND', command: { exitCode: 0 } },
      { type: 'COMMAND', command: { exitCode: 0 } },
    ]);
    for (const update of checkUpdates(updates)) assert.equal(update.state, TaskState.TASK_RUNNING);
    // A check never sets `healthy`, and never kills.
    for (const update of updates) assert.equal(isFieldSet(update, TaskStatusSchema.field.healthy), false);
  });

  it('HTTP and TCP checks report the status code and whether the connection succeeded', async () => {
    const server = createHttpServer((_request, response) => response.writeHead(204).end());
    servers.push(server);
    const httpPort = await listen(server);
    const http = await setUp({
      task: commandTask(
        'http-check',
        { value: 'exec sleep 1000' },
        { check: { type: CheckInfo_Type.HTTP, http: { port: httpPort, path: '/' }, delaySeconds: 0 } },
      ),
    });
    await waitFor('HTTP check status', () => checkUpdates(http.agent.updates()).length === 1);
    const httpStatus = checkUpdates(http.agent.updates())[0]!.checkStatus!;
    assert.deepEqual(toJson(CheckStatusInfoSchema, httpStatus), { type: 'HTTP', http: { statusCode: 204 } });
    http.agent.kill('http-check', 0);
    assert.equal(await exitCode(http.executor), 0);

    const closed = createTcpServer();
    const closedPort = await listen(closed);
    closed.close();
    const tcp = await setUp({
      task: commandTask(
        'tcp-check',
        { value: 'exec sleep 1000' },
        { check: { type: CheckInfo_Type.TCP, tcp: { port: closedPort }, delaySeconds: 0 } },
      ),
    });
    await waitFor('TCP check status', () => checkUpdates(tcp.agent.updates()).length === 1);
    const tcpStatus = checkUpdates(tcp.agent.updates())[0]!.checkStatus!;
    assert.deepEqual(toJson(CheckStatusInfoSchema, tcpStatus), { type: 'TCP', tcp: { succeeded: false } });
    tcp.agent.kill('tcp-check', 0);
    assert.equal(await exitCode(tcp.executor), 0);
  });
});
