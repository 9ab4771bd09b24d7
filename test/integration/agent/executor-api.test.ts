/**
 * The agent's executor endpoint over real HTTP (reference sections 1.7 and 3, test catalogue 8.3),
 * in JSON and protobuf. The test plays the executor: the agent launches a silent test executor so
 * that it knows the framework and executor ids, and the test subscribes in its place.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { agentFlags } from '../../../src/agent/flags.js';
import { type RunningAgent, startAgent } from '../../../src/agent/process.js';
import { parseOptions } from '../../../src/common/options.js';
import { codec, type WireMediaType } from '../../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import { TaskState, TaskStatus_Source } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { AgentToMaster_Type, MasterToAgent_Type } from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { RecordIODecoder } from '../../../src/wire/recordio.js';
import { FakeMaster } from '../../support/fake-master.js';

const TEST_EXECUTOR = fileURLToPath(new URL('../../support/test-executor.js', import.meta.url));
const JSON_TYPE = 'application/json';
const PROTOBUF = 'application/x-protobuf';
const FRAMEWORK_ID = 'fw-api';
const EXECUTOR_ID = 'exec-api';

/** Reads RecordIO events off a streaming response. */
class EventReader {
  private readonly events: Event[] = [];
  private readonly waiters: ((event: Event | undefined) => void)[] = [];
  ended = false;

  constructor(
    readonly response: Response,
    mediaType: WireMediaType,
  ) {
    const decoder = new RecordIODecoder();
    void (async () => {
      try {
        for await (const chunk of response.body!) {
          for (const record of decoder.push(chunk as Uint8Array))
            this.push(codec.decode(EventSchema, record, mediaType));
        }
      } catch {
        // cut by the server or by us
      }
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter(undefined);
    })();
  }

  private push(event: Event): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(event);
    else this.events.push(event);
  }

  async next(timeoutMs = 5000): Promise<Event> {
    const ready = this.events.shift();
    if (ready) return ready;
    if (this.ended) throw new Error('the event stream has ended');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((event) => {
        clearTimeout(timer);
        if (event) resolve(event);
        else reject(new Error('the event stream has ended'));
      });
    });
  }

  /** Resolves once the server has closed the stream. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(this.ended, 'stream still open');
  }
}

describe('executor API (/slave(1)/api/v1/executor)', () => {
  const master = new FakeMaster();
  let workDir: string;
  let agent: RunningAgent;
  let base: string;
  const readers: EventReader[] = [];

  function call(init: MessageInitShape<typeof CallSchema>): Call {
    return create(CallSchema, {
      frameworkId: { value: FRAMEWORK_ID },
      executorId: { value: EXECUTOR_ID },
      ...init,
    } as MessageInitShape<typeof CallSchema>);
  }

  async function post(
    body: Uint8Array | string,
    headers: Record<string, string>,
    path = '/slave(1)/api/v1/executor',
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await fetch(base + path, { method: 'POST', headers, body });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  async function send(message: Call, mediaType: WireMediaType = JSON_TYPE) {
    return post(codec.encode(CallSchema, message, mediaType), { 'Content-Type': mediaType });
  }

  async function subscribe(mediaType: WireMediaType, accept: string = mediaType): Promise<EventReader> {
    const res = await fetch(`${base}/slave(1)/api/v1/executor`, {
      method: 'POST',
      headers: { 'Content-Type': mediaType, Accept: accept },
      body: codec.encode(CallSchema, call({ type: Call_Type.SUBSCRIBE, subscribe: {} }), mediaType),
    });
    assert.equal(res.status, 200, await (res.status === 200 ? Promise.resolve('') : res.text()));
    const reader = new EventReader(res, (res.headers.get('content-type') ?? JSON_TYPE) as WireMediaType);
    readers.push(reader);
    return reader;
  }

  function update(state: TaskState, extra: Record<string, unknown> = {}): Call {
    return call({
      type: Call_Type.UPDATE,
      update: {
        status: {
          taskId: { value: 'api-task' },
          state,
          source: TaskStatus_Source.EXECUTOR,
          uuid: new Uint8Array(16).fill(state + 1),
          ...extra,
        },
      },
    });
  }

  before(async () => {
    await master.start();
    workDir = mkdtempSync(join(tmpdir(), 'strata-agent-api-'));
    const flags = parseOptions(agentFlags, [
      '--switch_user=false', // the fake frameworks' users do not exist here
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      '--port=0',
      `--work_dir=${workDir}`,
      '--resources=cpus:2;mem:1024;disk:1024',
      '--registration_backoff_factor=10ms',
      '--http_heartbeat_interval=300ms',
      '--executor_shutdown_grace_period=1secs',
    ]).values;
    agent = await startAgent(flags, {
      installSignalHandlers: false,
      logger: pino({ level: process.env.STRATA_TEST_LOG ?? 'silent' }),
      killEscalationMs: 300,
    });
    base = `http://127.0.0.1:${agent.address.port}`;
    await master.nextOfType(AgentToMaster_Type.REGISTER);
    while (agent.agentId() === undefined) await new Promise((r) => setTimeout(r, 10));
    master.send({
      type: MasterToAgent_Type.RUN_TASK,
      runTask: {
        frameworkInfo: { user: 'tester', name: 'api', id: { value: FRAMEWORK_ID } },
        task: {
          name: 'api-task',
          taskId: { value: 'api-task' },
          agentId: { value: 'fake-master-S0' },
          executor: {
            executorId: { value: EXECUTOR_ID },
            command: {
              value: `exec "${process.execPath}" "${TEST_EXECUTOR}"`,
              environment: { variables: [{ name: 'TEST_EXECUTOR_SILENT', value: '1' }] },
            },
          },
        },
      },
    });
    while (agent.agent.lookupExecutor(FRAMEWORK_ID, EXECUTOR_ID).kind !== 'found') {
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  after(async () => {
    for (const reader of readers) await reader.response.body?.cancel().catch(() => {});
    await agent?.close();
    await master.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  describe('transport', () => {
    it('E1: no Content-Type is a 400', async () => {
      // A Uint8Array body, so that fetch adds no Content-Type of its own.
      const res = await post(new TextEncoder().encode('{}'), {});
      assert.equal(res.status, 400);
      assert.equal(res.text, "Expecting 'Content-Type' to be present");
    });

    it('answers other methods with 405 and Allow: POST', async () => {
      const res = await fetch(`${base}/api/v1/executor`);
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      assert.equal(
        await res.text(),
        "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.",
      );
    });

    it('refuses other content types with 415', async () => {
      const res = await post('{}', { 'Content-Type': 'application/json; charset=utf-8' });
      assert.equal(res.status, 415);
      assert.equal(res.text, "Expecting 'Content-Type' of application/json or application/x-protobuf");
    });

    it('E3: malformed bodies are 400s in both encodings', async () => {
      const json = await post('MALFORMED_CONTENT', { 'Content-Type': JSON_TYPE });
      assert.equal(json.status, 400);
      assert.match(json.text, /^Failed to parse body into JSON: /);
      const pb = await post(new Uint8Array([0xff, 0xff, 0xff]), { 'Content-Type': PROTOBUF });
      assert.equal(pb.status, 400);
      assert.equal(pb.text, 'Failed to parse body into Call protobuf');
      const missing = await post('{"type":"HEARTBEAT","framework_id":{"value":"x"}}', {
        'Content-Type': JSON_TYPE,
      });
      assert.equal(missing.status, 400);
      assert.match(missing.text, /^Failed to convert JSON into Call protobuf: /);
    });

    it('needs a type', async () => {
      const res = await post(`{"framework_id":{"value":"x"},"executor_id":{"value":"y"}}`, {
        'Content-Type': JSON_TYPE,
      });
      assert.equal(res.status, 400);
      assert.equal(res.text, "Failed to validate Executor::Call: Expecting 'type' to be present");
    });

    it('answers HEARTBEAT with 202 without looking the executor up, also on the unprefixed path', async () => {
      const heartbeat = create(CallSchema, {
        frameworkId: { value: 'nobody' },
        executorId: { value: 'nothing' },
        type: Call_Type.HEARTBEAT,
      });
      const res = await post(
        codec.encode(CallSchema, heartbeat, PROTOBUF),
        { 'Content-Type': PROTOBUF },
        '/api/v1/executor',
      );
      assert.equal(res.status, 202);
      assert.equal(res.text, '');
    });

    it('E5: a call for an unknown framework or executor is a 400', async () => {
      const unknownFramework = create(CallSchema, {
        frameworkId: { value: 'nobody' },
        executorId: { value: EXECUTOR_ID },
        type: Call_Type.MESSAGE,
        message: { data: new Uint8Array([1]) },
      });
      for (const mediaType of [JSON_TYPE, PROTOBUF] as const) {
        const res = await send(unknownFramework, mediaType);
        assert.equal(res.status, 400);
        assert.equal(res.text, 'Framework cannot be found');
      }
      const unknownExecutor = create(CallSchema, {
        frameworkId: { value: FRAMEWORK_ID },
        executorId: { value: 'nothing' },
        type: Call_Type.MESSAGE,
        message: { data: new Uint8Array([1]) },
      });
      const res = await send(unknownExecutor);
      assert.equal(res.status, 400);
      assert.equal(res.text, 'Executor cannot be found');
    });

    it('refuses calls from an executor that has not subscribed with 403', async () => {
      const res = await send(update(TaskState.TASK_RUNNING));
      assert.equal(res.status, 403);
      assert.equal(res.text, 'Executor is not subscribed');
    });

    it('E9: SUBSCRIBE with an unacceptable Accept is a 406', async () => {
      const res = await post(
        codec.encode(CallSchema, call({ type: Call_Type.SUBSCRIBE, subscribe: {} }), JSON_TYPE),
        {
          'Content-Type': JSON_TYPE,
          Accept: 'foo',
        },
      );
      assert.equal(res.status, 406);
      assert.equal(res.text, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
    });

    it('validates UPDATE calls (source, uuid, executor id, TASK_STAGING)', async () => {
      const cases: [Call, string][] = [
        [
          update(TaskState.TASK_RUNNING, { executorId: { value: 'other' } }),
          'ExecutorID in Call: exec-api does not match ExecutorID in TaskStatus: other',
        ],
        [
          update(TaskState.TASK_STAGING),
          'Received TASK_STAGING from executor exec-api of framework fw-api which is not allowed',
        ],
        [
          update(TaskState.TASK_RUNNING, { source: TaskStatus_Source.MASTER }),
          "Received Call from executor exec-api of framework fw-api with invalid source, expecting 'SOURCE_EXECUTOR'",
        ],
        [update(TaskState.TASK_RUNNING, { uuid: new Uint8Array(5) }), 'Not a valid UUID'],
      ];
      for (const mediaType of [JSON_TYPE, PROTOBUF] as const) {
        for (const [bad, text] of cases) {
          const res = await send(bad, mediaType);
          assert.equal(res.status, 400, text);
          assert.equal(res.text, `Failed to validate Executor::Call: ${text}`);
        }
      }
      const noSource = `{"type":"UPDATE","framework_id":{"value":"${FRAMEWORK_ID}"},"executor_id":{"value":"${EXECUTOR_ID}"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}}`;
      const res = await post(noSource, { 'Content-Type': JSON_TYPE });
      assert.equal(res.status, 400);
      assert.match(res.text, /invalid source, expecting 'SOURCE_EXECUTOR'/);
    });
  });

  describe('subscription', () => {
    let stream: EventReader;

    it('E7: SUBSCRIBE with Accept */* streams JSON: SUBSCRIBED, then the queued LAUNCH', async () => {
      stream = await subscribe(JSON_TYPE, '*/*');
      assert.equal(stream.response.headers.get('content-type'), JSON_TYPE);
      const subscribed = await stream.next();
      assert.equal(subscribed.type, Event_Type.SUBSCRIBED);
      assert.equal(subscribed.subscribed!.executorInfo!.executorId!.value, EXECUTOR_ID);
      assert.equal(subscribed.subscribed!.frameworkInfo!.id!.value, FRAMEWORK_ID);
      assert.equal(subscribed.subscribed!.agentInfo!.id!.value, 'fake-master-S0');
      assert.ok(subscribed.subscribed!.containerId!.value.length > 0);
      const launch = await stream.next();
      assert.equal(launch.type, Event_Type.LAUNCH);
      assert.equal(launch.launch!.task!.taskId!.value, 'api-task');
    });

    it('acknowledges an UPDATE on the stream and forwards it to the master', async () => {
      const res = await send(update(TaskState.TASK_RUNNING), PROTOBUF);
      assert.equal(res.status, 202);
      const ack = await stream.next();
      assert.equal(ack.type, Event_Type.ACKNOWLEDGED);
      assert.equal(ack.acknowledged!.taskId!.value, 'api-task');
      assert.deepEqual([...ack.acknowledged!.uuid], [...new Uint8Array(16).fill(TaskState.TASK_RUNNING + 1)]);
      const forwarded = await master.nextOfType(AgentToMaster_Type.STATUS_UPDATE);
      assert.equal(forwarded.statusUpdate!.status!.state, TaskState.TASK_RUNNING);
      assert.equal(forwarded.statusUpdate!.status!.containerStatus?.containerId?.value !== undefined, true);
      master.send({
        type: MasterToAgent_Type.ACKNOWLEDGE,
        acknowledge: {
          frameworkId: { value: FRAMEWORK_ID },
          taskId: { value: 'api-task' },
          uuid: forwarded.statusUpdate!.status!.uuid,
        },
      });
    });

    it('forwards MESSAGE calls to the master (202)', async () => {
      const res = await send(
        call({ type: Call_Type.MESSAGE, message: { data: new TextEncoder().encode('hi') } }),
      );
      assert.equal(res.status, 202);
      const message = await master.nextOfType(AgentToMaster_Type.EXECUTOR_TO_FRAMEWORK);
      assert.equal(new TextDecoder().decode(message.executorToFramework!.data), 'hi');
    });

    it('E17: sends HEARTBEAT events per --http_heartbeat_interval', async () => {
      let event = await stream.next(2000);
      while (event.type !== Event_Type.HEARTBEAT) event = await stream.next(2000);
      assert.equal(event.type, Event_Type.HEARTBEAT);
    });

    it('answers UNKNOWN with 501', async () => {
      const res = await send(call({ type: Call_Type.UNKNOWN }));
      assert.equal(res.status, 501);
    });

    it('E19: a new SUBSCRIBE closes the old stream; protobuf when JSON is not acceptable', async () => {
      const second = await subscribe(PROTOBUF);
      assert.equal(second.response.headers.get('content-type'), PROTOBUF);
      const subscribed = await second.next();
      assert.equal(subscribed.type, Event_Type.SUBSCRIBED);
      await stream.closed();
      stream = second;
    });

    it('acknowledges the updates a re-subscribing executor still holds, after SUBSCRIBED', async () => {
      const held = update(TaskState.TASK_RUNNING).update!;
      const res = await fetch(`${base}/slave(1)/api/v1/executor`, {
        method: 'POST',
        headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE },
        body: codec.encode(
          CallSchema,
          call({ type: Call_Type.SUBSCRIBE, subscribe: { unacknowledgedUpdates: [held] } }),
          JSON_TYPE,
        ),
      });
      assert.equal(res.status, 200);
      const again = new EventReader(res, JSON_TYPE);
      readers.push(again);
      assert.equal((await again.next()).type, Event_Type.SUBSCRIBED);
      const ack = await again.next();
      assert.equal(ack.type, Event_Type.ACKNOWLEDGED);
      assert.deepEqual([...ack.acknowledged!.uuid], [...held.status!.uuid]);
      await stream.closed();
      stream = again;
    });

    it('sends SHUTDOWN on SHUTDOWN_EXECUTOR and answers a late SUBSCRIBE with SHUTDOWN only', async () => {
      master.send({
        type: MasterToAgent_Type.SHUTDOWN_EXECUTOR,
        shutdownExecutor: { frameworkId: { value: FRAMEWORK_ID }, executorId: { value: EXECUTOR_ID } },
      });
      let event = await stream.next();
      while (event.type === Event_Type.HEARTBEAT) event = await stream.next();
      assert.equal(event.type, Event_Type.SHUTDOWN);
      const late = await subscribe(JSON_TYPE);
      assert.equal((await late.next()).type, Event_Type.SHUTDOWN);
      await late.closed();
      // The silent executor process ignores SHUTDOWN (it never read it): SIGTERM after the grace.
      const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED, 10_000);
      assert.equal(exited.executorExited!.executorId!.value, EXECUTOR_ID);
      const failed = await master.next(
        (m) =>
          m.type === AgentToMaster_Type.STATUS_UPDATE &&
          m.statusUpdate?.status?.state === TaskState.TASK_FAILED,
      );
      assert.equal(failed.statusUpdate!.status!.source, TaskStatus_Source.AGENT);
    });
  });
});
