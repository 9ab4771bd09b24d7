import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { type StatusUpdate, StatusUpdateManager } from '../../../src/agent/status-updates.js';
import { ManualClock } from '../../../src/common/clock.js';
import { TaskState, TaskStatusSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

let counter = 0;
function update(taskId: string, state: TaskState, frameworkId = 'fw'): StatusUpdate {
  counter++;
  const uuid = new Uint8Array(16);
  uuid[0] = counter & 0xff;
  uuid[1] = counter >> 8;
  return {
    frameworkId,
    executorId: 'e',
    status: create(TaskStatusSchema, { taskId: { value: taskId }, state, uuid }),
  };
}

function harness(options: { minMs?: number; maxMs?: number; latest?: TaskState } = {}) {
  const clock = new ManualClock();
  const sent: { update: StatusUpdate; latest: TaskState; at: number }[] = [];
  const manager = new StatusUpdateManager({
    clock,
    forward: (u, latest) => sent.push({ update: u, latest, at: clock.now() }),
    latestState: () => options.latest,
    retryMinMs: options.minMs ?? 10_000,
    retryMaxMs: options.maxMs ?? 600_000,
  });
  manager.resume();
  return { clock, sent, manager };
}

describe('StatusUpdateManager', () => {
  it('keeps one update per task in flight and sends the next on its acknowledgement', () => {
    const { sent, manager } = harness();
    const starting = update('t', TaskState.TASK_STARTING);
    const running = update('t', TaskState.TASK_RUNNING);
    assert.equal(manager.receive(starting), 'queued');
    assert.equal(manager.receive(running), 'queued');
    assert.deepEqual(
      sent.map((s) => s.update),
      [starting],
    );
    const result = manager.acknowledge('fw', 't', starting.status.uuid);
    assert.equal(result.kind, 'acknowledged');
    assert.deepEqual(
      sent.map((s) => s.update),
      [starting, running],
    );
  });

  it('streams of different tasks are independent', () => {
    const { sent, manager } = harness();
    manager.receive(update('a', TaskState.TASK_RUNNING));
    manager.receive(update('b', TaskState.TASK_RUNNING));
    manager.receive(update('a', TaskState.TASK_FINISHED, 'other-fw'));
    assert.equal(sent.length, 3);
  });

  it('resends the head after 10 s, doubling up to the cap, until acknowledged', () => {
    const { clock, sent, manager } = harness({ minMs: 10_000, maxMs: 40_000 });
    const start = clock.now();
    const u = update('t', TaskState.TASK_RUNNING);
    manager.receive(u);
    clock.advance(200_000);
    const offsets = sent.map((s) => s.at - start);
    assert.deepEqual(offsets.slice(0, 6), [0, 10_000, 30_000, 70_000, 110_000, 150_000]);
    manager.acknowledge('fw', 't', u.status.uuid);
    const count = sent.length;
    clock.advance(1_000_000);
    assert.equal(sent.length, count, 'no resends after the acknowledgement');
  });

  it('ignores acknowledgements that do not match the head', () => {
    const { manager } = harness();
    const first = update('t', TaskState.TASK_STARTING);
    const second = update('t', TaskState.TASK_RUNNING);
    manager.receive(first);
    manager.receive(second);
    assert.equal(manager.acknowledge('fw', 't', second.status.uuid).kind, 'unexpected');
    assert.equal(manager.acknowledge('fw', 'other', first.status.uuid).kind, 'unexpected');
    assert.equal(manager.head('fw', 't'), first);
    assert.equal(manager.acknowledge('fw', 't', first.status.uuid).kind, 'acknowledged');
    const again = manager.acknowledge('fw', 't', first.status.uuid);
    assert.equal(again.kind, 'unexpected');
  });

  it('drops duplicates, pending or already acknowledged', () => {
    const { sent, manager } = harness();
    const u = update('t', TaskState.TASK_RUNNING);
    manager.receive(u);
    assert.equal(manager.receive(u), 'duplicate');
    manager.acknowledge('fw', 't', u.status.uuid);
    assert.equal(manager.receive(u), 'duplicate');
    assert.equal(sent.length, 1);
  });

  it('closes the stream when a terminal update is acknowledged', () => {
    const { manager } = harness();
    const done = update('t', TaskState.TASK_FINISHED);
    manager.receive(done);
    const result = manager.acknowledge('fw', 't', done.status.uuid);
    assert.ok(result.kind === 'acknowledged' && result.terminal);
    assert.equal(manager.hasStream('fw', 't'), false);
    assert.equal(manager.streamCount, 0);
  });

  it('reports the newest known state as latest_state', () => {
    const { sent, manager } = harness({ latest: TaskState.TASK_FAILED });
    manager.receive(update('t', TaskState.TASK_RUNNING));
    assert.equal(sent[0]!.latest, TaskState.TASK_FAILED);
  });

  it('holds updates while paused and sends every head on resume', () => {
    const { clock, sent, manager } = harness();
    manager.pause();
    manager.receive(update('a', TaskState.TASK_RUNNING));
    manager.receive(update('b', TaskState.TASK_RUNNING));
    clock.advance(60_000);
    assert.equal(sent.length, 0);
    manager.resume();
    assert.equal(sent.length, 2);
  });

  it('forgets the streams of a removed framework', () => {
    const { clock, sent, manager } = harness();
    manager.receive(update('a', TaskState.TASK_RUNNING));
    manager.removeFramework('fw');
    clock.advance(60_000);
    assert.equal(sent.length, 1);
    assert.equal(manager.streamCount, 0);
  });
});
