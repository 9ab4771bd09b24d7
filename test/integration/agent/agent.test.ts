/**
 * The real agent (in process, real executor processes) against a fake master on loopback:
 * registration, pings, task launch through a custom executor, reliable status updates, kills,
 * executor exits, framework messages, shutdown and re-registration.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { create, isFieldSet, type MessageInitShape } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { agentFlags } from '../../../src/agent/flags.js';
import { type AgentExit, type RunningAgent, startAgent } from '../../../src/agent/process.js';
import { parseOptions } from '../../../src/common/options.js';
import {
  type FrameworkInfo,
  TaskInfoSchema,
  TaskSchema,
  TaskState,
  TaskStatus_Reason,
  TaskStatus_Source,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  MasterToAgent_Type,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { eventually } from '../../support/eventually.js';
import { FakeMaster } from '../../support/fake-master.js';

const TEST_EXECUTOR = fileURLToPath(new URL('../../support/test-executor.js', import.meta.url));
const FRAMEWORK_ID = 'fw-0000';
const frameworkInfo: MessageInitShape<
  typeof import('../../../src/wire/gen/mesos/v1/mesos_pb.js').FrameworkInfoSchema
> = {
  user: 'tester',
  name: 'agent-tests',
  id: { value: FRAMEWORK_ID },
};

interface TaskOptions {
  plan?: object;
  env?: Record<string, string>;
  executorId?: string;
  gracePeriodNanos?: bigint;
}

function customTask(taskId: string, options: TaskOptions = {}) {
  return create(TaskInfoSchema, {
    name: taskId,
    taskId: { value: taskId },
    agentId: { value: 'fake-master-S0' },
    resources: [{ name: 'cpus', type: 0, scalar: { value: 0.1 }, allocationInfo: { role: '*' } }],
    data: new TextEncoder().encode(JSON.stringify(options.plan ?? {})),
    executor: {
      executorId: { value: options.executorId ?? `exec-${taskId}` },
      frameworkId: { value: FRAMEWORK_ID },
      name: 'test executor',
      command: {
        value: `exec "${process.execPath}" "${TEST_EXECUTOR}"`,
        environment: {
          variables: Object.entries(options.env ?? {}).map(([name, value]) => ({ name, value })),
        },
      },
      ...(options.gracePeriodNanos !== undefined
        ? { shutdownGracePeriod: { nanoseconds: options.gracePeriodNanos } }
        : {}),
    },
  });
}

/** Pids of processes whose working directory is inside `directory`. */
function processesUnder(directory: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

const isUpdate = (taskId: string, state?: TaskState) => (m: AgentToMaster) =>
  m.type === AgentToMaster_Type.STATUS_UPDATE &&
  m.statusUpdate?.status?.taskId?.value === taskId &&
  (state === undefined || m.statusUpdate.status.state === state);

/** Whether a file named `name` exists below `root` on a path that contains `marker`. */
function findFile(root: string, name: string, marker: string): boolean {
  const walk = (dir: string): boolean => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isFile() && entry.name === name && path.includes(marker)) return true;
      if (entry.isDirectory() && !entry.isSymbolicLink() && walk(path)) return true;
    }
    return false;
  };
  return walk(root);
}

describe('agent against a fake master', () => {
  const master = new FakeMaster();
  let workDir: string;
  let running: RunningAgent;

  async function startTestAgent(extra: string[] = []): Promise<RunningAgent> {
    const flags = parseOptions(agentFlags, [
      '--switch_user=false', // the fake frameworks' users do not exist here
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      '--port=0',
      `--work_dir=${workDir}`,
      '--resources=cpus:4;mem:2048;disk:4096;ports:[31000-31010]',
      '--attributes=rack:r1;level:3',
      '--registration_backoff_factor=20ms',
      '--executor_registration_timeout=5secs',
      '--executor_shutdown_grace_period=2secs',
      ...extra,
    ]).values;
    return startAgent(flags, {
      installSignalHandlers: false,
      logger: pino({ level: process.env.STRATA_TEST_LOG ?? 'silent' }),
      statusUpdateRetry: { minMs: 300, maxMs: 1200 },
      killEscalationMs: 500,
    });
  }

  async function ack(message: AgentToMaster): Promise<void> {
    const update = message.statusUpdate!;
    master.send({
      type: MasterToAgent_Type.ACKNOWLEDGE,
      acknowledge: {
        frameworkId: update.frameworkId,
        taskId: update.status!.taskId!,
        uuid: update.status!.uuid,
      },
    });
  }

  /** Waits for an update of `taskId` in `state` and acknowledges it. */
  async function expectUpdate(taskId: string, state: TaskState, timeoutMs = 10_000): Promise<AgentToMaster> {
    const message = await master.next(
      isUpdate(taskId, state),
      timeoutMs,
      `${TaskState[state]} for ${taskId}`,
    );
    await ack(message);
    return message;
  }

  function runTask(
    task: ReturnType<typeof customTask>,
    info: MessageInitShape<
      typeof import('../../../src/wire/gen/mesos/v1/mesos_pb.js').FrameworkInfoSchema
    > = frameworkInfo,
  ): void {
    master.send({ type: MasterToAgent_Type.RUN_TASK, runTask: { frameworkInfo: info, task } });
  }

  async function state(): Promise<{
    id: string;
    frameworks: {
      id: string;
      executors: { id: string; directory: string; tasks: { id: string; state: string }[] }[];
    }[];
    completed_frameworks: unknown[];
    resources: Record<string, unknown>;
    attributes: Record<string, unknown>;
  }> {
    const res = await fetch(`http://127.0.0.1:${running.address.port}/slave(1)/state`);
    assert.equal(res.status, 200);
    return (await res.json()) as never;
  }

  before(async () => {
    await master.start();
    workDir = mkdtempSync(join(tmpdir(), 'strata-agent-test-'));
    running = await startTestAgent();
  });

  after(async () => {
    await running?.close();
    await master.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  afterEach(() => master.drain());

  it('registers with its resources and attributes, and answers pings', async () => {
    const register = await master.nextOfType(AgentToMaster_Type.REGISTER);
    const info = register.register!.agentInfo!;
    assert.equal(info.hostname, '127.0.0.1');
    assert.equal(info.port, running.address.port);
    assert.equal(register.register!.pid, `slave(1)@127.0.0.1:${running.address.port}`);
    const names = info.resources.map((r) => r.name).sort();
    assert.deepEqual(names, ['cpus', 'disk', 'mem', 'ports']);
    assert.deepEqual(
      info.attributes.map((a) => a.name),
      ['rack', 'level'],
    );
    for (let i = 0; i < 20 && running.agentId() === undefined; i++) await sleep(25);
    assert.equal(running.agentId(), 'fake-master-S0');

    master.send({ type: MasterToAgent_Type.PING, ping: { sequence: 7n, connected: true } });
    const pong = await master.nextOfType(AgentToMaster_Type.PONG);
    assert.equal(pong.pong!.sequence, 7n);

    const s = await state();
    assert.equal(s.id, 'fake-master-S0');
    assert.equal((s.attributes as { rack: string }).rack, 'r1');
  });

  it('launches a custom executor, delivers updates in order and resends until acknowledged', async () => {
    runTask(customTask('t1'));
    const starting = await master.next(isUpdate('t1', TaskState.TASK_STARTING), 10_000, 'TASK_STARTING');
    const status = starting.statusUpdate!.status!;
    assert.equal(status.source, TaskStatus_Source.EXECUTOR);
    assert.equal(status.uuid.length, 16);
    assert.equal(status.agentId?.value, 'fake-master-S0');
    assert.equal(status.executorId?.value, 'exec-t1');
    assert.equal(starting.statusUpdate!.frameworkId!.value, FRAMEWORK_ID);
    // The executor has sent RUNNING too, but only the head is in flight: the agent resends STARTING.
    const resent = await master.next(isUpdate('t1'), 3000, 'a resend');
    assert.equal(resent.statusUpdate!.status!.state, TaskState.TASK_STARTING);
    assert.deepEqual(resent.statusUpdate!.status!.uuid, status.uuid);
    assert.equal(resent.statusUpdate!.latestState, TaskState.TASK_RUNNING);
    await ack(starting);
    const runningUpdate = await expectUpdate('t1', TaskState.TASK_RUNNING);
    assert.equal(runningUpdate.statusUpdate!.latestState, TaskState.TASK_RUNNING);

    const s = await state();
    const executor = s.frameworks[0]!.executors.find((e) => e.id === 'exec-t1')!;
    assert.equal(executor.tasks[0]!.state, 'TASK_RUNNING');
    const raw = s as unknown as Record<string, unknown>;
    for (const key of [
      'version',
      'build_date',
      'build_time',
      'build_user',
      'start_time',
      'id',
      'pid',
      'hostname',
      'capabilities',
      'resources',
      'reserved_resources',
      'unreserved_resources',
      'reserved_resources_full',
      'unreserved_resources_full',
      'reserved_resources_allocated',
      'unreserved_resources_allocated',
      'resource_providers',
      'attributes',
      'master_hostname',
      'flags',
      'frameworks',
      'completed_frameworks',
    ]) {
      assert.ok(key in raw, `/state has ${key}`);
    }
    assert.deepEqual(raw.resources, { cpus: 4, gpus: 0, mem: 2048, disk: 4096, ports: '[31000-31010]' });
    assert.equal((raw.unreserved_resources_allocated as { cpus: number }).cpus, 0.1);
    assert.equal(raw.master_hostname, 'fake-master-host');
    // The sandbox and its `latest` link, and the environment Mesos gives executors.
    assert.match(
      executor.directory,
      new RegExp(`/slaves/fake-master-S0/frameworks/${FRAMEWORK_ID}/executors/exec-t1/runs/`),
    );
    const runs = join(executor.directory, '..');
    assert.equal(join(runs, readlinkSync(join(runs, 'latest'))), executor.directory);
    const env = JSON.parse(readFileSync(join(executor.directory, 'executor-env.json'), 'utf8')) as Record<
      string,
      string
    >;
    assert.equal(env.MESOS_FRAMEWORK_ID, FRAMEWORK_ID);
    assert.equal(env.MESOS_EXECUTOR_ID, 'exec-t1');
    assert.equal(env.MESOS_SLAVE_ID, 'fake-master-S0');
    assert.equal(env.MESOS_AGENT_ENDPOINT, `127.0.0.1:${running.address.port}`);
    assert.equal(env.MESOS_SLAVE_PID, `slave(1)@127.0.0.1:${running.address.port}`);
    assert.equal(env.MESOS_DIRECTORY, executor.directory);
    assert.equal(env.MESOS_SANDBOX, executor.directory);
    assert.equal(env.MESOS_CHECKPOINT, '0');
    assert.equal(env.MESOS_HTTP_COMMAND_EXECUTOR, '1');
    assert.equal(env.MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, '2secs');
    assert.equal(env.MESOS_RECOVERY_TIMEOUT, undefined);
    assert.match(readFileSync(join(executor.directory, 'stdout'), 'utf8'), /event SUBSCRIBED/);
  });

  it('forwards KILL_TASK with its kill policy; the executor exit is reported', async () => {
    master.send({
      type: MasterToAgent_Type.KILL_TASK,
      killTask: {
        frameworkId: { value: FRAMEWORK_ID },
        taskId: { value: 't1' },
        killPolicy: { gracePeriod: { nanoseconds: 1_000_000_000n } },
      },
    });
    const killed = await expectUpdate('t1', TaskState.TASK_KILLED);
    assert.match(killed.statusUpdate!.status!.message, /grace 1000000000/);
    const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED);
    assert.equal(exited.executorExited!.executorId!.value, 'exec-t1');
    assert.equal(exited.executorExited!.status, 0);
  });

  it('fails the tasks of an executor that dies, as SOURCE_AGENT with REASON_EXECUTOR_TERMINATED', async () => {
    runTask(customTask('t2', { plan: { crashAfterRunning: 3 } }));
    await expectUpdate('t2', TaskState.TASK_STARTING);
    await expectUpdate('t2', TaskState.TASK_RUNNING);
    const failed = await expectUpdate('t2', TaskState.TASK_FAILED);
    const status = failed.statusUpdate!.status!;
    assert.equal(status.source, TaskStatus_Source.AGENT);
    assert.equal(status.reason, TaskStatus_Reason.EXECUTOR_TERMINATED);
    assert.equal(status.uuid.length, 16);
    const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED);
    assert.equal(exited.executorExited!.status, 3 << 8);
  });

  it('kills a task queued for an executor that has not subscribed, and shuts that executor down', async () => {
    runTask(customTask('t3', { env: { TEST_EXECUTOR_SILENT: '1' } }));
    await sleep(200);
    master.send({
      type: MasterToAgent_Type.KILL_TASK,
      killTask: { frameworkId: { value: FRAMEWORK_ID }, taskId: { value: 't3' } },
    });
    const killed = await expectUpdate('t3', TaskState.TASK_KILLED);
    assert.equal(killed.statusUpdate!.status!.reason, TaskStatus_Reason.TASK_KILLED_DURING_LAUNCH);
    assert.equal(killed.statusUpdate!.status!.source, TaskStatus_Source.AGENT);
    await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED);
  });

  it('SIGKILLs an executor that ignores SIGTERM when it is shut down', async () => {
    runTask(customTask('t-stubborn', { env: { TEST_EXECUTOR_SILENT: '1', TEST_EXECUTOR_IGNORE_TERM: '1' } }));
    // Once it has written its environment it ignores SIGTERM (a fixed sleep raced a slow start).
    await eventually('the stubborn executor to start', () =>
      findFile(workDir, 'executor-env.json', 'exec-t-stubborn') ? true : undefined,
    );
    master.send({
      type: MasterToAgent_Type.SHUTDOWN_EXECUTOR,
      shutdownExecutor: { frameworkId: { value: FRAMEWORK_ID }, executorId: { value: 'exec-t-stubborn' } },
    });
    const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED, 5000);
    assert.equal(exited.executorExited!.executorId!.value, 'exec-t-stubborn');
    assert.equal(exited.executorExited!.status, 9, 'killed by SIGKILL');
    const failed = await expectUpdate('t-stubborn', TaskState.TASK_FAILED);
    assert.equal(failed.statusUpdate!.status!.reason, TaskStatus_Reason.EXECUTOR_TERMINATED);
  });

  it('fails the task with REASON_CONTAINER_LAUNCH_FAILED when the executor cannot be started', async () => {
    const task = customTask('t-missing');
    task.executor!.command!.shell = false;
    task.executor!.command!.value = join(workDir, 'no-such-program');
    runTask(task);
    const failed = await expectUpdate('t-missing', TaskState.TASK_FAILED);
    assert.equal(failed.statusUpdate!.status!.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.equal(failed.statusUpdate!.status!.source, TaskStatus_Source.AGENT);
    assert.match(failed.statusUpdate!.status!.message, /^Failed to launch container: /);
  });

  it('refuses executor ids that would escape the sandbox tree', async () => {
    runTask(customTask('t-escape', { executorId: '..' }));
    const failed = await expectUpdate('t-escape', TaskState.TASK_FAILED);
    assert.equal(failed.statusUpdate!.status!.reason, TaskStatus_Reason.CONTAINER_LAUNCH_FAILED);
    assert.match(failed.statusUpdate!.status!.message, /invalid executor ID '\.\.'/);
  });

  it('fails tasks with REASON_EXECUTOR_REGISTRATION_TIMEOUT when the executor never subscribes', async () => {
    // A full shutdown, so that the next start in this work_dir is a new agent (no recovery).
    await running.close({ all: true });
    master.drain();
    running = await startTestAgent(['--executor_registration_timeout=500ms']);
    await master.nextOfType(AgentToMaster_Type.REGISTER);
    await sleep(50);
    runTask(customTask('t4', { env: { TEST_EXECUTOR_SILENT: '1' } }));
    const failed = await expectUpdate('t4', TaskState.TASK_FAILED, 5000);
    assert.equal(failed.statusUpdate!.status!.reason, TaskStatus_Reason.EXECUTOR_REGISTRATION_TIMEOUT);
    assert.match(failed.statusUpdate!.status!.message, /Executor did not register within 500ms/);
  });

  it('relays framework messages both ways', async () => {
    runTask(customTask('t5'));
    await expectUpdate('t5', TaskState.TASK_STARTING);
    await expectUpdate('t5', TaskState.TASK_RUNNING);
    master.send({
      type: MasterToAgent_Type.FRAMEWORK_TO_EXECUTOR,
      frameworkToExecutor: {
        frameworkId: { value: FRAMEWORK_ID },
        executorId: { value: 'exec-t5' },
        data: new TextEncoder().encode('hello'),
      },
    });
    const echoed = await master.nextOfType(AgentToMaster_Type.EXECUTOR_TO_FRAMEWORK);
    assert.equal(new TextDecoder().decode(echoed.executorToFramework!.data), 'hello');
    assert.equal(echoed.executorToFramework!.executorId!.value, 'exec-t5');
  });

  it('re-registers after losing the master, reporting its framework, executor and running task', async () => {
    master.link!.close('test drops the link');
    const reregister = await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
    const body = reregister.reregister!;
    assert.equal(body.agentInfo!.id!.value, 'fake-master-S0');
    const task = body.tasks.find((t) => t.taskId?.value === 't5');
    assert.ok(task, 'the running task is reported');
    assert.equal(task.state, TaskState.TASK_RUNNING);
    assert.ok(body.executorInfos.some((e) => e.executorId?.value === 'exec-t5'));
    assert.ok(body.frameworks.some((f: FrameworkInfo) => f.id?.value === FRAMEWORK_ID));
    assert.equal(isFieldSet(task, TaskSchema.field.statusUpdateState), false, 'nothing in flight');
  });

  it('shuts the framework down: SHUTDOWN to the executor, no updates afterwards', async () => {
    master.send({
      type: MasterToAgent_Type.SHUTDOWN_FRAMEWORK,
      shutdownFramework: { frameworkId: { value: FRAMEWORK_ID } },
    });
    const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED);
    assert.equal(exited.executorExited!.executorId!.value, 'exec-t5');
    await sleep(200);
    const s = await state();
    assert.equal(s.frameworks.length, 0);
    assert.ok(s.completed_frameworks.length >= 1);
  });

  it('runs a second task on the same executor and finishes it', async () => {
    runTask(customTask('t6', { plan: { finish: true }, executorId: 'shared' }));
    await expectUpdate('t6', TaskState.TASK_STARTING);
    await expectUpdate('t6', TaskState.TASK_RUNNING);
    await expectUpdate('t6', TaskState.TASK_FINISHED);
    const exited = await master.nextOfType(AgentToMaster_Type.EXECUTOR_EXITED);
    assert.equal(exited.executorExited!.executorId!.value, 'shared');
  });

  it('runs a command task through the built-in command executor', async (t) => {
    if (!existsSync(fileURLToPath(new URL('../../../src/executors/command-executor.js', import.meta.url)))) {
      t.skip('the built-in command executor is not built');
      return;
    }
    const task = create(TaskInfoSchema, {
      name: 'cmd',
      taskId: { value: 'cmd-1' },
      agentId: { value: 'fake-master-S0' },
      resources: [{ name: 'cpus', type: 0, scalar: { value: 0.1 }, allocationInfo: { role: '*' } }],
      command: { value: 'echo hello from $MESOS_TASK_ID; echo to-stderr >&2' },
    });
    runTask(task);
    const starting = await expectUpdate('cmd-1', TaskState.TASK_STARTING);
    assert.equal(starting.statusUpdate!.executorId!.value, 'cmd-1');
    await expectUpdate('cmd-1', TaskState.TASK_RUNNING);
    await expectUpdate('cmd-1', TaskState.TASK_FINISHED);
    const s = await state();
    const executors = [
      ...s.frameworks.flatMap((f) => f.executors),
      ...(s.completed_frameworks as { completed_executors: { id: string; directory: string }[] }[]).flatMap(
        (f) => f.completed_executors,
      ),
    ];
    const executor = executors.find((e) => e.id === 'cmd-1');
    assert.ok(executor, 'the command executor shows in /state');
    for (
      let i = 0;
      i < 50 && !readFileSync(join(executor.directory, 'stdout'), 'utf8').includes('hello');
      i++
    ) {
      await sleep(50);
    }
    assert.match(readFileSync(join(executor.directory, 'stdout'), 'utf8'), /hello/);
  });

  it('kills a running command task', async (t) => {
    if (!existsSync(fileURLToPath(new URL('../../../src/executors/command-executor.js', import.meta.url)))) {
      t.skip('the built-in command executor is not built');
      return;
    }
    runTask(
      create(TaskInfoSchema, {
        name: 'sleeper',
        taskId: { value: 'cmd-2' },
        agentId: { value: 'fake-master-S0' },
        resources: [{ name: 'cpus', type: 0, scalar: { value: 0.1 }, allocationInfo: { role: '*' } }],
        command: { value: 'sleep 60' },
      }),
    );
    await expectUpdate('cmd-2', TaskState.TASK_STARTING);
    await expectUpdate('cmd-2', TaskState.TASK_RUNNING);
    master.send({
      type: MasterToAgent_Type.KILL_TASK,
      killTask: { frameworkId: { value: FRAMEWORK_ID }, taskId: { value: 'cmd-2' } },
    });
    const killed = await expectUpdate('cmd-2', TaskState.TASK_KILLED);
    assert.equal(killed.statusUpdate!.status!.source, TaskStatus_Source.EXECUTOR);
  });

  it('holds status updates while it has no master and sends them once re-registered', async () => {
    runTask(customTask('t8'));
    await expectUpdate('t8', TaskState.TASK_STARTING);
    await expectUpdate('t8', TaskState.TASK_RUNNING);
    const directory = (await state()).frameworks
      .flatMap((f) => f.executors)
      .find((e) => e.id === 'exec-t8')!.directory;
    master.answerRegistrations = false;
    master.link!.close('test drops the link');
    await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
    // The executor dies while the agent has no master: its TASK_FAILED must wait.
    for (const pid of processesUnder(directory)) process.kill(pid, 'SIGKILL');
    await sleep(500);
    assert.equal(master.messages.filter(isUpdate('t8', TaskState.TASK_FAILED)).length, 0);
    master.answerRegistrations = true;
    master.link!.close('now let it register');
    const reregister = await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
    const reported = reregister.reregister!.tasks.find((t) => t.taskId?.value === 't8');
    assert.equal(reported?.state, TaskState.TASK_FAILED, 'the latest state is reported');
    assert.equal(reported?.statusUpdateState, TaskState.TASK_FAILED, 'the update in flight is reported');
    const failed = await expectUpdate('t8', TaskState.TASK_FAILED);
    assert.equal(failed.statusUpdate!.status!.reason, TaskStatus_Reason.EXECUTOR_TERMINATED);
  });

  it('registers again when the pings stop, or when a ping says it is not connected', async () => {
    master.pingTimeoutSeconds = 0.5;
    master.link!.close('announce a short ping budget');
    await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
    master.pingTimeoutSeconds = 30;
    const silentSince = Date.now();
    await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
    assert.ok(Date.now() - silentSince >= 400, 'it waited for the ping budget');
    master.send({ type: MasterToAgent_Type.PING, ping: { sequence: 99n, connected: false } });
    assert.equal((await master.nextOfType(AgentToMaster_Type.PONG)).pong!.sequence, 99n);
    await master.nextOfType(AgentToMaster_Type.REREGISTER, 5000);
  });

  it('shuts down with status 1 on SHUTDOWN_AGENT', async () => {
    master.send({ type: MasterToAgent_Type.SHUTDOWN_AGENT, shutdownAgent: { message: 'agent removed' } });
    const exit: AgentExit = await Promise.race([
      running.closed,
      sleep(5000, undefined, { ref: false }).then(() => ({ code: -1, message: 'timeout' })),
    ]);
    assert.deepEqual(exit, { code: 1, message: 'Asked to shut down by the master: agent removed' });
    master.drain();
    running = await startTestAgent();
  });

  it("exits with the master's message when refused", async () => {
    await running.close({ all: true });
    master.drain();
    master.refuseWith = 'go away';
    running = await startTestAgent();
    const exit: AgentExit = await Promise.race([
      running.closed,
      sleep(5000, undefined, { ref: false }).then(() => ({ code: -1, message: 'timeout' })),
    ]);
    assert.equal(exit.code, 1);
    assert.match(exit.message ?? '', /go away/);
    master.refuseWith = undefined;
    assert.ok(existsSync(workDir));
  });
});
