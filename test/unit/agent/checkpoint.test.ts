/**
 * The checkpoint: the task.updates record format and its replay (pure), torn-log truncation,
 * atomic writes and reading a whole `meta/` tree back (on a temporary directory).
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  CheckpointError,
  Checkpointer,
  crc32,
  decodeUpdateLog,
  encodeUpdateRecord,
  RECORD_HEADER_BYTES,
  type RunKey,
  readBootId,
  readCheckpoint,
  replayUpdates,
  taskUpdatesPath,
  type UpdateRecord,
  writeFileAtomically,
} from '../../../src/agent/checkpoint.js';
import type { StatusUpdate } from '../../../src/agent/status-updates.js';
import { uuidText } from '../../../src/agent/task-states.js';
import {
  AgentInfoSchema,
  ExecutorInfoSchema,
  FrameworkInfoSchema,
  TaskSchema,
  TaskState,
  TaskStatusSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

let counter = 0;
function update(taskId: string, state: TaskState, data = ''): StatusUpdate {
  counter++;
  const uuid = new Uint8Array(16);
  uuid[0] = counter & 0xff;
  uuid[1] = (counter >> 8) & 0xff;
  uuid[15] = 0x42;
  return {
    frameworkId: 'fw',
    executorId: 'ex',
    status: create(TaskStatusSchema, {
      taskId: { value: taskId },
      state,
      uuid,
      message: 'hello',
      data: new TextEncoder().encode(data),
    }),
  };
}

const ack = (u: StatusUpdate): UpdateRecord => ({ type: 'ack', uuid: u.status.uuid });
const rec = (u: StatusUpdate): UpdateRecord => ({ type: 'update', update: u });

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const dirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-checkpoint-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('task.updates record format', () => {
  it('crc32 matches the IEEE check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  it('round-trips updates and acknowledgements', () => {
    const running = update('t1', TaskState.TASK_RUNNING, 'payload');
    const records: UpdateRecord[] = [rec(running), ack(running)];
    const bytes = concat(records.map(encodeUpdateRecord));
    const log = decodeUpdateLog(bytes);
    assert.equal(log.tail, 'clean');
    assert.equal(log.validBytes, bytes.length);
    assert.equal(log.records.length, 2);
    const first = log.records[0]!;
    assert.equal(first.type, 'update');
    if (first.type === 'update') {
      assert.equal(first.update.frameworkId, 'fw');
      assert.equal(first.update.executorId, 'ex');
      assert.equal(first.update.status.state, TaskState.TASK_RUNNING);
      assert.equal(first.update.status.taskId?.value, 't1');
      assert.equal(uuidText(first.update.status.uuid), uuidText(running.status.uuid));
      assert.equal(new TextDecoder().decode(first.update.status.data), 'payload');
    }
    const second = log.records[1]!;
    assert.equal(second.type, 'ack');
    if (second.type === 'ack') assert.equal(uuidText(second.uuid), uuidText(running.status.uuid));
  });

  it('keeps an update without executor id that way', () => {
    const u = { ...update('t', TaskState.TASK_LOST), executorId: undefined };
    const [decoded] = decodeUpdateLog(encodeUpdateRecord(rec(u))).records;
    assert.equal(decoded?.type === 'update' && decoded.update.executorId, undefined);
  });

  it('an empty log is clean and empty', () => {
    assert.deepEqual(decodeUpdateLog(new Uint8Array(0)), { records: [], validBytes: 0, tail: 'clean' });
  });

  it('a record cut anywhere is a torn tail: everything before it survives', () => {
    const a = encodeUpdateRecord(rec(update('t', TaskState.TASK_STARTING)));
    const b = encodeUpdateRecord(rec(update('t', TaskState.TASK_RUNNING, 'x'.repeat(100))));
    const whole = concat([a, b]);
    for (let cut = a.length + 1; cut < whole.length; cut++) {
      const log = decodeUpdateLog(whole.subarray(0, cut));
      assert.equal(log.tail, 'torn', `cut at ${cut}`);
      assert.equal(log.validBytes, a.length, `cut at ${cut}`);
      assert.equal(log.records.length, 1);
    }
  });

  it('a last record with a bad checksum or zero fill is torn; damage in the middle is corrupt', () => {
    const a = encodeUpdateRecord(rec(update('t', TaskState.TASK_STARTING)));
    const b = encodeUpdateRecord(rec(update('t', TaskState.TASK_RUNNING)));
    const flipped = new Uint8Array(b);
    flipped[RECORD_HEADER_BYTES + 5]! ^= 0xff;
    const lastBad = decodeUpdateLog(concat([a, flipped]));
    assert.equal(lastBad.tail, 'torn');
    assert.equal(lastBad.validBytes, a.length);

    const zeros = decodeUpdateLog(concat([a, new Uint8Array(37)]));
    assert.equal(zeros.tail, 'torn');
    assert.equal(zeros.validBytes, a.length);

    const middle = decodeUpdateLog(concat([a, flipped, a]));
    assert.equal(middle.tail, 'corrupt');
    assert.match(middle.problem ?? '', /checksum/);
    assert.equal(middle.validBytes, a.length);
    assert.equal(middle.records.length, 1);

    const header = new Uint8Array(a);
    new DataView(header.buffer).setUint32(0, 0xffffffff, true);
    const hugeLength = decodeUpdateLog(concat([a, header]));
    assert.equal(hugeLength.tail, 'corrupt');
  });

  it('replay: updates queue, acknowledgements pop the head, a terminal ack closes the stream', () => {
    const starting = update('t', TaskState.TASK_STARTING);
    const running = update('t', TaskState.TASK_RUNNING);
    const finished = update('t', TaskState.TASK_FINISHED);
    const open = replayUpdates([rec(starting), ack(starting), rec(running), rec(finished)]);
    assert.deepEqual(
      open.pending.map((u) => u.status.state),
      [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED],
    );
    assert.deepEqual(open.acknowledged, [uuidText(starting.status.uuid)]);
    assert.equal(open.updates.length, 3);
    assert.equal(open.closed, false);
    assert.deepEqual(open.problems, []);

    const closed = replayUpdates([rec(running), ack(running), rec(finished), ack(finished)]);
    assert.equal(closed.closed, true);
    assert.deepEqual(closed.pending, []);
  });

  it('replay: an acknowledgement that is not for the head is a problem, not applied', () => {
    const starting = update('t', TaskState.TASK_STARTING);
    const running = update('t', TaskState.TASK_RUNNING);
    const result = replayUpdates([rec(starting), rec(running), ack(running)]);
    assert.equal(result.pending.length, 2);
    assert.equal(result.problems.length, 1);
  });
});

describe('checkpoint files', () => {
  it('writes atomically: no temporary file is left and the content is whole', () => {
    const dir = temp();
    const path = join(dir, 'a', 'b', 'file');
    writeFileAtomically(path, 'one');
    writeFileAtomically(path, 'two');
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['file']);
  });

  it('reads back the meta tree it wrote, and truncates a torn update log', () => {
    const workDir = temp();
    const runtimeDir = join(workDir, 'runtime');
    const cp = new Checkpointer(workDir, runtimeDir);
    const agentInfo = create(AgentInfoSchema, { hostname: 'h', port: 5051, id: { value: 'S1' } });
    cp.writeBootId('boot-1');
    cp.writeAgentInfo(agentInfo);
    const framework = create(FrameworkInfoSchema, {
      id: { value: 'fw' },
      name: 'f',
      user: 'u',
      checkpoint: true,
    });
    cp.writeFrameworkInfo('S1', framework);
    const run: RunKey = { agentId: 'S1', frameworkId: 'fw', executorId: 'ex', containerId: 'c1' };
    cp.writeExecutorRun(run, create(ExecutorInfoSchema, { executorId: { value: 'ex' } }));
    cp.writeForkedPid(run, 4242);
    cp.writeTask(
      run,
      create(TaskSchema, {
        taskId: { value: 't' },
        name: 't',
        frameworkId: { value: 'fw' },
        agentId: { value: 'S1' },
        state: TaskState.TASK_STAGING,
      }),
    );
    const starting = update('t', TaskState.TASK_STARTING);
    const running = update('t', TaskState.TASK_RUNNING);
    cp.appendUpdate(run, 't', rec(starting));
    cp.appendUpdate(run, 't', ack(starting));
    cp.appendUpdate(run, 't', rec(running));
    const logPath = taskUpdatesPath(workDir, run, 't');
    const goodSize = statSync(logPath).size;
    // A crash in the middle of the next append.
    appendFileSync(logPath, encodeUpdateRecord(rec(update('t', TaskState.TASK_FINISHED))).subarray(0, 11));
    cp.writeRuntimeContainer(['c1'], 4242, '/sandbox/c1');
    cp.writeRuntimeContainer(['c1', 'n1'], 4343, '/sandbox/c1/containers/n1');

    assert.equal(
      readFileSync(
        join(
          workDir,
          'meta',
          'slaves',
          'S1',
          'frameworks',
          'fw',
          'executors',
          'ex',
          'runs',
          'c1',
          'pids',
          'forked.pid',
        ),
        'utf8',
      ),
      '4242',
    );

    const state = readCheckpoint(workDir, runtimeDir, { strict: true });
    assert.equal(state.bootId, 'boot-1');
    assert.deepEqual(state.truncated, [logPath]);
    assert.equal(statSync(logPath).size, goodSize);
    assert.equal(state.agent?.id, 'S1');
    assert.equal(state.agent?.info.hostname, 'h');
    const fw = state.agent?.frameworks[0];
    assert.equal(fw?.id, 'fw');
    assert.equal(fw?.info.checkpoint, true);
    const ex = fw?.executors[0];
    assert.equal(ex?.id, 'ex');
    assert.equal(ex?.run?.containerId, 'c1');
    assert.equal(ex?.run?.forkedPid, 4242);
    assert.equal(ex?.run?.completed, false);
    const task = ex?.run?.tasks[0];
    assert.equal(task?.id, 't');
    assert.deepEqual(
      task?.updates.pending.map((u) => u.status.state),
      [TaskState.TASK_RUNNING],
    );
    assert.deepEqual(state.runtime, [
      {
        id: 'c1',
        pid: 4242,
        directory: '/sandbox/c1',
        children: [{ id: 'n1', pid: 4343, directory: '/sandbox/c1/containers/n1', children: [] }],
      },
    ]);

    // Appending after truncation continues a well-formed log.
    cp.appendUpdate(run, 't', ack(running));
    const again = readCheckpoint(workDir, runtimeDir, { strict: true });
    assert.deepEqual(again.truncated, []);
    assert.deepEqual(again.agent?.frameworks[0]?.executors[0]?.run?.tasks[0]?.updates.pending, []);

    cp.writeSentinel(run);
    assert.equal(
      readCheckpoint(workDir, runtimeDir, { strict: true }).agent?.frameworks[0]?.executors[0]?.run
        ?.completed,
      true,
    );
    cp.removeRuntimeContainer(['c1']);
    assert.deepEqual(readCheckpoint(workDir, runtimeDir, { strict: true }).runtime, []);

    // Crashes around an executor's removal: a half-removed directory (renamed aside, then the
    // agent died) and one the agent died creating (no executor.info) are skipped, even strictly.
    const executors = join(workDir, 'meta', 'slaves', 'S1', 'frameworks', 'fw', 'executors');
    cp.writeExecutorRun(
      { ...run, executorId: 'ex2', containerId: 'c2' },
      create(ExecutorInfoSchema, { executorId: { value: 'ex2' } }),
    );
    renameSync(join(executors, 'ex2'), join(executors, '.removing-ex2-0000'));
    rmSync(join(executors, '.removing-ex2-0000', 'executor.info'));
    mkdirSync(join(executors, 'ex3', 'runs'), { recursive: true });
    const crashed = readCheckpoint(workDir, runtimeDir, { strict: true });
    assert.deepEqual(
      crashed.agent?.frameworks[0]?.executors.map((e) => e.id),
      ['ex'],
    );
    assert.deepEqual(readdirSync(executors).sort(), ['ex', 'ex3'], 'the interrupted removal is finished');
    cp.removeExecutor('S1', 'fw', 'ex');
    assert.deepEqual(readdirSync(executors), ['ex3']);
    cp.dropLatestAgent();
    assert.equal(readCheckpoint(workDir, runtimeDir, { strict: true }).agent, undefined);
  });

  it('strict recovery refuses damage; non-strict skips it and says what', () => {
    const workDir = temp();
    const runtimeDir = join(workDir, 'runtime');
    const cp = new Checkpointer(workDir, runtimeDir);
    cp.writeAgentInfo(create(AgentInfoSchema, { hostname: 'h', id: { value: 'S1' } }));
    cp.writeFrameworkInfo(
      'S1',
      create(FrameworkInfoSchema, { id: { value: 'good' }, user: 'u', name: 'n', checkpoint: true }),
    );
    const broken = join(workDir, 'meta', 'slaves', 'S1', 'frameworks', 'bad');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'framework.info'), new Uint8Array([0xff, 0xff, 0xff]));
    assert.throws(() => readCheckpoint(workDir, runtimeDir, { strict: true }), CheckpointError);
    const lenient = readCheckpoint(workDir, runtimeDir, { strict: false });
    assert.deepEqual(
      lenient.agent?.frameworks.map((f) => f.id),
      ['good'],
    );
    assert.equal(lenient.errors.length, 1);
    assert.match(lenient.errors[0] ?? '', /framework\.info/);
  });

  it('a dangling runs/latest means no run; a missing meta dir means nothing to recover', () => {
    const workDir = temp();
    assert.deepEqual(readCheckpoint(workDir, join(workDir, 'runtime'), { strict: true }), {
      bootId: undefined,
      agent: undefined,
      runtime: [],
      errors: [],
      truncated: [],
    });
    const cp = new Checkpointer(workDir, join(workDir, 'runtime'));
    cp.writeAgentInfo(create(AgentInfoSchema, { hostname: 'h', id: { value: 'S1' } }));
    cp.writeFrameworkInfo(
      'S1',
      create(FrameworkInfoSchema, { id: { value: 'fw' }, user: 'u', name: 'n', checkpoint: true }),
    );
    const executorDir = join(workDir, 'meta', 'slaves', 'S1', 'frameworks', 'fw', 'executors', 'ex');
    mkdirSync(join(executorDir, 'runs'), { recursive: true });
    writeFileSync(join(executorDir, 'executor.info'), new Uint8Array(0));
    symlinkSync('missing', join(executorDir, 'runs', 'latest'));
    const state = readCheckpoint(workDir, join(workDir, 'runtime'), { strict: true });
    assert.equal(state.agent?.frameworks[0]?.executors[0]?.run, undefined);
  });

  it('reads the boot id from the file it is given', () => {
    const dir = temp();
    writeFileSync(join(dir, 'boot'), 'abc-123\n');
    assert.equal(readBootId(join(dir, 'boot')), 'abc-123');
    assert.equal(readBootId(join(dir, 'missing')), undefined);
    assert.equal(existsSync(join(dir, 'missing')), false);
  });
});
