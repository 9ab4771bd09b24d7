/**
 * The pure parts of the operator API: the replay buffer behind resumable event streams, the
 * TASK_UPDATED de-duplication rule (reference section 9.14), call validation and the merging of
 * handler tables.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { StrataError } from '../../../src/common/errors.js';
import { mergeCallTables, validateMasterCall } from '../../../src/master/operator-api.js';
import { isPublishedTaskUpdate, ReplayBuffer } from '../../../src/master/operator-events.js';
import { Call_Type, CallSchema } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import { TaskState, TaskStatusSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

function fill(buffer: ReplayBuffer<string>, count: number): void {
  for (let i = 0; i < count; i++) buffer.push(`e${buffer.head + 1n}`);
}

describe('ReplayBuffer', () => {
  it('numbers items 1, 2, 3, ... and replays exactly those after an offset', () => {
    const buffer = new ReplayBuffer<string>(5);
    assert.equal(buffer.head, 0n);
    assert.equal(buffer.push('a'), 1n);
    assert.equal(buffer.push('b'), 2n);
    assert.equal(buffer.push('c'), 3n);
    assert.deepEqual(buffer.after(0n), { kind: 'events', events: ['a', 'b', 'c'] });
    assert.deepEqual(buffer.after(1n), { kind: 'events', events: ['b', 'c'] });
    assert.deepEqual(buffer.after(3n), { kind: 'events', events: [] });
  });

  it('after wrapping around keeps the newest `capacity` in order', () => {
    const buffer = new ReplayBuffer<string>(4);
    fill(buffer, 11);
    assert.equal(buffer.head, 11n);
    assert.equal(buffer.size, 4);
    assert.equal(buffer.oldest, 8n);
    assert.deepEqual(buffer.after(7n), { kind: 'events', events: ['e8', 'e9', 'e10', 'e11'] });
    assert.deepEqual(buffer.after(9n), { kind: 'events', events: ['e10', 'e11'] });
  });

  it('answers too-old once an event after the offset was evicted, and unknown past the head', () => {
    const buffer = new ReplayBuffer<string>(3);
    fill(buffer, 10);
    assert.deepEqual(buffer.after(6n), { kind: 'too-old', oldest: 8n });
    assert.equal(buffer.after(7n).kind, 'events');
    assert.deepEqual(buffer.after(11n), { kind: 'unknown', head: 10n });
    assert.deepEqual(buffer.after(-1n), { kind: 'unknown', head: 10n });
  });

  it('with capacity 0 keeps nothing: only the head itself can be resumed', () => {
    const buffer = new ReplayBuffer<string>(0);
    fill(buffer, 3);
    assert.deepEqual(buffer.after(3n), { kind: 'events', events: [] });
    assert.equal(buffer.after(2n).kind, 'too-old');
  });
});

describe('TASK_UPDATED de-duplication (reference 9.14)', () => {
  const uuid = (n: number) => new Uint8Array(16).fill(n);
  const status = (init: Parameters<typeof create<typeof TaskStatusSchema>>[1]) =>
    create(TaskStatusSchema, init);

  it('publishes a change of the recorded state', () => {
    assert.equal(
      isPublishedTaskUpdate({
        previousState: TaskState.TASK_STAGING,
        latestState: TaskState.TASK_RUNNING,
        status: status({ state: TaskState.TASK_RUNNING, uuid: uuid(1) }),
        pendingUuid: new Uint8Array(),
      }),
      true,
    );
  });

  it('does not publish the same state again', () => {
    assert.equal(
      isPublishedTaskUpdate({
        previousState: TaskState.TASK_RUNNING,
        latestState: TaskState.TASK_RUNNING,
        status: status({ state: TaskState.TASK_RUNNING, uuid: uuid(2) }),
        pendingUuid: uuid(1),
      }),
      false,
    );
  });

  it('publishes health and check updates even in the same state', () => {
    const base = { previousState: TaskState.TASK_RUNNING, latestState: TaskState.TASK_RUNNING };
    const healthy = status({ state: TaskState.TASK_RUNNING, uuid: uuid(2), healthy: false });
    assert.equal(isPublishedTaskUpdate({ ...base, status: healthy, pendingUuid: uuid(1) }), true);
    const checked = status({ state: TaskState.TASK_RUNNING, uuid: uuid(3), checkStatus: {} });
    assert.equal(isPublishedTaskUpdate({ ...base, status: checked, pendingUuid: uuid(2) }), true);
  });

  it('never publishes a retransmission of the update pending acknowledgement', () => {
    const resent = status({ state: TaskState.TASK_RUNNING, uuid: uuid(7), healthy: true });
    assert.equal(
      isPublishedTaskUpdate({
        previousState: TaskState.TASK_RUNNING,
        latestState: TaskState.TASK_RUNNING,
        status: resent,
        pendingUuid: uuid(7),
      }),
      false,
    );
  });

  it('publishes a terminal state reached through latest_state', () => {
    // The agent sends RUNNING with latest_state FINISHED: the recorded state changes.
    assert.equal(
      isPublishedTaskUpdate({
        previousState: TaskState.TASK_RUNNING,
        latestState: TaskState.TASK_FINISHED,
        status: status({ state: TaskState.TASK_RUNNING, uuid: uuid(4) }),
        pendingUuid: uuid(3),
      }),
      true,
    );
  });
});

describe('master::Call validation and handler tables', () => {
  const text = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof StrataError);
      return `${err.status} ${err.message}`;
    }
    return 'ok';
  };

  it("answers a missing type or payload with Mesos' texts", () => {
    assert.equal(
      text(() => validateMasterCall(create(CallSchema, {}), false)),
      "400 Failed to validate master::Call: Expecting 'type' to be present",
    );
    assert.equal(
      text(() => validateMasterCall(create(CallSchema, { type: Call_Type.GET_METRICS }), true)),
      "400 Failed to validate master::Call: Expecting 'get_metrics' to be present",
    );
    assert.equal(
      text(() =>
        validateMasterCall(create(CallSchema, { type: Call_Type.GET_METRICS, getMetrics: {} }), true),
      ),
      'ok',
    );
    assert.equal(
      text(() => validateMasterCall(create(CallSchema, { type: Call_Type.MARK_AGENT_GONE }), true)),
      "400 Failed to validate master::Call: Expecting 'mark_agent_gone' to be present",
    );
  });

  it('refuses two tables claiming one call type', () => {
    const handler = () => ({ status: 200 });
    assert.equal(
      mergeCallTables([{ [Call_Type.GET_HEALTH]: handler }, { [Call_Type.GET_ROLES]: handler }]).size,
      2,
    );
    assert.throws(
      () => mergeCallTables([{ [Call_Type.GET_HEALTH]: handler }, { [Call_Type.GET_HEALTH]: handler }]),
      /GET_HEALTH is registered by two handler tables/,
    );
  });
});
