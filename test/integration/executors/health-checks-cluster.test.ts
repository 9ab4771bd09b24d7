/**
 * Health checks failing a task, end to end with real processes: `strata master`, `strata agent`
 * and the built-in command executor, driven by a scheduler written from the v1 spec. The
 * scheduler sees the executor's health updates (TASK_RUNNING, healthy=false,
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED) and then the kill (TASK_KILLING, TASK_KILLED with
 * healthy=false), also for a task group under the default executor; the master refuses invalid health checks and checks with TASK_ERROR.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { isFieldSet, type MessageInitShape, toJson } from '@bufbuild/protobuf';
import {
  CheckInfo_Type,
  CheckStatusInfoSchema,
  HealthCheck_Type,
  type Offer,
  type TaskInfoSchema,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { startAgentProcess, startMasterProcess } from '../../support/processes.js';
import { TestScheduler } from '../../support/scheduler-client.js';

const MULTI_ROLE = 6;
const TASK_KILLING_STATE = 2;
const LAUNCH = 1;
const LAUNCH_GROUP = 6;
const DEFAULT_EXECUTOR = 1;

function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

const scalar = (name: string, value: number) => ({ name, type: 0, scalar: { value } });

describe('health checks failing a task (real master, agent and command executor)', {
  timeout: 120_000,
}, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let scheduler: TestScheduler;

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, [
      '--resources=cpus:4;mem:2048;disk:1024',
      '--logging_level=warn',
    ]);
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'health-checks',
      roles: ['*'],
      capabilities: [{ type: MULTI_ROLE }, { type: TASK_KILLING_STATE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.process.stop();
    if (agent) killProcessesUnder(agent.workDir);
    await master?.process.stop();
  });

  /** The next update of `taskId`, acknowledged when it carries a uuid. */
  async function nextUpdate(taskId: string): Promise<TaskStatus> {
    const event = await scheduler.next(
      (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === taskId,
      30_000,
      `an update of ${taskId}`,
    );
    return acknowledge(event.update!.status!);
  }

  async function acknowledge(status: TaskStatus): Promise<TaskStatus> {
    if (status.uuid.length > 0) {
      const res = await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
      });
      assert.equal(res.status, 202);
    }
    return status;
  }

  /** An offer big enough for two small tasks and an executor. */
  const bigOffer = (): Promise<Offer> => scheduler.nextFittingOffer({ cpus: 0.5, mem: 128 }, 30_000);

  async function launch(
    taskId: string,
    extra: Omit<Exclude<MessageInitShape<typeof TaskInfoSchema>, { $typeName: string }>, 'name'>,
  ): Promise<Offer> {
    const offer = await bigOffer();
    const res = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: LAUNCH,
            launch: {
              taskInfos: [
                {
                  name: taskId,
                  taskId: { value: taskId },
                  agentId: offer.agentId!,
                  resources: [scalar('cpus', 0.1), scalar('mem', 32)],
                  command: { value: 'exec sleep 1000' },
                  ...extra,
                },
              ],
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(res.status, 202);
    return offer;
  }

  it('a failing COMMAND health check: healthy=false updates, then TASK_KILLING and TASK_KILLED with healthy=false', async () => {
    await launch('unhealthy', {
      healthCheck: {
        type: HealthCheck_Type.COMMAND,
        command: { value: 'test -f "$MESOS_SANDBOX/ready"' },
        delaySeconds: 0.2,
        intervalSeconds: 0.2,
        timeoutSeconds: 5,
        gracePeriodSeconds: 0,
        consecutiveFailures: 3,
      },
      killPolicy: { gracePeriod: { nanoseconds: 1_000_000_000n } },
    });
    const seen: TaskStatus[] = [];
    while (!seen.some((s) => s.state === TaskState.TASK_KILLED || s.state === TaskState.TASK_FAILED)) {
      seen.push(await nextUpdate('unhealthy'));
    }
    assert.deepEqual(
      seen.map((s) => TaskState[s.state]),
      [
        'TASK_STARTING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_KILLING',
        'TASK_KILLED',
      ],
    );
    const health = seen.slice(2, 5);
    for (const status of health) {
      assert.equal(status.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
      assert.equal(status.source, TaskStatus_Source.EXECUTOR);
      assert.equal(isFieldSet(status, TaskStatusSchema.field.healthy), true);
      assert.equal(status.healthy, false);
    }
    const killed = seen.at(-1)!;
    assert.equal(isFieldSet(killed, TaskStatusSchema.field.healthy), true);
    assert.equal(killed.healthy, false);
    assert.equal(killed.source, TaskStatus_Source.EXECUTOR);
    assert.equal(killed.message, 'Command terminated with signal Terminated');
  });

  it('a passing COMMAND health check and a COMMAND check: healthy=true once, check_status carried', async () => {
    const offer = await launch('healthy', {
      healthCheck: {
        type: HealthCheck_Type.COMMAND,
        command: { value: 'true' },
        delaySeconds: 0,
        intervalSeconds: 0.2,
      },
      check: {
        type: CheckInfo_Type.COMMAND,
        command: { command: { value: 'exit 3' } },
        delaySeconds: 0,
        intervalSeconds: 0.2,
      },
    });
    const seen: TaskStatus[] = [];
    while (seen.length < 4) seen.push(await nextUpdate('healthy'));
    const states = seen.map((s) => TaskState[s.state]);
    assert.deepEqual(states, ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING', 'TASK_RUNNING']);
    const reasons = seen.slice(2).map((s) => TaskStatus_Reason[s.reason]);
    assert.deepEqual(reasons.sort(), ['TASK_CHECK_STATUS_UPDATED', 'TASK_HEALTH_CHECK_STATUS_UPDATED']);
    const healthUpdate = seen.find((s) => s.reason === TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED)!;
    assert.equal(healthUpdate.healthy, true);
    const checkUpdate = seen.find((s) => s.reason === TaskStatus_Reason.TASK_CHECK_STATUS_UPDATED)!;
    assert.deepEqual(toJson(CheckStatusInfoSchema, checkUpdate.checkStatus!), {
      type: 'COMMAND',
      command: { exitCode: 3 },
    });
    assert.deepEqual(toJson(CheckStatusInfoSchema, seen[0]!.checkStatus!), { type: 'COMMAND', command: {} });
    // Healthy stays healthy: no more updates while it runs.
    await assert.rejects(
      scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === 'healthy',
        1_000,
        'a repeated update',
      ),
    );
    await scheduler.call({
      type: Call_Type.KILL,
      kill: { taskId: { value: 'healthy' }, agentId: offer.agentId! },
    });
    let last = await nextUpdate('healthy');
    while (last.state === TaskState.TASK_KILLING) last = await nextUpdate('healthy');
    assert.equal(last.state, TaskState.TASK_KILLED);
    assert.equal(isFieldSet(last, TaskStatusSchema.field.healthy), false);
  });

  it('a task group under the default executor: a COMMAND health check (run in a nested check container) passes, then fails and kills the group', async () => {
    const offer = await bigOffer();
    const task = (id: string) => ({
      name: id,
      taskId: { value: id },
      agentId: offer.agentId!,
      resources: [scalar('cpus', 0.1), scalar('mem', 32)],
      command: { value: 'exec sleep 1000' },
    });
    const res = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: LAUNCH_GROUP,
            launchGroup: {
              executor: {
                type: DEFAULT_EXECUTOR,
                executorId: { value: 'health-group' },
                frameworkId: { value: scheduler.frameworkId },
                resources: [scalar('cpus', 0.1), scalar('mem', 32), scalar('disk', 32)],
              },
              taskGroup: {
                tasks: [
                  {
                    ...task('g-unhealthy'),
                    // Healthy while `alive` is in the task's sandbox, which the check finds
                    // through MESOS_SANDBOX from its own container; then it goes.
                    command: { value: 'touch alive; sleep 1.5; rm alive; exec sleep 1000' },
                    healthCheck: {
                      type: HealthCheck_Type.COMMAND,
                      command: { value: 'test -f "$MESOS_SANDBOX/alive"' },
                      delaySeconds: 0.2,
                      intervalSeconds: 0.2,
                      timeoutSeconds: 10,
                      gracePeriodSeconds: 0,
                      consecutiveFailures: 2,
                    },
                  },
                  task('g-sidecar'),
                ],
              },
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(res.status, 202);
    const seen = new Map<string, TaskStatus[]>([
      ['g-unhealthy', []],
      ['g-sidecar', []],
    ]);
    const ended = (statuses: TaskStatus[]) =>
      statuses.some((s) => s.state === TaskState.TASK_KILLED || s.state === TaskState.TASK_FAILED);
    while (![...seen.values()].every(ended)) {
      const next = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && seen.has(e.update?.status?.taskId?.value ?? ''),
        30_000,
        'a group update',
      );
      const status = await acknowledge(next.update!.status!);
      seen.get(status.taskId!.value)!.push(status);
    }
    const unhealthy = seen.get('g-unhealthy')!;
    assert.deepEqual(
      unhealthy.map((s) => TaskState[s.state]),
      [
        'TASK_STARTING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_RUNNING',
        'TASK_KILLING',
        'TASK_KILLED',
      ],
    );
    const health = unhealthy.slice(2, 5);
    for (const status of health) {
      assert.equal(status.reason, TaskStatus_Reason.TASK_HEALTH_CHECK_STATUS_UPDATED);
    }
    assert.deepEqual(
      health.map((s) => s.healthy),
      [true, false, false],
    );
    assert.equal(unhealthy.at(-1)?.healthy, false);
    assert.deepEqual(
      seen.get('g-sidecar')!.map((s) => TaskState[s.state]),
      ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED'],
    );
  });

  it('the master refuses an invalid health check or check: TASK_ERROR, REASON_TASK_INVALID, naming the problem', async () => {
    await launch('bad-health', {
      healthCheck: { type: HealthCheck_Type.HTTP, http: { port: 80, path: 'health' } },
    });
    const status = await nextUpdate('bad-health');
    assert.equal(status.state, TaskState.TASK_ERROR);
    assert.equal(status.reason, TaskStatus_Reason.TASK_INVALID);
    assert.equal(status.source, TaskStatus_Source.MASTER);
    assert.equal(
      status.message,
      "Task uses invalid health check: The path 'health' of HTTP health check must start with '/'",
    );
    await launch('bad-check', { check: { type: CheckInfo_Type.TCP, delaySeconds: 1 } });
    const checkStatus = await nextUpdate('bad-check');
    assert.equal(checkStatus.state, TaskState.TASK_ERROR);
    assert.equal(checkStatus.message, "Task uses invalid check: Expecting 'tcp' to be set for TCP check");
  });
});
