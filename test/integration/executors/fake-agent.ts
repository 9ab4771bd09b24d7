/**
 * A tiny stand-in for the agent's executor endpoint, for running the real built-in executor
 * processes: it answers SUBSCRIBE with a stream (SUBSCRIBED, then LAUNCH or LAUNCH_GROUP for the
 * first subscription), records every call, and acknowledges updates unless a test holds some back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type RecordStream, textResponse } from '../../../src/http/responses.js';
import { type HttpLogger, HttpServer } from '../../../src/http/server.js';
import { codec, MEDIA_TYPE_JSON } from '../../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import {
  FrameworkInfo_Capability_Type,
  type TaskGroupInfo,
  type TaskInfo,
  TaskInfoSchema,
  type TaskStatus,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

export const FRAMEWORK_ID = 'framework-1';
export const EXECUTOR_ID = 'executor-1';
export const EXECUTOR_SCRIPT = fileURLToPath(
  new URL('../../../src/executors/command-executor.js', import.meta.url),
);
export const DEFAULT_EXECUTOR_SCRIPT = fileURLToPath(
  new URL('../../../src/executors/default-executor.js', import.meta.url),
);
/** The executor's own container id in SUBSCRIBED: the parent of nested containers. */
export const EXECUTOR_CONTAINER_ID = 'container-1';

const quiet: HttpLogger = { warn() {}, error() {} };

export interface FakeAgentOptions {
  task?: TaskInfo;
  /** Sent as LAUNCH_GROUP after the first SUBSCRIBED (for the default executor). */
  taskGroup?: TaskGroupInfo;
  /** Framework capability TASK_KILLING_STATE in SUBSCRIBED. */
  taskKillingState?: boolean;
  /** Return true to leave an update unacknowledged. */
  withholdAck?: (status: TaskStatus, agent: FakeAgent) => boolean;
}

export class FakeAgent {
  readonly server = new HttpServer({ delegate: 'slave(1)', logger: quiet, closeGraceMs: 200 });
  readonly calls: Call[] = [];
  stream: RecordStream | undefined;
  port = 0;

  constructor(readonly options: FakeAgentOptions = {}) {
    this.server.route('slave(1)', '/api/v1/executor', async (request) => {
      const call = codec.decode(CallSchema, await request.body(), MEDIA_TYPE_JSON);
      this.calls.push(call);
      if (call.type === Call_Type.SUBSCRIBE) {
        const first = this.subscriptions().length === 1;
        return {
          status: 200,
          headers: { 'Content-Type': MEDIA_TYPE_JSON },
          open: (stream) => {
            this.stream = stream;
            this.sendEvent({ type: Event_Type.SUBSCRIBED, subscribed: this.subscribedPayload() });
            if (first && this.options.task) {
              this.sendEvent({ type: Event_Type.LAUNCH, launch: { task: this.options.task } });
            }
            if (first && this.options.taskGroup) {
              this.sendEvent({
                type: Event_Type.LAUNCH_GROUP,
                launchGroup: { taskGroup: this.options.taskGroup },
              });
            }
            // A re-subscribing executor's unacknowledged updates are taken in again and acked.
            for (const update of call.subscribe?.unacknowledgedUpdates ?? []) {
              if (update.status) this.acknowledge(update.status);
            }
          },
        };
      }
      if (call.type === Call_Type.UPDATE) {
        const status = call.update?.status;
        if (status && !this.options.withholdAck?.(status, this)) this.acknowledge(status);
        return { status: 202 };
      }
      return textResponse(400, 'unexpected call');
    });
  }

  async listen(): Promise<number> {
    this.port = (await this.server.listen('127.0.0.1', 0)).port;
    return this.port;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  subscriptions(): Call[] {
    return this.calls.filter((call) => call.type === Call_Type.SUBSCRIBE);
  }

  updates(): TaskStatus[] {
    return this.calls.flatMap((call) =>
      call.type === Call_Type.UPDATE && call.update?.status ? [call.update.status] : [],
    );
  }

  sendEvent(event: MessageInitShape<typeof EventSchema>): void {
    this.stream?.write(codec.encode(EventSchema, create(EventSchema, event), MEDIA_TYPE_JSON));
  }

  acknowledge(status: TaskStatus): void {
    this.sendEvent({
      type: Event_Type.ACKNOWLEDGED,
      acknowledged: { taskId: status.taskId, uuid: status.uuid },
    });
  }

  kill(taskId: string, gracePeriodMs?: number): void {
    this.sendEvent({
      type: Event_Type.KILL,
      kill: {
        taskId: { value: taskId },
        ...(gracePeriodMs === undefined
          ? {}
          : { killPolicy: { gracePeriod: { nanoseconds: BigInt(gracePeriodMs) * 1_000_000n } } }),
      },
    });
  }

  private subscribedPayload(): MessageInitShape<typeof EventSchema>['subscribed'] {
    return {
      executorInfo: { executorId: { value: EXECUTOR_ID }, frameworkId: { value: FRAMEWORK_ID } },
      frameworkInfo: {
        user: 'root',
        name: 'test-framework',
        id: { value: FRAMEWORK_ID },
        capabilities: this.options.taskKillingState
          ? [{ type: FrameworkInfo_Capability_Type.TASK_KILLING_STATE }]
          : [],
      },
      agentInfo: { hostname: 'localhost', id: { value: 'agent-1' } },
      containerId: { value: EXECUTOR_CONTAINER_ID },
    };
  }
}

export function commandTask(
  taskId: string,
  command: MessageInitShape<typeof TaskInfoSchema>['command'],
  extra: Omit<
    Exclude<MessageInitShape<typeof TaskInfoSchema>, TaskInfo>,
    'name' | 'taskId' | 'agentId' | 'command'
  > = {},
): TaskInfo {
  return create(TaskInfoSchema, {
    name: taskId,
    taskId: { value: taskId },
    agentId: { value: 'agent-1' },
    command,
    ...extra,
  });
}

export function makeSandbox(): string {
  return mkdtempSync(join(tmpdir(), 'strata-command-executor-'));
}

export function executorEnvironment(port: number, sandbox: string, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('MESOS_')) env[name] = value;
  }
  return {
    ...env,
    MESOS_FRAMEWORK_ID: FRAMEWORK_ID,
    MESOS_EXECUTOR_ID: EXECUTOR_ID,
    MESOS_SLAVE_ID: 'agent-1',
    MESOS_AGENT_ENDPOINT: `127.0.0.1:${port}`,
    MESOS_SLAVE_PID: `slave(1)@127.0.0.1:${port}`,
    MESOS_DIRECTORY: sandbox,
    MESOS_SANDBOX: sandbox,
    MESOS_CHECKPOINT: '0',
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '5secs',
    MESOS_SUBSCRIPTION_BACKOFF_MAX: '100ms',
    MESOS_RECOVERY_TIMEOUT: '10secs',
    MESOS_HTTP_COMMAND_EXECUTOR: '1',
    ...extra,
  };
}

export interface RunningExecutor {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Starts the executor as the agent would: cwd = sandbox, output to the sandbox files, own group. */
export function startExecutor(
  sandbox: string,
  env: Record<string, string | undefined>,
  script = EXECUTOR_SCRIPT,
): RunningExecutor {
  const stdout = openSync(join(sandbox, 'stdout'), 'w');
  const stderr = openSync(join(sandbox, 'stderr'), 'w');
  const child = spawn(process.execPath, [script], {
    cwd: sandbox,
    env,
    stdio: ['ignore', stdout, stderr],
    detached: true,
  });
  closeSync(stdout);
  closeSync(stderr);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited };
}
