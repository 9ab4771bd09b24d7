/**
 * The agent operator API (`/slave(1)/api/v1`, reference sections 1.3, 1.7, 4.3) over real HTTP,
 * against a real agent and a fake master: transport status codes, the getters, and nested
 * containers launched, waited for and killed below a test executor's container, in JSON and
 * protobuf. With the built-in default executor built, a task group runs end to end.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { executorRunsDir } from '../../../src/agent/executor-launch.js';
import { agentFlags } from '../../../src/agent/flags.js';
import { type RunningAgent, startAgent } from '../../../src/agent/process.js';
import { parseOptions } from '../../../src/common/options.js';
import { codec, type WireMediaType } from '../../../src/wire/codec.js';
import {
  Call_Type,
  CallSchema,
  type Response,
  Response_Type,
  ResponseSchema,
} from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type ContainerID,
  ContainerIDSchema,
  ExecutorInfo_Type,
  TaskState,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  MasterToAgent_Type,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { encodeRecord } from '../../../src/wire/recordio.js';
import { FakeMaster } from '../../support/fake-master.js';

const TEST_EXECUTOR = fileURLToPath(new URL('../../support/test-executor.js', import.meta.url));
const DEFAULT_EXECUTOR = fileURLToPath(
  new URL('../../../src/executors/default-executor.js', import.meta.url),
);
const JSON_TYPE = 'application/json';
const PROTOBUF = 'application/x-protobuf';
const FRAMEWORK_ID = 'fw-nested';
const EXECUTOR_ID = 'exec-parent';
const frameworkInfo = { user: 'tester', name: 'nested', id: { value: FRAMEWORK_ID } };

interface Answer {
  status: number;
  text: string;
  bytes: Uint8Array;
  headers: Headers;
}

const isUpdate = (taskId: string, state: TaskState) => (m: AgentToMaster) =>
  m.type === AgentToMaster_Type.STATUS_UPDATE &&
  m.statusUpdate?.status?.taskId?.value === taskId &&
  m.statusUpdate.status.state === state;

describe('agent operator API (/slave(1)/api/v1) and nested containers', () => {
  const master = new FakeMaster();
  let workDir: string;
  let agent: RunningAgent;
  let base: string;
  let parent: ContainerID;
  let parentDirectory: string;

  async function post(
    body: Uint8Array | string,
    headers: Record<string, string>,
    path = '/slave(1)/api/v1',
  ): Promise<Answer> {
    const res = await fetch(base + path, { method: 'POST', headers, body });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, text: new TextDecoder().decode(bytes), bytes, headers: res.headers };
  }

  function call(init: MessageInitShape<typeof CallSchema>, mediaType: WireMediaType = JSON_TYPE) {
    return post(codec.encode(CallSchema, create(CallSchema, init), mediaType), {
      'Content-Type': mediaType,
      Accept: mediaType,
    });
  }

  function decode(answer: Answer, mediaType: WireMediaType = JSON_TYPE): Response {
    assert.equal(answer.headers.get('content-type'), mediaType);
    return codec.decode(ResponseSchema, answer.bytes, mediaType);
  }

  const child = (value: string, of: ContainerID = parent): ContainerID =>
    create(ContainerIDSchema, { value, parent: of });

  function launch(id: ContainerID, command: string, env: Record<string, string> = {}) {
    return call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: {
        containerId: id,
        command: {
          value: command,
          environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
        },
      },
    });
  }

  const wait = (id: ContainerID, mediaType: WireMediaType = JSON_TYPE) =>
    call({ type: Call_Type.WAIT_NESTED_CONTAINER, waitNestedContainer: { containerId: id } }, mediaType);
  const kill = (id: ContainerID, signal?: number) =>
    call({
      type: Call_Type.KILL_NESTED_CONTAINER,
      killNestedContainer: { containerId: id, ...(signal === undefined ? {} : { signal }) },
    });

  async function ackUpdate(taskId: string, state: TaskState, timeoutMs = 10_000): Promise<AgentToMaster> {
    const message = await master.next(
      isUpdate(taskId, state),
      timeoutMs,
      `${TaskState[state]} for ${taskId}`,
    );
    const update = message.statusUpdate!;
    master.send({
      type: MasterToAgent_Type.ACKNOWLEDGE,
      acknowledge: {
        frameworkId: update.frameworkId,
        taskId: update.status!.taskId!,
        uuid: update.status!.uuid,
      },
    });
    return message;
  }

  before(async () => {
    await master.start();
    workDir = mkdtempSync(join(tmpdir(), 'strata-agent-nested-'));
    const flags = parseOptions(agentFlags, [
      '--switch_user=false', // the fake frameworks' users do not exist here
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      '--port=0',
      `--work_dir=${workDir}`,
      '--resources=cpus:4;mem:2048;disk:1024',
      '--registration_backoff_factor=10ms',
      '--executor_shutdown_grace_period=1secs',
    ]).values;
    agent = await startAgent(flags, {
      installSignalHandlers: false,
      logger: pino({ level: process.env.STRATA_TEST_LOG ?? 'silent' }),
      statusUpdateRetry: { minMs: 300, maxMs: 1200 },
      killEscalationMs: 300,
    });
    base = `http://127.0.0.1:${agent.address.port}`;
    await master.nextOfType(AgentToMaster_Type.REGISTER);
    while (agent.agentId() === undefined) await new Promise((r) => setTimeout(r, 10));
    // The parent: a test executor whose task keeps running.
    master.send({
      type: MasterToAgent_Type.RUN_TASK,
      runTask: {
        frameworkInfo,
        task: {
          name: 'parent-task',
          taskId: { value: 'parent-task' },
          agentId: { value: 'fake-master-S0' },
          executor: {
            executorId: { value: EXECUTOR_ID },
            command: { value: `exec "${process.execPath}" "${TEST_EXECUTOR}"` },
          },
        },
      },
    });
    await ackUpdate('parent-task', TaskState.TASK_STARTING);
    await ackUpdate('parent-task', TaskState.TASK_RUNNING);
    const found = agent.agent.lookupExecutor(FRAMEWORK_ID, EXECUTOR_ID);
    assert.ok(found.kind === 'found');
    parent = create(ContainerIDSchema, { value: found.executor.containerId });
    parentDirectory = found.executor.directory;
  });

  after(async () => {
    await agent?.close();
    await master.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  describe('transport', () => {
    it('answers other methods with 405 and Allow: POST', async () => {
      const res = await fetch(`${base}/api/v1`);
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      assert.equal(
        await res.text(),
        "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.",
      );
    });

    it('needs a Content-Type (400) of JSON, protobuf or RecordIO (415)', async () => {
      const missing = await post(new TextEncoder().encode('{}'), {});
      assert.equal(missing.status, 400);
      assert.equal(missing.text, "Expecting 'Content-Type' to be present");
      const other = await post('{}', { 'Content-Type': 'text/plain' });
      assert.equal(other.status, 415);
      assert.equal(
        other.text,
        "Expecting 'Content-Type' of application/json or application/x-protobuf or application/recordio",
      );
    });

    it('refuses Message-Content-Type on a non-streaming request (415) and a bad Accept (406)', async () => {
      const stray = await post('{"type":"GET_HEALTH"}', {
        'Content-Type': JSON_TYPE,
        'Message-Content-Type': JSON_TYPE,
      });
      assert.equal(stray.status, 415);
      assert.equal(stray.text, "Expecting 'Message-Content-Type' to be not set for non-streaming requests");
      const accept = await post('{"type":"GET_HEALTH"}', { 'Content-Type': JSON_TYPE, Accept: 'text/html' });
      assert.equal(accept.status, 406);
      assert.equal(
        accept.text,
        "Expecting 'Accept' to allow application/json or application/x-protobuf or application/recordio",
      );
    });

    it('applies the streaming rules per call type', async () => {
      const streamed = await post(encodeRecord(new TextEncoder().encode('{"type":"GET_HEALTH"}')), {
        'Content-Type': 'application/recordio',
        'Message-Content-Type': JSON_TYPE,
      });
      assert.equal(streamed.status, 415);
      assert.equal(
        streamed.text,
        "Streaming 'Content-Type' application/recordio is not supported for GET_HEALTH call",
      );
      const streamedAnswer = await post('{"type":"GET_HEALTH"}', {
        'Content-Type': JSON_TYPE,
        Accept: 'application/recordio',
      });
      assert.equal(streamedAnswer.status, 406);
      assert.equal(streamedAnswer.text, 'Streaming response is not supported for GET_HEALTH call');
    });

    it('answers bodies that do not decode or validate with 400', async () => {
      const json = await post('MALFORMED', { 'Content-Type': JSON_TYPE });
      assert.equal(json.status, 400);
      assert.match(json.text, /^Failed to parse body into JSON: /);
      const pb = await post(new Uint8Array([0xff, 0xff, 0xff]), { 'Content-Type': PROTOBUF });
      assert.equal(pb.status, 400);
      assert.equal(pb.text, 'Failed to parse body into Call protobuf');
      const untyped = await post('{}', { 'Content-Type': JSON_TYPE });
      assert.equal(untyped.status, 400);
      assert.equal(untyped.text, "Failed to validate agent::Call: Expecting 'type' to be present");
    });

    it('answers UNKNOWN with a bare 501 and calls not served yet with a 501 naming them', async () => {
      const unknown = await post('{"type":"UNKNOWN"}', { 'Content-Type': JSON_TYPE });
      assert.equal(unknown.status, 501);
      assert.equal(unknown.text, '');
      const operations = await post('{"type":"GET_OPERATIONS"}', { 'Content-Type': JSON_TYPE });
      assert.equal(operations.status, 501);
      assert.equal(operations.text, 'Call type GET_OPERATIONS is not supported by this agent yet');
    });
  });

  describe('getters', () => {
    it('GET_HEALTH in JSON (also for Accept: */*) and protobuf, on both paths', async () => {
      const json = await post(
        '{"type":"GET_HEALTH"}',
        { 'Content-Type': JSON_TYPE, Accept: '*/*' },
        '/api/v1',
      );
      assert.equal(json.status, 200);
      assert.deepEqual(JSON.parse(json.text), { type: 'GET_HEALTH', get_health: { healthy: true } });
      const pb = await call({ type: Call_Type.GET_HEALTH }, PROTOBUF);
      assert.equal(pb.status, 200);
      const health = decode(pb, PROTOBUF);
      assert.equal(health.type, Response_Type.GET_HEALTH);
      assert.equal(health.getHealth?.healthy, true);
    });

    it('GET_VERSION and GET_FLAGS', async () => {
      const version = decode(await call({ type: Call_Type.GET_VERSION }));
      assert.equal(version.getVersion?.versionInfo?.version, '1.11.0');
      const flags = decode(await call({ type: Call_Type.GET_FLAGS }));
      const workDirFlag = flags.getFlags?.flags.find((f) => f.name === 'work_dir');
      assert.equal(workDirFlag?.value, workDir);
    });
  });

  describe('nested containers', () => {
    it('launches a command in its own sandbox and environment; WAIT gives the raw wait status', async () => {
      const id = child('exit3');
      const launched = await launch(
        id,
        'echo "out $GREETING"; echo err >&2; env > env.txt; pwd > pwd.txt; exit 3',
        {
          GREETING: 'hello',
        },
      );
      assert.equal(launched.status, 200, launched.text);
      assert.equal(launched.text, '');
      const waited = await wait(id);
      assert.equal(waited.status, 200, waited.text);
      const response = decode(waited);
      assert.equal(response.type, Response_Type.WAIT_NESTED_CONTAINER);
      assert.equal(response.waitNestedContainer?.exitStatus, 3 << 8);

      const sandbox = join(parentDirectory, 'containers', 'exit3');
      assert.equal(readFileSync(join(sandbox, 'stdout'), 'utf8'), 'out hello\n');
      assert.equal(readFileSync(join(sandbox, 'stderr'), 'utf8'), 'err\n');
      assert.equal(readFileSync(join(sandbox, 'pwd.txt'), 'utf8').trim(), sandbox);
      const env = readFileSync(join(sandbox, 'env.txt'), 'utf8');
      assert.match(env, new RegExp(`^MESOS_SANDBOX=${sandbox}$`, 'm'));
      assert.match(env, /^GREETING=hello$/m);
      assert.doesNotMatch(env, /^MESOS_EXECUTOR_ID=/m);
      assert.doesNotMatch(env, /^MESOS_FRAMEWORK_ID=/m);
    });

    it('long-polls WAIT until the container exits, in protobuf too', async () => {
      const id = child('sleeper');
      assert.equal((await launch(id, 'sleep 0.4')).status, 200);
      const started = Date.now();
      const waited = await wait(id, PROTOBUF);
      assert.ok(Date.now() - started >= 200, 'WAIT answered before the container ended');
      assert.equal(decode(waited, PROTOBUF).waitNestedContainer?.exitStatus, 0);
    });

    it('answers a second LAUNCH of a running container with 202, and kills with SIGKILL by default', async () => {
      const id = child('long');
      assert.equal((await launch(id, 'sleep 100')).status, 200);
      const again = await launch(id, 'sleep 100');
      assert.equal(again.status, 202);
      const waiting = wait(id);
      const killed = await kill(id);
      assert.equal(killed.status, 200);
      assert.equal(decode(await waiting).waitNestedContainer?.exitStatus, 9);
      // It has ended: nothing to signal any more, but its end can still be read.
      const late = await kill(id);
      assert.equal(late.status, 404);
      assert.equal(late.text, `Container ${parent.value}.long cannot be found`);
      assert.equal(decode(await wait(id)).waitNestedContainer?.exitStatus, 9);
    });

    it('delivers the signal KILL names', async () => {
      const id = child('term');
      assert.equal((await launch(id, 'exec sleep 100')).status, 200);
      assert.equal((await kill(id, 15)).status, 200);
      assert.equal(decode(await wait(id)).waitNestedContainer?.exitStatus, 15);
    });

    it('serves the LAUNCH_CONTAINER / WAIT_CONTAINER / KILL_CONTAINER forms (200, then 202)', async () => {
      const id = child('modern');
      const launchCall = {
        type: Call_Type.LAUNCH_CONTAINER,
        launchContainer: { containerId: id, command: { value: 'sleep 100' } },
      } as const;
      assert.equal((await call(launchCall)).status, 200);
      assert.equal((await call(launchCall)).status, 202);
      const waiting = call({ type: Call_Type.WAIT_CONTAINER, waitContainer: { containerId: id } });
      assert.equal(
        (await call({ type: Call_Type.KILL_CONTAINER, killContainer: { containerId: id } })).status,
        200,
      );
      const response = decode(await waiting);
      assert.equal(response.type, Response_Type.WAIT_CONTAINER);
      assert.equal(response.waitContainer?.exitStatus, 9);
      const removed = await call({ type: Call_Type.REMOVE_CONTAINER, removeContainer: { containerId: id } });
      assert.equal(removed.status, 200);
      assert.equal(
        (await call({ type: Call_Type.WAIT_CONTAINER, waitContainer: { containerId: id } })).status,
        404,
      );
      assert.equal(existsSync(join(parentDirectory, 'containers', 'modern')), false);
    });

    it('refuses bad input with Mesos status codes', async () => {
      const noParent = await launch(create(ContainerIDSchema, { value: 'orphan' }), 'true');
      assert.equal(noParent.status, 400);
      assert.equal(
        noParent.text,
        "Failed to validate agent::Call: Expecting 'launch_nested_container.container_id.parent' to be present",
      );
      const dotted = await launch(child('a.b'), 'true');
      assert.equal(dotted.status, 400);
      assert.equal(
        dotted.text,
        "Failed to validate agent::Call: 'launch_nested_container.container_id' is invalid: " +
          "'ContainerID.value' 'a.b' contains invalid characters",
      );
      const unknownParent = await launch(child('x', create(ContainerIDSchema, { value: 'no-such' })), 'true');
      assert.equal(unknownParent.status, 400);
      assert.equal(unknownParent.text, 'Parent container no-such does not exist');
      const unknownWait = await wait(child('never'));
      assert.equal(unknownWait.status, 404);
      assert.equal(unknownWait.text, `Container ${parent.value}.never cannot be found`);
      assert.equal((await kill(child('never'))).status, 404);
      const withResources = await call({
        type: Call_Type.LAUNCH_CONTAINER,
        launchContainer: {
          containerId: child('r'),
          command: { value: 'true' },
          resources: [{ name: 'cpus', type: 0, scalar: { value: 1 } }],
        },
      });
      assert.equal(withResources.status, 400);
      const standalone = await call({
        type: Call_Type.LAUNCH_CONTAINER,
        launchContainer: {
          containerId: { value: 'standalone' },
          command: { value: 'true' },
          resources: [{ name: 'cpus', type: 0, scalar: { value: 1 } }],
        },
      });
      assert.equal(standalone.status, 501);
      const running = child('busy');
      assert.equal((await launch(running, 'sleep 100')).status, 200);
      const removeRunning = await call({
        type: Call_Type.REMOVE_NESTED_CONTAINER,
        removeNestedContainer: { containerId: running },
      });
      assert.equal(removeRunning.status, 500);
      assert.equal(removeRunning.text, 'Nested container has not terminated yet');
      await kill(running);
      await wait(running);
    });

    it('kills nested containers when their executor goes away', async () => {
      const a = child('doomed-a');
      const b = child('doomed-b', a);
      assert.equal((await launch(a, 'sleep 100')).status, 200);
      assert.equal((await launch(b, 'sleep 100')).status, 200);
      const waitA = wait(a);
      const waitB = wait(b);
      master.send({
        type: MasterToAgent_Type.SHUTDOWN_EXECUTOR,
        shutdownExecutor: { frameworkId: { value: FRAMEWORK_ID }, executorId: { value: EXECUTOR_ID } },
      });
      assert.equal(decode(await waitA).waitNestedContainer?.exitStatus, 9);
      assert.equal(decode(await waitB).waitNestedContainer?.exitStatus, 9);
      // The parent is gone: its containers are forgotten and nothing new starts below it.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await wait(a)).status, 404);
      const late = await launch(child('late'), 'true');
      assert.equal(late.status, 400);
      assert.equal(late.text, `Parent container ${parent.value} does not exist`);
    });
  });

  describe('task groups with the built-in default executor', { skip: !existsSync(DEFAULT_EXECUTOR) }, () => {
    it('runs both tasks of a group: STARTING, RUNNING, FINISHED each', async () => {
      const resources = (cpus: number) => [
        { name: 'cpus', type: 0, scalar: { value: cpus }, allocationInfo: { role: '*' } },
        { name: 'mem', type: 0, scalar: { value: 32 }, allocationInfo: { role: '*' } },
      ];
      const task = (id: string, command: string) => ({
        name: id,
        taskId: { value: id },
        agentId: { value: 'fake-master-S0' },
        resources: resources(0.1),
        command: { value: command },
      });
      master.send({
        type: MasterToAgent_Type.RUN_TASK_GROUP,
        runTaskGroup: {
          frameworkInfo,
          executor: {
            executorId: { value: 'default-exec' },
            frameworkId: { value: FRAMEWORK_ID },
            type: ExecutorInfo_Type.DEFAULT,
            resources: resources(0.1),
          },
          taskGroup: {
            tasks: [task('group-1', 'echo one; sleep 0.3'), task('group-2', 'echo two; sleep 0.3')],
          },
        },
      });
      // Updates of the two tasks interleave; each is acknowledged as it comes, like a scheduler would.
      const seen = new Map<string, TaskState[]>([
        ['group-1', []],
        ['group-2', []],
      ]);
      const done = () => [...seen.values()].every((states) => states.includes(TaskState.TASK_FINISHED));
      while (!done()) {
        const message = await master.next(
          (m) =>
            m.type === AgentToMaster_Type.STATUS_UPDATE &&
            seen.has(m.statusUpdate?.status?.taskId?.value ?? ''),
          20_000,
          'an update of the group',
        );
        const status = message.statusUpdate!.status!;
        assert.equal(status.executorId?.value, 'default-exec');
        const states = seen.get(status.taskId!.value)!;
        // A resend of the update in flight is not a new state.
        if (states.at(-1) !== status.state) states.push(status.state);
        master.send({
          type: MasterToAgent_Type.ACKNOWLEDGE,
          acknowledge: {
            frameworkId: message.statusUpdate!.frameworkId,
            taskId: status.taskId!,
            uuid: status.uuid,
          },
        });
      }
      for (const [taskId, states] of seen) {
        assert.deepEqual(
          states.map((state) => TaskState[state]),
          ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'],
          taskId,
        );
      }
      // Each task ran in a nested container of the executor's container, with its own stdout.
      const containers = join(
        executorRunsDir(workDir, agent.agentId()!, FRAMEWORK_ID, 'default-exec'),
        'latest',
        'containers',
      );
      const outputs = readdirSync(containers)
        .map((id) => readFileSync(join(containers, id, 'stdout'), 'utf8'))
        .sort();
      assert.deepEqual(outputs, ['one\n', 'two\n']);
    });
  });
});
