import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { ManualClock } from '../../../src/common/clock.js';
import {
  DEFAULT_KILL_GRACE_PERIOD_MS,
  KillStateMachine,
  killGracePeriodMs,
  shutdownKillGracePeriodMs,
} from '../../../src/executors/kill.js';
import {
  buildTaskStatus,
  describeExit,
  isTerminalState,
  signalDescription,
  terminalOutcome,
} from '../../../src/executors/status.js';
import { codec, MEDIA_TYPE_JSON } from '../../../src/wire/codec.js';
import {
  KillPolicySchema,
  TaskState,
  TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const policy = (ms: number) =>
  create(KillPolicySchema, { gracePeriod: { nanoseconds: BigInt(ms) * 1_000_000n } });

describe('buildTaskStatus', () => {
  it('fills what the agent validates: SOURCE_EXECUTOR, a 16-byte uuid, executor id, timestamp in seconds', () => {
    const status = buildTaskStatus('t1', TaskState.TASK_STARTING, {
      executorId: 'e1',
      nowMs: 1_700_000_000_500,
    });
    assert.equal(status.source, TaskStatus_Source.EXECUTOR);
    assert.equal(status.uuid.byteLength, 16);
    assert.equal(status.executorId?.value, 'e1');
    assert.equal(status.taskId?.value, 't1');
    assert.equal(status.timestamp, 1_700_000_000.5);
    // TASK_STARTING is enum value 0: it must still be on the wire, as must the source.
    const json = JSON.parse(Buffer.from(codec.encode(TaskStatusSchema, status, MEDIA_TYPE_JSON)).toString());
    assert.equal(json.state, 'TASK_STARTING');
    assert.equal(json.source, 'SOURCE_EXECUTOR');
    assert.equal(json.message, undefined);
    assert.equal(json.reason, undefined);
    assert.equal(json.healthy, undefined);
  });

  it('uses a fresh uuid per update unless given one, and carries message and reason', () => {
    const context = { executorId: 'e', nowMs: 0 };
    const a = buildTaskStatus('t', TaskState.TASK_RUNNING, context);
    const b = buildTaskStatus('t', TaskState.TASK_RUNNING, context);
    assert.notDeepEqual(a.uuid, b.uuid);
    const fixed = new Uint8Array(16).fill(7);
    const c = buildTaskStatus(
      't',
      TaskState.TASK_FAILED,
      { ...context, uuid: fixed },
      {
        message: 'why',
        reason: TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED,
      },
    );
    assert.deepEqual(c.uuid, fixed);
    assert.equal(c.message, 'why');
    assert.equal(c.reason, TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED);
  });
});

describe('terminal outcome and messages', () => {
  it('maps exits like Mesos', () => {
    assert.deepEqual(terminalOutcome({ code: 0 }, undefined), {
      state: TaskState.TASK_FINISHED,
      message: 'Command exited with status 0',
    });
    assert.deepEqual(terminalOutcome({ code: 3 }, undefined), {
      state: TaskState.TASK_FAILED,
      message: 'Command exited with status 3',
    });
    assert.deepEqual(terminalOutcome({ signal: 'SIGSEGV' }, undefined), {
      state: TaskState.TASK_FAILED,
      message: 'Command terminated with signal Segmentation fault',
    });
  });

  it('reports a killed task as KILLED whatever it exited with', () => {
    for (const cause of ['kill', 'shutdown', 'connection-lost'] as const) {
      assert.equal(terminalOutcome({ signal: 'SIGTERM' }, cause).state, TaskState.TASK_KILLED);
      assert.equal(terminalOutcome({ code: 0 }, cause).state, TaskState.TASK_KILLED);
    }
    assert.equal(
      terminalOutcome({ signal: 'SIGKILL' }, 'kill').message,
      'Command terminated with signal Killed',
    );
  });

  it('reports a max_completion_time kill as FAILED with its reason', () => {
    assert.deepEqual(terminalOutcome({ signal: 'SIGKILL' }, 'max-completion-time'), {
      state: TaskState.TASK_FAILED,
      message: 'Command terminated with signal Killed',
      reason: TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED,
    });
  });

  it('describes signals with strsignal texts', () => {
    assert.equal(signalDescription('SIGTERM'), 'Terminated');
    assert.equal(signalDescription('SIGKILL'), 'Killed');
    assert.equal(describeExit({ signal: 'SIGINT' }), 'terminated with signal Interrupt');
    assert.equal(describeExit({ code: 127 }), 'exited with status 127');
  });

  it('knows the terminal states', () => {
    assert.ok(isTerminalState(TaskState.TASK_FINISHED));
    assert.ok(isTerminalState(TaskState.TASK_KILLED));
    assert.ok(!isTerminalState(TaskState.TASK_KILLING));
    assert.ok(!isTerminalState(TaskState.TASK_STARTING));
  });
});

describe('kill grace periods', () => {
  it('prefers the KILL event policy, then the task policy, then 3 s', () => {
    assert.equal(killGracePeriodMs(policy(1500), policy(9000)), 1500);
    assert.equal(killGracePeriodMs(undefined, policy(9000)), 9000);
    assert.equal(killGracePeriodMs(create(KillPolicySchema, {}), policy(9000)), 9000);
    assert.equal(killGracePeriodMs(undefined, undefined), DEFAULT_KILL_GRACE_PERIOD_MS);
    assert.equal(killGracePeriodMs(policy(0), undefined), 0);
  });

  it('leaves a 2 s margin inside the shutdown grace period', () => {
    assert.equal(shutdownKillGracePeriodMs(5000), 3000);
    assert.equal(shutdownKillGracePeriodMs(1000), 0);
  });
});

describe('KillStateMachine', () => {
  function machine() {
    const clock = new ManualClock(0);
    const signals: string[] = [];
    const kill = new KillStateMachine(clock, {
      terminate: () => signals.push(`TERM@${clock.now()}`),
      forceKill: () => signals.push(`KILL@${clock.now()}`),
    });
    return { clock, signals, kill };
  }

  it('sends SIGTERM at once and SIGKILL after the grace period', () => {
    const { clock, signals, kill } = machine();
    assert.equal(kill.killing, false);
    assert.equal(kill.request(3000, 'kill'), 'started');
    assert.deepEqual(signals, ['TERM@0']);
    assert.equal(kill.cause, 'kill');
    clock.advance(2999);
    assert.deepEqual(signals, ['TERM@0']);
    clock.advance(1);
    assert.deepEqual(signals, ['TERM@0', 'KILL@3000']);
    assert.equal(kill.forced, true);
  });

  it('lets a later kill shorten the grace but never extend it', () => {
    const { clock, signals, kill } = machine();
    kill.request(10_000, 'kill');
    clock.advance(1000);
    assert.equal(kill.request(20_000, 'kill'), 'unchanged');
    assert.equal(kill.request(9_000, 'kill'), 'unchanged');
    assert.equal(kill.request(2_000, 'shutdown'), 'shortened');
    assert.equal(kill.escalationDue, 3000);
    assert.equal(kill.cause, 'kill', 'the first cause sticks');
    clock.advance(1999);
    assert.deepEqual(signals, ['TERM@0']);
    clock.advance(1);
    assert.deepEqual(signals, ['TERM@0', 'KILL@3000']);
    assert.equal(kill.request(0, 'kill'), 'unchanged');
    clock.advance(100_000);
    assert.equal(signals.length, 2, 'SIGKILL is sent once');
  });

  it('signals nothing once the process has ended', () => {
    const { clock, signals, kill } = machine();
    kill.request(1000, 'kill');
    kill.processExited();
    clock.advance(5000);
    assert.deepEqual(signals, ['TERM@0']);
    assert.equal(kill.request(0, 'kill'), 'ended');
  });

  it('with zero grace, escalates as soon as the clock moves', () => {
    const { clock, signals, kill } = machine();
    kill.request(0, 'max-completion-time');
    clock.advance(0);
    assert.deepEqual(signals, ['TERM@0', 'KILL@0']);
    assert.equal(kill.cause, 'max-completion-time');
  });
});
