/**
 * The agent operator API with real processes (a master, an agent, a scheduler running a task):
 * the read-only GET_* calls in JSON and protobuf (reference section 4.3), logging level, PRUNE_IMAGES,
 * reference cases A1, A3, A5, A7 and A9 (section 8.5), and exec into the running task through
 * LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT and ATTACH_CONTAINER_OUTPUT, with and
 * without a TTY.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec, type WireMediaType } from '../../../src/wire/codec.js';
import {
  Call_AttachContainerInput_Type,
  Call_Type,
  CallSchema,
  type ProcessIO,
  ProcessIO_Control_Type,
  ProcessIO_Data_Type,
  ProcessIO_Type,
  ProcessIOSchema,
  type Response,
  Response_Type,
  ResponseSchema,
} from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type ContainerID,
  ContainerIDSchema,
  ContainerInfo_Type,
  TaskState,
  type TaskStatus,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  Event_Type,
  Call_Type as SchedulerCall,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { encodeRecord, RecordIODecoder } from '../../../src/wire/recordio.js';
import { eventually } from '../../support/eventually.js';
import { startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler, withTimeout } from '../../support/scheduler-client.js';

const JSON_TYPE = 'application/json';
const PROTOBUF = 'application/x-protobuf';
const RECORDIO = 'application/recordio';
const MEDIA: WireMediaType[] = [JSON_TYPE, PROTOBUF];

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import pty']);
    return true;
  } catch {
    return false;
  }
})();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  text: string;
}

interface OutputStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  records: ProcessIO[];
  /** stdout and stderr as text, in arrival order per stream. */
  stdout(): string;
  stderr(): string;
  /** Settles when the server ends the stream. */
  ended: Promise<void>;
  abort(): void;
  body: string;
}

describe('agent operator API against a running task', { timeout: 180_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let scheduler: TestScheduler;
  let taskContainer: ContainerID;
  let frameworkId: string;
  let sessionCount = 0;

  function raw(body: Uint8Array | string, headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(`${agent.url}/api/v1`, { method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: bytes.toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  function call(
    init: MessageInitShape<typeof CallSchema>,
    media: WireMediaType = JSON_TYPE,
    accept: string = media,
  ) {
    return raw(codec.encode(CallSchema, create(CallSchema, init), media), {
      'Content-Type': media,
      Accept: accept,
    });
  }

  async function get(init: MessageInitShape<typeof CallSchema>, media: WireMediaType): Promise<Response> {
    const answer = await call(init, media);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers['content-type'], media);
    return codec.decode(ResponseSchema, answer.bytes, media);
  }

  /** POSTs a call whose answer is a stream of ProcessIO records. */
  function openOutput(
    init: MessageInitShape<typeof CallSchema>,
    options: { accept?: string; messageAccept?: WireMediaType } = {},
  ): Promise<OutputStream> {
    const accept = options.accept ?? JSON_TYPE;
    const headers: Record<string, string> = { 'Content-Type': JSON_TYPE, Accept: accept };
    if (options.messageAccept) headers['Message-Accept'] = options.messageAccept;
    const recordType: WireMediaType =
      accept === RECORDIO ? (options.messageAccept ?? JSON_TYPE) : (accept as WireMediaType);
    return new Promise((resolve, reject) => {
      const req = request(`${agent.url}/api/v1`, { method: 'POST', headers }, (res) => {
        const records: ProcessIO[] = [];
        const decoder = new RecordIODecoder();
        let body = '';
        let endStream!: () => void;
        const ended = new Promise<void>((r) => {
          endStream = r;
        });
        const ok = res.statusCode === 200;
        res.on('data', (chunk: Buffer) => {
          if (!ok) {
            body += chunk.toString('utf8');
            return;
          }
          for (const record of decoder.push(chunk))
            records.push(codec.decode(ProcessIOSchema, record, recordType));
        });
        res.on('end', endStream);
        res.on('close', endStream);
        res.on('error', endStream);
        const text = (type: ProcessIO_Data_Type) =>
          Buffer.concat(
            records
              .filter((r) => r.type === ProcessIO_Type.DATA && r.data?.type === type)
              .map((r) => Buffer.from(r.data!.data)),
          ).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          records,
          stdout: () => text(ProcessIO_Data_Type.STDOUT),
          stderr: () => text(ProcessIO_Data_Type.STDERR),
          ended,
          abort: () => req.destroy(),
          get body() {
            return body;
          },
        });
      });
      req.on('error', (err) => reject(err));
      req.end(codec.encode(CallSchema, create(CallSchema, init), JSON_TYPE));
    });
  }

  /** ATTACH_CONTAINER_INPUT: a RecordIO body of Calls (the first names the container). */
  function attachInput(
    records: Array<MessageInitShape<typeof CallSchema>>,
    media: WireMediaType = JSON_TYPE,
    headers: Record<string, string> = {},
    gapMs = 50,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${agent.url}/api/v1`,
        {
          method: 'POST',
          headers: { 'Content-Type': RECORDIO, 'Message-Content-Type': media, Accept: JSON_TYPE, ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const bytes = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              bytes,
              text: bytes.toString('utf8'),
            });
          });
        },
      );
      req.on('error', reject);
      void (async () => {
        for (const record of records) {
          if (req.destroyed) return;
          req.write(encodeRecord(codec.encode(CallSchema, create(CallSchema, record), media)));
          await new Promise((r) => setTimeout(r, gapMs));
        }
        req.end();
      })();
    });
  }

  const containerIdRecord = (containerId: ContainerID) => ({
    type: Call_Type.ATTACH_CONTAINER_INPUT,
    attachContainerInput: { type: Call_AttachContainerInput_Type.CONTAINER_ID, containerId },
  });
  const stdinRecord = (text: string) => ({
    type: Call_Type.ATTACH_CONTAINER_INPUT,
    attachContainerInput: {
      type: Call_AttachContainerInput_Type.PROCESS_IO,
      processIo: {
        type: ProcessIO_Type.DATA,
        data: { type: ProcessIO_Data_Type.STDIN, data: new TextEncoder().encode(text) },
      },
    },
  });
  const controlRecord = (control: MessageInitShape<typeof ProcessIOSchema>['control']) => ({
    type: Call_Type.ATTACH_CONTAINER_INPUT,
    attachContainerInput: {
      type: Call_AttachContainerInput_Type.PROCESS_IO,
      processIo: { type: ProcessIO_Type.CONTROL, control },
    },
  });

  const nextSession = (): ContainerID =>
    create(ContainerIDSchema, { value: `session-${++sessionCount}`, parent: taskContainer });

  const session = (
    id: ContainerID,
    command: string,
    options: { tty?: { rows: number; columns: number }; accept?: string; messageAccept?: WireMediaType } = {},
  ) =>
    openOutput(
      {
        type: Call_Type.LAUNCH_NESTED_CONTAINER_SESSION,
        launchNestedContainerSession: {
          containerId: id,
          command: { value: command },
          ...(options.tty
            ? { container: { type: ContainerInfo_Type.MESOS, ttyInfo: { windowSize: options.tty } } }
            : {}),
        },
      },
      options,
    );

  async function waitNested(id: ContainerID) {
    const response = await get(
      { type: Call_Type.WAIT_NESTED_CONTAINER, waitNestedContainer: { containerId: id } },
      JSON_TYPE,
    );
    return response.waitNestedContainer!;
  }

  async function nextUpdate(): Promise<TaskStatus> {
    const event = await scheduler.next((e) => e.type === Event_Type.UPDATE, 30_000, 'an update');
    const status = event.update!.status!;
    if (status.uuid.length > 0) {
      await scheduler.call({
        type: SchedulerCall.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
    }
    return status;
  }

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, [
      '--resources=cpus:2;mem:1024;disk:1024',
      '--logging_level=warn',
    ]);
    scheduler = await new TestScheduler(master.url).subscribe({ user: 'root', name: 'operator-api' });
    const offer = (await scheduler.nextOfType(Event_Type.OFFERS, 30_000)).offers!.offers[0]!;
    frameworkId = scheduler.frameworkId;
    assert.ok(frameworkId, 'subscribed');
    const accepted = await scheduler.call({
      type: SchedulerCall.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 1,
            launch: {
              taskInfos: [
                {
                  name: 'long',
                  taskId: { value: 'long' },
                  agentId: offer.agentId!,
                  resources: [
                    { name: 'cpus', type: 0, scalar: { value: 0.5 } },
                    { name: 'mem', type: 0, scalar: { value: 64 } },
                  ],
                  command: { value: 'export FROM_TASK=yes; sleep 1000' },
                },
              ],
            },
          },
        ],
      },
    });
    assert.equal(accepted.status, 202);
    for (;;) {
      const status = await nextUpdate();
      if (status.state === TaskState.TASK_RUNNING) {
        taskContainer = create(ContainerIDSchema, { value: status.containerStatus!.containerId!.value });
        break;
      }
      assert.ok(status.state === TaskState.TASK_STARTING, TaskState[status.state]);
    }
  });

  after(async () => {
    scheduler?.close();
    await agent?.process.stop();
    await master?.process.stop();
  });

  describe('reference cases (section 8.5)', () => {
    it('A1: GET_STATE with Accept: */* is 200 application/json', async () => {
      const answer = await call({ type: Call_Type.GET_STATE }, JSON_TYPE, '*/*');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers['content-type'], JSON_TYPE);
      const json = JSON.parse(answer.text);
      assert.equal(json.type, 'GET_STATE');
      assert.equal(json.get_state.get_tasks.launched_tasks[0].task_id.value, 'long');
    });

    it('A3: ATTACH_CONTAINER_INPUT with an unsupported Message-Content-Type is 415', async () => {
      const answer = await raw('', {
        'Content-Type': RECORDIO,
        'Message-Content-Type': 'unsupported/media-type',
        Accept: JSON_TYPE,
      });
      assert.equal(answer.status, 415);
      assert.equal(
        answer.text,
        "Expecting 'Message-Content-Type' of application/json or application/x-protobuf",
      );
    });

    it('A5: ATTACH_CONTAINER_OUTPUT (not streamed) with Message-Content-Type is 415', async () => {
      const body = codec.encode(
        CallSchema,
        create(CallSchema, {
          type: Call_Type.ATTACH_CONTAINER_OUTPUT,
          attachContainerOutput: { containerId: taskContainer },
        }),
        JSON_TYPE,
      );
      const answer = await raw(body, {
        'Content-Type': JSON_TYPE,
        'Message-Content-Type': JSON_TYPE,
        Accept: JSON_TYPE,
      });
      assert.equal(answer.status, 415);
      assert.equal(answer.text, "Expecting 'Message-Content-Type' to be not set for non-streaming requests");
    });

    it('A7: LIST_FILES / READ_FILE on an unknown path are 404', async () => {
      for (const media of MEDIA) {
        const list = await call({ type: Call_Type.LIST_FILES, listFiles: { path: '/no/such/path' } }, media);
        assert.equal(list.status, 404);
        const read = await call(
          { type: Call_Type.READ_FILE, readFile: { path: '/no/such/path', offset: 0n } },
          media,
        );
        assert.equal(read.status, 404);
      }
    });

    it('A9: LAUNCH_CONTAINER with a new id is 200, the same id again 202', async () => {
      const id = create(ContainerIDSchema, { value: 'a9', parent: taskContainer });
      const launch = () =>
        call({
          type: Call_Type.LAUNCH_CONTAINER,
          launchContainer: { containerId: id, command: { value: 'sleep 30' } },
        });
      assert.equal((await launch()).status, 200);
      assert.equal((await launch()).status, 202);
      assert.equal(
        (await call({ type: Call_Type.KILL_CONTAINER, killContainer: { containerId: id } })).status,
        200,
      );
      const waited = await get(
        { type: Call_Type.WAIT_CONTAINER, waitContainer: { containerId: id } },
        JSON_TYPE,
      );
      assert.equal(waited.waitContainer!.exitStatus, 9);
    });
  });

  describe('GET calls in JSON and protobuf', () => {
    for (const media of MEDIA) {
      it(`GET_STATE, GET_TASKS, GET_EXECUTORS, GET_FRAMEWORKS (${media})`, async () => {
        const state = await get({ type: Call_Type.GET_STATE }, media);
        assert.equal(state.type, Response_Type.GET_STATE);
        const tasks = state.getState!.getTasks!;
        assert.deepEqual(
          tasks.launchedTasks.map((t) => [t.taskId?.value, TaskState[t.state], t.frameworkId?.value]),
          [['long', 'TASK_RUNNING', frameworkId]],
        );
        assert.equal(tasks.queuedTasks.length, 0);
        assert.equal(tasks.pendingTasks.length, 0);
        assert.deepEqual(
          state.getState!.getExecutors!.executors.map((e) => e.executorInfo?.executorId?.value),
          ['long'],
        );
        assert.deepEqual(
          state.getState!.getFrameworks!.frameworks.map((f) => [
            f.frameworkInfo?.id?.value,
            f.frameworkInfo?.name,
          ]),
          [[frameworkId, 'operator-api']],
        );

        const onlyTasks = await get({ type: Call_Type.GET_TASKS }, media);
        assert.equal(onlyTasks.type, Response_Type.GET_TASKS);
        assert.equal(onlyTasks.getTasks!.launchedTasks[0]?.taskId?.value, 'long');
        const executors = await get({ type: Call_Type.GET_EXECUTORS }, media);
        assert.equal(executors.type, Response_Type.GET_EXECUTORS);
        assert.equal(executors.getExecutors!.executors[0]?.executorInfo?.frameworkId?.value, frameworkId);
        const frameworks = await get({ type: Call_Type.GET_FRAMEWORKS }, media);
        assert.equal(frameworks.type, Response_Type.GET_FRAMEWORKS);
        assert.equal(frameworks.getFrameworks!.frameworks[0]?.frameworkInfo?.user, 'root');
        assert.equal(frameworks.getFrameworks!.completedFrameworks.length, 0);
      });

      it(`GET_AGENT, GET_RESOURCE_PROVIDERS, GET_LOGGING_LEVEL, PRUNE_IMAGES (${media})`, async () => {
        const info = await get({ type: Call_Type.GET_AGENT }, media);
        assert.equal(info.type, Response_Type.GET_AGENT);
        const agentInfo = info.getAgent!.agentInfo!;
        assert.equal(agentInfo.port, agent.port);
        assert.ok(agentInfo.id?.value, 'the agent id');
        assert.deepEqual(agentInfo.resources.map((r) => r.name).sort(), ['cpus', 'disk', 'mem', 'ports']);
        const providers = await get({ type: Call_Type.GET_RESOURCE_PROVIDERS }, media);
        assert.equal(providers.type, Response_Type.GET_RESOURCE_PROVIDERS);
        assert.deepEqual(providers.getResourceProviders!.resourceProviders, []);
        const level = await get({ type: Call_Type.GET_LOGGING_LEVEL }, media);
        assert.equal(level.type, Response_Type.GET_LOGGING_LEVEL);
        assert.equal(level.getLoggingLevel!.level, 0);
        const prune = await call({ type: Call_Type.PRUNE_IMAGES, pruneImages: {} }, media);
        assert.equal(prune.status, 200);
        assert.equal(prune.bytes.length, 0);
      });

      it(`GET_CONTAINERS with usage and status, nested ones only with show_nested (${media})`, async () => {
        const nested = create(ContainerIDSchema, { value: `listed-${media.length}`, parent: taskContainer });
        const launched = await call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: { containerId: nested, command: { value: 'sleep 30' } },
        });
        assert.equal(launched.status, 200, launched.text);
        try {
          const plain = await get({ type: Call_Type.GET_CONTAINERS }, media);
          assert.equal(plain.type, Response_Type.GET_CONTAINERS);
          const containers = plain.getContainers!.containers;
          assert.deepEqual(
            containers.map((c) => [c.containerId?.value, c.executorId?.value, c.frameworkId?.value]),
            [[taskContainer.value, 'long', frameworkId]],
          );
          const [executor] = containers;
          assert.match(executor!.executorName, /^Command Executor \(Task: long\)/);
          assert.ok((executor!.containerStatus?.executorPid ?? 0) > 0);
          assert.equal(executor!.containerStatus?.containerId?.value, taskContainer.value);
          const statistics = executor!.resourceStatistics!;
          // The executor, the task's shell and sleep, and the nested container.
          assert.ok(statistics.processes >= 3, `processes ${statistics.processes}`);
          assert.ok(statistics.memRssBytes > 0n);
          assert.equal(statistics.cpusLimit, 0.6);

          const all = await get(
            { type: Call_Type.GET_CONTAINERS, getContainers: { showNested: true } },
            media,
          );
          const entry = all.getContainers!.containers.find((c) => c.containerId?.value === nested.value);
          assert.ok(entry, 'the nested container is listed');
          assert.equal(entry.containerId?.parent?.value, taskContainer.value);
          assert.equal(entry.executorId, undefined);
          assert.ok((entry.resourceStatistics?.processes ?? 0) >= 1);
        } finally {
          await call({ type: Call_Type.KILL_NESTED_CONTAINER, killNestedContainer: { containerId: nested } });
        }
      });
    }

    it('SET_LOGGING_LEVEL is 200 and reverts after its duration', async () => {
      const set = await call({
        type: Call_Type.SET_LOGGING_LEVEL,
        setLoggingLevel: { level: 2, duration: { nanoseconds: 1_000_000_000n } },
      });
      assert.equal(set.status, 200, set.text);
      assert.equal(set.bytes.length, 0);
      const raised = await get({ type: Call_Type.GET_LOGGING_LEVEL }, PROTOBUF);
      assert.equal(raised.getLoggingLevel!.level, 2);
      await new Promise((r) => setTimeout(r, 1500));
      const reverted = await get({ type: Call_Type.GET_LOGGING_LEVEL }, JSON_TYPE);
      assert.equal(reverted.getLoggingLevel!.level, 0);
    });
  });

  describe('exec into the running task', () => {
    it('runs `echo hi` in a session: hi on stdout, exit status through WAIT_NESTED_CONTAINER', async () => {
      const id = nextSession();
      const stream = await session(id, 'echo hi');
      assert.equal(stream.status, 200, stream.body);
      assert.equal(stream.headers['content-type'], JSON_TYPE);
      await withTimeout(stream.ended, 10_000, 'the end of the session');
      assert.equal(stream.stdout(), 'hi\n');
      assert.equal(stream.stderr(), '');
      const waited = await waitNested(id);
      assert.equal(waited.exitStatus, 0);
    });

    it('a session works in the task sandbox with the task environment; stderr and the exit code come back', async () => {
      const id = nextSession();
      const stream = await session(id, 'echo "$MESOS_SANDBOX" "$PWD"; echo oops >&2; exit 3', {
        accept: RECORDIO,
        messageAccept: PROTOBUF,
      });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['content-type'], RECORDIO);
      assert.equal(stream.headers['message-content-type'], PROTOBUF);
      await withTimeout(stream.ended, 10_000, 'the end of the session');
      const [sandbox, cwd] = stream.stdout().trim().split(' ');
      assert.equal(sandbox, cwd);
      assert.match(sandbox!, new RegExp(`/runs/${taskContainer.value}$`));
      assert.equal(stream.stderr(), 'oops\n');
      assert.equal((await waitNested(id)).exitStatus, 3 << 8);
    });

    it('ATTACH_CONTAINER_INPUT feeds stdin; an empty STDIN record is end of file', async () => {
      for (const media of MEDIA) {
        const id = nextSession();
        const stream = await session(id, 'read line; echo "got $line"; cat; echo done');
        assert.equal(stream.status, 200);
        const input = await attachInput(
          [
            containerIdRecord(id),
            stdinRecord('hello\n'),
            controlRecord({
              type: ProcessIO_Control_Type.HEARTBEAT,
              heartbeat: { interval: { nanoseconds: 1_000_000_000n } },
            }),
            stdinRecord('more\n'),
            stdinRecord(''),
          ],
          media,
        );
        assert.equal(input.status, 200, input.text);
        await withTimeout(stream.ended, 10_000, 'the end of the session');
        assert.equal(stream.stdout(), 'got hello\nmore\ndone\n');
        assert.equal((await waitNested(id)).exitStatus, 0);
      }
    });

    it('ATTACH_CONTAINER_OUTPUT streams a session container to another client', async () => {
      const id = nextSession();
      const owner = await session(id, 'sleep 1; echo later');
      const watcher = await openOutput({
        type: Call_Type.ATTACH_CONTAINER_OUTPUT,
        attachContainerOutput: { containerId: id },
      });
      assert.equal(watcher.status, 200, watcher.body);
      await withTimeout(watcher.ended, 10_000, 'the end of the attached output');
      await withTimeout(owner.ended, 10_000, 'the end of the session');
      assert.equal(watcher.stdout(), 'later\n');
      assert.equal(owner.stdout(), 'later\n');
    });

    it('a session whose client goes away is killed', async () => {
      const id = nextSession();
      const stream = await session(id, 'sleep 1000');
      assert.equal(stream.status, 200);
      await new Promise((r) => setTimeout(r, 200));
      stream.abort();
      const waited = await withTimeout(waitNested(id), 10_000, 'the session container to end');
      assert.equal(waited.exitStatus, 9);
    });

    it('a TTY session: a real terminal of the asked size, resized through TTY_INFO', {
      skip: hasPython ? false : 'python3 is not installed',
    }, async () => {
      const id = nextSession();
      const stream = await session(
        id,
        'test -t 0 && test -t 1 && echo is-a-tty; stty size; read x; stty size',
        {
          tty: { rows: 30, columns: 100 },
        },
      );
      assert.equal(stream.status, 200, stream.body);
      // Resize only once the first `stty size` has answered, or a slow shell would see the new size.
      await eventually(
        'the first stty size',
        () => (stream.stdout().includes('30 100') ? true : undefined),
        10_000,
      );
      const input = await attachInput(
        [
          containerIdRecord(id),
          controlRecord({
            type: ProcessIO_Control_Type.TTY_INFO,
            ttyInfo: { windowSize: { rows: 50, columns: 132 } },
          }),
          stdinRecord('go\r'),
        ],
        JSON_TYPE,
        {},
        300,
      );
      assert.equal(input.status, 200, input.text);
      await withTimeout(stream.ended, 10_000, 'the end of the TTY session');
      // A terminal: one output stream, CRLF line ends, the typed line echoed.
      assert.equal(stream.stdout(), 'is-a-tty\r\n30 100\r\ngo\r\n50 132\r\n');
      assert.equal(stream.stderr(), '');
      assert.equal((await waitNested(id)).exitStatus, 0);
    });

    it('refuses what cannot be attached: 404 unknown, 500 no switchboard, 409 second input, 400 first record', async () => {
      const unknown = create(ContainerIDSchema, { value: 'nope', parent: taskContainer });
      const output = await call({
        type: Call_Type.ATTACH_CONTAINER_OUTPUT,
        attachContainerOutput: { containerId: unknown },
      });
      assert.equal(output.status, 404);
      assert.equal(output.text, `Container ${taskContainer.value}.nope cannot be found`);
      const foreign = create(ContainerIDSchema, { value: 'not-an-executor' });
      assert.equal((await attachInput([containerIdRecord(foreign)])).status, 404);
      const executorOutput = await call({
        type: Call_Type.ATTACH_CONTAINER_OUTPUT,
        attachContainerOutput: { containerId: taskContainer },
      });
      assert.equal(executorOutput.status, 500);
      assert.match(executorOutput.text, /has no IO switchboard/);

      const id = nextSession();
      const stream = await session(id, 'sleep 3');
      const first = attachInput(
        [containerIdRecord(id), stdinRecord('x\n'), stdinRecord('y\n')],
        JSON_TYPE,
        {},
        500,
      );
      await new Promise((r) => setTimeout(r, 300));
      const second = await attachInput([containerIdRecord(id)]);
      assert.equal(second.status, 409);
      assert.equal(second.text, 'Multiple input connections are not allowed');
      assert.equal((await first).status, 200);
      const wrongFirst = await attachInput([stdinRecord('x')]);
      assert.equal(wrongFirst.status, 400);
      assert.equal(wrongFirst.text, "Expecting 'attach_container_input.type' to be CONTAINER_ID");
      stream.abort();
    });
  });
});
