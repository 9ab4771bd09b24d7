/**
 * A tiny custom executor for agent tests, written from the v1 executor API (reference section 3):
 * it reads the agent's environment, SUBSCRIBEs, and answers LAUNCH / KILL / MESSAGE / SHUTDOWN.
 *
 * Launched by the agent as a custom executor:
 *   `node dist/test/support/test-executor.js` (ExecutorInfo.command, shell or not).
 * What a task does is read from `TaskInfo.data` (JSON, all optional):
 *   {"finish": true}            TASK_FINISHED right after TASK_RUNNING
 *   {"crashAfterRunning": 3}    exit with status 3 once TASK_RUNNING is acknowledged
 *   {"noUpdates": true}         send nothing for this task
 * Environment switches (ExecutorInfo.command.environment):
 *   TEST_EXECUTOR_SILENT=1      never subscribe (registration-timeout tests)
 *   TEST_EXECUTOR_IGNORE_TERM=1 ignore SIGTERM (kill-escalation tests)
 * It writes `executor-env.json` (its environment) into its sandbox and logs events to stdout.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec } from '../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  type Event,
  Event_Type,
  EventSchema,
} from '../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import { type TaskInfo, TaskState, TaskStatus_Source } from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import { RecordIODecoder } from '../../src/wire/recordio.js';

const env = process.env;
const frameworkId = env.MESOS_FRAMEWORK_ID ?? '';
const executorId = env.MESOS_EXECUTOR_ID ?? '';
const url = `http://${env.MESOS_AGENT_ENDPOINT}/slave(1)/api/v1/executor`;
const JSON_TYPE = 'application/json';

// The handler goes in before executor-env.json is written, so tests can wait for the file to
// know that SIGTERM is already ignored.
if (env.TEST_EXECUTOR_IGNORE_TERM === '1') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
writeFileSync(join(env.MESOS_SANDBOX ?? '.', 'executor-env.json'), JSON.stringify(env, null, 2));

interface TaskPlan {
  finish?: boolean;
  crashAfterRunning?: number;
  noUpdates?: boolean;
}

const tasks = new Map<string, { info: TaskInfo; plan: TaskPlan; running: boolean; terminal: boolean }>();
const pending = new Map<string, { taskId: string; state: TaskState }>();

function uuidBytes(): Uint8Array {
  return new Uint8Array(Buffer.from(randomUUID().replace(/-/g, ''), 'hex'));
}

async function post(
  init: Pick<MessageInitShape<typeof CallSchema>, 'type' | 'update' | 'message'>,
): Promise<number> {
  const call: Call = create(CallSchema, {
    frameworkId: { value: frameworkId },
    executorId: { value: executorId },
    type: init.type,
    ...(init.update ? { update: init.update } : {}),
    ...(init.message ? { message: init.message } : {}),
  });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': JSON_TYPE },
    body: codec.encode(CallSchema, call, JSON_TYPE),
  });
  await res.arrayBuffer();
  if (res.status !== 202) console.log(`call ${Call_Type[call.type]} answered ${res.status}`);
  return res.status;
}

async function update(taskId: string, state: TaskState, message = ''): Promise<void> {
  const uuid = uuidBytes();
  pending.set(Buffer.from(uuid).toString('hex'), { taskId, state });
  const task = tasks.get(taskId);
  if (
    task &&
    (state === TaskState.TASK_FINISHED || state === TaskState.TASK_KILLED || state === TaskState.TASK_FAILED)
  ) {
    task.terminal = true;
  }
  await post({
    type: Call_Type.UPDATE,
    update: {
      status: {
        taskId: { value: taskId },
        state,
        source: TaskStatus_Source.EXECUTOR,
        uuid,
        message,
        timestamp: Date.now() / 1000,
      },
    },
  });
}

function maybeExit(): void {
  const live = [...tasks.values()].some((t) => !t.terminal);
  if (!live && pending.size === 0 && tasks.size > 0) {
    console.log('all tasks done and acknowledged; exiting');
    process.exit(0);
  }
}

async function handle(event: Event): Promise<void> {
  console.log(`event ${Event_Type[event.type]}`);
  switch (event.type) {
    case Event_Type.LAUNCH: {
      const info = event.launch!.task!;
      const taskId = info.taskId!.value;
      const text = Buffer.from(info.data).toString('utf8');
      const plan: TaskPlan = text === '' ? {} : (JSON.parse(text) as TaskPlan);
      tasks.set(taskId, { info, plan, running: false, terminal: false });
      if (plan.noUpdates) return;
      await update(taskId, TaskState.TASK_STARTING);
      await update(taskId, TaskState.TASK_RUNNING);
      if (plan.finish) await update(taskId, TaskState.TASK_FINISHED, 'done');
      return;
    }
    case Event_Type.ACKNOWLEDGED: {
      const key = Buffer.from(event.acknowledged!.uuid).toString('hex');
      const acked = pending.get(key);
      pending.delete(key);
      if (acked?.state === TaskState.TASK_RUNNING) {
        const crash = tasks.get(acked.taskId)?.plan.crashAfterRunning;
        if (crash !== undefined) {
          console.log(`crashing with status ${crash}`);
          process.exit(crash);
        }
      }
      maybeExit();
      return;
    }
    case Event_Type.KILL: {
      const taskId = event.kill!.taskId!.value;
      const grace = event.kill!.killPolicy?.gracePeriod?.nanoseconds;
      await update(taskId, TaskState.TASK_KILLED, `killed (grace ${grace ?? 'default'})`);
      return;
    }
    case Event_Type.MESSAGE:
      await post({ type: Call_Type.MESSAGE, message: { data: event.message!.data } });
      return;
    case Event_Type.SHUTDOWN:
      for (const [taskId, task] of tasks)
        if (!task.terminal) await update(taskId, TaskState.TASK_KILLED, 'shutdown');
      setTimeout(() => process.exit(0), 100);
      return;
    default:
      return;
  }
}

async function subscribe(): Promise<void> {
  const call = create(CallSchema, {
    frameworkId: { value: frameworkId },
    executorId: { value: executorId },
    type: Call_Type.SUBSCRIBE,
    subscribe: {},
  });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE },
    body: codec.encode(CallSchema, call, JSON_TYPE),
  });
  if (res.status !== 200 || !res.body) {
    console.log(`SUBSCRIBE answered ${res.status}: ${await res.text()}`);
    process.exit(2);
  }
  const decoder = new RecordIODecoder();
  let chain = Promise.resolve();
  for await (const chunk of res.body) {
    for (const record of decoder.push(chunk as Uint8Array)) {
      const event = codec.decode(EventSchema, record, JSON_TYPE);
      chain = chain.then(() => handle(event));
    }
  }
  await chain;
  console.log('event stream ended; exiting');
  process.exit(0);
}

if (env.TEST_EXECUTOR_SILENT === '1') {
  console.log('staying silent');
  setInterval(() => {}, 60_000);
} else {
  subscribe().catch((err: unknown) => {
    console.log(`executor failed: ${(err as Error).message}`);
    process.exit(3);
  });
}
