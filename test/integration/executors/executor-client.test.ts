import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { createLogger } from '../../../src/common/log.js';
import {
  ExecutorClient,
  type ExecutorClientEnvironment,
  type ExecutorEventHandlers,
} from '../../../src/executors/executor-client.js';
import { buildTaskStatus } from '../../../src/executors/status.js';
import type { RecordStream } from '../../../src/http/responses.js';
import { type HttpLogger, HttpServer } from '../../../src/http/server.js';
import { codec, MEDIA_TYPE_JSON, MEDIA_TYPE_PROTOBUF, type WireMediaType } from '../../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import { TaskInfoSchema, TaskState } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const quiet: HttpLogger = { warn() {}, error() {} };
const silent = createLogger('test', 'silent');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(10);
  }
}

interface Recorded {
  call: Call;
  headers: Record<string, string | string[] | undefined>;
}

/** An executor endpoint whose every answer a test can shape. */
class ScriptedAgent {
  readonly server = new HttpServer({ delegate: 'slave(1)', logger: quiet, closeGraceMs: 100 });
  readonly received: Recorded[] = [];
  stream: RecordStream | undefined;
  /** Status to answer the next SUBSCRIBEs with, first come first served; 200 when empty. */
  subscribeStatuses: number[] = [];
  /** Resolves before SUBSCRIBED is written, so a test can act while the executor is connecting. */
  holdSubscribed: Promise<void> = Promise.resolve();
  autoAcknowledge = false;
  mediaType: WireMediaType = MEDIA_TYPE_JSON;

  constructor() {
    this.server.route('slave(1)', '/api/v1/executor', async (request) => {
      const contentType =
        request.header('content-type') === MEDIA_TYPE_PROTOBUF ? MEDIA_TYPE_PROTOBUF : MEDIA_TYPE_JSON;
      const call = codec.decode(CallSchema, await request.body(), contentType);
      this.received.push({ call, headers: request.headers });
      if (call.type === Call_Type.SUBSCRIBE) {
        const status = this.subscribeStatuses.shift() ?? 200;
        if (status !== 200) return { status, body: 'Agent has not finished recovery' };
        return {
          status: 200,
          headers: { 'Content-Type': contentType },
          open: async (stream) => {
            this.stream = stream;
            await this.holdSubscribed;
            this.send({
              type: Event_Type.SUBSCRIBED,
              subscribed: {
                executorInfo: { executorId: { value: 'e' } },
                frameworkInfo: { user: 'u', name: 'f', id: { value: 'f' } },
                agentInfo: { hostname: 'h' },
              },
            });
          },
        };
      }
      const status = call.update?.status;
      if (status && this.autoAcknowledge) {
        this.send({
          type: Event_Type.ACKNOWLEDGED,
          acknowledged: { taskId: status.taskId, uuid: status.uuid },
        });
      }
      return { status: 202 };
    });
  }

  send(event: MessageInitShape<typeof EventSchema>): void {
    this.stream?.write(codec.encode(EventSchema, create(EventSchema, event), this.mediaType));
  }

  calls(type: Call_Type): Call[] {
    return this.received.filter((r) => r.call.type === type).map((r) => r.call);
  }

  updateStates(): string[] {
    return this.calls(Call_Type.UPDATE).map((call) => String(TaskState[call.update?.status?.state ?? 0]));
  }
}

describe('ExecutorClient against a scripted agent', () => {
  const servers: HttpServer[] = [];
  const clients: ExecutorClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function setUp(
    environment: Partial<ExecutorClientEnvironment> = {},
    handlers: Partial<ExecutorEventHandlers> = {},
    mediaType: WireMediaType = MEDIA_TYPE_JSON,
  ) {
    const agent = new ScriptedAgent();
    agent.mediaType = mediaType;
    servers.push(agent.server);
    const { port } = await agent.server.listen('127.0.0.1', 0);
    const client = new ExecutorClient({
      environment: {
        frameworkId: 'f',
        executorId: 'e',
        agentUrl: `http://127.0.0.1:${port}/slave(1)/api/v1/executor`,
        checkpoint: true,
        subscriptionBackoffMaxMs: 50,
        recoveryTimeoutMs: 5_000,
        authenticationToken: undefined,
        ...environment,
      },
      handlers,
      logger: silent,
      mediaType,
    });
    clients.push(client);
    return { agent, client, port };
  }

  const status = (state: TaskState, task = 't') =>
    buildTaskStatus(task, state, { executorId: 'e', nowMs: Date.now() });

  it('subscribes with the envelope and headers, and posts updates in the order they were made', async () => {
    const { agent, client } = await setUp({ authenticationToken: 'tok' });
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    const subscribe = agent.received[0];
    assert.equal(subscribe?.call.executorId?.value, 'e');
    assert.equal(subscribe?.call.frameworkId?.value, 'f');
    assert.equal(subscribe?.headers['content-type'], 'application/json');
    assert.equal(subscribe?.headers['accept'], 'application/json');
    assert.equal(subscribe?.headers['authorization'], 'Bearer tok');

    const states = [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED];
    for (let i = 0; i < 10; i += 1) for (const state of states) client.sendUpdate(status(state, `t${i}`));
    await waitFor('30 updates', () => agent.calls(Call_Type.UPDATE).length === 30);
    const order = agent
      .calls(Call_Type.UPDATE)
      .map((c) => `${c.update?.status?.taskId?.value}:${c.update?.status?.state}`);
    const expected = Array.from({ length: 10 }, (_, i) => states.map((s) => `t${i}:${s}`)).flat();
    assert.deepEqual(order, expected);
    assert.equal(client.unacknowledgedUpdates.length, 30);
  });

  it('speaks protobuf when told to', async () => {
    const acknowledged: string[] = [];
    const { agent, client } = await setUp(
      {},
      { acknowledged: (_, uuid) => acknowledged.push(hex(uuid)) },
      MEDIA_TYPE_PROTOBUF,
    );
    agent.autoAcknowledge = true;
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    const update = status(TaskState.TASK_RUNNING);
    client.sendUpdate(update);
    await waitFor('the acknowledgement', () => acknowledged.length === 1);
    assert.deepEqual(acknowledged, [hex(update.uuid)]);
    assert.equal(agent.received[0]?.headers['content-type'], MEDIA_TYPE_PROTOBUF);
    assert.equal(client.unacknowledgedUpdates.length, 0);
  });

  it('drops acknowledged updates and the tasks they belong to from what SUBSCRIBE resends', async () => {
    const launched: string[] = [];
    const { agent, client } = await setUp({}, { launch: (task) => launched.push(task.taskId?.value ?? '') });
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    for (const id of ['a', 'b']) {
      agent.send({
        type: Event_Type.LAUNCH,
        launch: {
          task: create(TaskInfoSchema, { name: id, taskId: { value: id }, agentId: { value: 'x' } }),
        },
      });
    }
    await waitFor('two launches', () => launched.length === 2);
    const startingA = status(TaskState.TASK_STARTING, 'a');
    const startingB = status(TaskState.TASK_STARTING, 'b');
    client.sendUpdate(startingA);
    client.sendUpdate(startingB);
    await waitFor('two updates', () => agent.calls(Call_Type.UPDATE).length === 2);
    agent.send({
      type: Event_Type.ACKNOWLEDGED,
      acknowledged: { taskId: { value: 'a' }, uuid: startingA.uuid },
    });
    await waitFor('the acknowledgement', () => client.unacknowledgedUpdates.length === 1);

    agent.stream?.abort();
    await waitFor('a second SUBSCRIBE', () => agent.calls(Call_Type.SUBSCRIBE).length === 2);
    const resent = agent.calls(Call_Type.SUBSCRIBE)[1]?.subscribe;
    assert.deepEqual(
      resent?.unacknowledgedTasks.map((t) => t.taskId?.value),
      ['b'],
    );
    assert.deepEqual(
      resent?.unacknowledgedUpdates.map((u) => hex(u.status?.uuid ?? new Uint8Array())),
      [hex(startingB.uuid)],
    );
    await waitFor('SUBSCRIBED again', () => client.state === 'subscribed');
    assert.equal(agent.calls(Call_Type.UPDATE).length, 2, 'what SUBSCRIBE carried is not posted again');
  });

  it('posts an update made while SUBSCRIBE was in flight once SUBSCRIBED arrives', async () => {
    const { agent, client } = await setUp();
    let release = () => {};
    agent.holdSubscribed = new Promise((resolve) => {
      release = resolve;
    });
    client.start();
    await waitFor('the SUBSCRIBE call', () => agent.calls(Call_Type.SUBSCRIBE).length === 1);
    client.sendUpdate(status(TaskState.TASK_RUNNING));
    await sleep(50);
    assert.equal(agent.calls(Call_Type.UPDATE).length, 0, 'nothing is posted before SUBSCRIBED');
    release();
    await waitFor('the update', () => agent.calls(Call_Type.UPDATE).length === 1);
    assert.deepEqual(agent.updateStates(), ['TASK_RUNNING']);
  });

  it('retries a SUBSCRIBE the agent refuses, with backoff', async () => {
    const reasons: string[] = [];
    const { agent, client } = await setUp({}, { disconnected: (reason) => reasons.push(reason) });
    agent.subscribeStatuses = [503, 503];
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    assert.equal(agent.calls(Call_Type.SUBSCRIBE).length, 3);
    assert.equal(reasons.length, 2);
    assert.match(reasons[0] ?? '', /SUBSCRIBE with 503.*Agent has not finished recovery/);
  });

  it('gives up after the recovery timeout when the agent never comes back', async () => {
    const { agent, client } = await setUp({ recoveryTimeoutMs: 400 });
    let lost: string | undefined;
    const probe = new ExecutorClient({
      environment: {
        frameworkId: 'f',
        executorId: 'e',
        agentUrl: 'http://127.0.0.1:1/slave(1)/api/v1/executor',
        checkpoint: true,
        subscriptionBackoffMaxMs: 50,
        recoveryTimeoutMs: 400,
        authenticationToken: undefined,
      },
      handlers: { connectionLost: (reason) => (lost = reason) },
      logger: silent,
    });
    clients.push(probe);
    const started = Date.now();
    probe.start();
    await waitFor('the client to give up', () => lost !== undefined);
    assert.ok(Date.now() - started >= 350);
    assert.match(lost ?? '', /recovery timeout of 400ms/);
    assert.equal(probe.state, 'closed');
    // The scripted agent was never involved.
    assert.equal(agent.received.length, 0);
    assert.equal(client.state, 'idle');
  });

  it('without checkpointing gives up as soon as a subscribed stream breaks', async () => {
    let lost: string | undefined;
    const { agent, client } = await setUp(
      { checkpoint: false },
      { connectionLost: (reason) => (lost = reason) },
    );
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    agent.stream?.end();
    await waitFor('the client to give up', () => lost !== undefined);
    assert.match(lost ?? '', /does not checkpoint/);
    await sleep(100);
    assert.equal(agent.calls(Call_Type.SUBSCRIBE).length, 1, 'no re-subscription');
  });

  it('keeps reading after a handler throws', async () => {
    const seen: string[] = [];
    const { agent, client } = await setUp(
      {},
      {
        message: (data) => {
          seen.push(Buffer.from(data).toString());
          throw new Error('handler bug');
        },
      },
    );
    client.start();
    await waitFor('SUBSCRIBED', () => client.state === 'subscribed');
    agent.send({ type: Event_Type.MESSAGE, message: { data: Buffer.from('one') } });
    agent.send({ type: Event_Type.MESSAGE, message: { data: Buffer.from('two') } });
    await waitFor('both messages', () => seen.length === 2);
    assert.equal(client.state, 'subscribed');
    assert.equal(agent.calls(Call_Type.SUBSCRIBE).length, 1);
  });
});
