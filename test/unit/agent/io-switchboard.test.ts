/**
 * The IO switchboard's pure parts: output kept for the first connection and fanned out after,
 * the single input connection, STDIN end of file with and without a TTY, window sizes on the
 * control channel; a session's environment; and GET_TASKS / GET_EXECUTORS / GET_FRAMEWORKS
 * grouping over live and completed records.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { Agent } from '../../../src/agent/agent.js';
import { ContainerIO, type OutputChunk } from '../../../src/agent/io-switchboard.js';
import { sessionEnvironment } from '../../../src/agent/nested-containers.js';
import { getExecutors, getFrameworks, getTasks } from '../../../src/agent/operator-state.js';
import {
  CommandInfoSchema,
  ExecutorInfoSchema,
  FrameworkInfoSchema,
  TaskSchema,
  TaskState,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

function ends() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const control = new PassThrough();
  return { stdin, stdout, stderr, control };
}

const text = (chunks: OutputChunk[]) =>
  chunks.map((c) => `${c.stream}:${Buffer.from(c.data).toString('utf8')}`).join('|');

const tick = () => new Promise((r) => setImmediate(r));

describe('ContainerIO', () => {
  it('keeps output for the first connection, then fans it out live and ends every connection', async () => {
    const pipes = ends();
    const io = new ContainerIO(pipes, false);
    pipes.stdout.write('early ');
    pipes.stderr.write('warn');
    await tick();
    const first: OutputChunk[] = [];
    const second: OutputChunk[] = [];
    let ended = 0;
    io.attachOutput({ data: (c) => first.push(c), end: () => ended++ });
    assert.equal(text(first), 'stdout:early |stderr:warn');
    // Only the first connection gets the replay.
    io.attachOutput({ data: (c) => second.push(c), end: () => ended++ });
    pipes.stdout.write('live');
    await tick();
    assert.equal(text(first), 'stdout:early |stderr:warn|stdout:live');
    assert.equal(text(second), 'stdout:live');
    pipes.stdout.end();
    await tick();
    assert.equal(io.hasEnded, false, 'stderr is still open');
    pipes.stderr.end();
    await io.outputEnded;
    assert.equal(ended, 2);
    // A connection after the end ends at once.
    io.attachOutput({ data: () => assert.fail('no data'), end: () => ended++ });
    assert.equal(ended, 3);
  });

  it('bounds what it keeps before the first connection, dropping the oldest', async () => {
    const pipes = ends();
    const io = new ContainerIO(pipes, false, 8);
    for (const part of ['aaaa', 'bbbb', 'cccc']) {
      pipes.stdout.write(part);
      await tick();
    }
    const got: OutputChunk[] = [];
    io.attachOutput({ data: (c) => got.push(c), end: () => {} });
    assert.equal(text(got), 'stdout:bbbb|stdout:cccc');
  });

  it('takes one input connection at a time', () => {
    const io = new ContainerIO(ends(), false);
    assert.equal(io.claimInput(), true);
    assert.equal(io.claimInput(), false);
    io.releaseInput();
    assert.equal(io.claimInput(), true);
  });

  it('without a TTY an empty STDIN record closes stdin; window sizes are ignored', async () => {
    const pipes = ends();
    const io = new ContainerIO(pipes, false);
    const written: string[] = [];
    pipes.stdin.on('data', (c: Buffer) => written.push(c.toString()));
    let stdinEnded = false;
    pipes.stdin.on('end', () => (stdinEnded = true));
    const controlled: string[] = [];
    pipes.control.on('data', (c: Buffer) => controlled.push(c.toString()));
    io.writeStdin(new TextEncoder().encode('hello\n'));
    io.resize({ rows: 10, columns: 20 });
    io.writeStdin(new Uint8Array(0));
    io.writeStdin(new TextEncoder().encode('dropped'));
    await tick();
    assert.deepEqual(written, ['hello\n']);
    assert.equal(stdinEnded, true);
    assert.deepEqual(controlled, []);
  });

  it('with a TTY an empty record changes nothing and window sizes go to the relay', async () => {
    const pipes = ends();
    const io = new ContainerIO(pipes, true);
    let stdinEnded = false;
    pipes.stdin.on('end', () => (stdinEnded = true));
    pipes.stdin.resume();
    const controlled: string[] = [];
    pipes.control.on('data', (c: Buffer) => controlled.push(c.toString()));
    io.writeStdin(new Uint8Array(0));
    io.resize({ rows: 50, columns: 132.7 });
    await tick();
    assert.equal(stdinEnded, false);
    assert.deepEqual(controlled, ['50 132\n']);
    // The relay's stderr is part of the terminal's single stream.
    const got: OutputChunk[] = [];
    io.attachOutput({ data: (c) => got.push(c), end: () => {} });
    pipes.stderr.write('relay failed');
    await tick();
    assert.equal(text(got), 'stdout:relay failed');
  });
});

describe('sessionEnvironment', () => {
  const command = (variables: Record<string, string>) =>
    create(CommandInfoSchema, {
      value: 'true',
      environment: { variables: Object.entries(variables).map(([name, value]) => ({ name, value })) },
    });

  it("inherits the parent's environment, sandbox and PATH; the command's own variables win", () => {
    const env = sessionEnvironment(
      { MESOS_SANDBOX: '/parent', PATH: '/parent/bin', FROM_PARENT: '1', OVERRIDDEN: 'parent' },
      '/ignored',
      command({ OVERRIDDEN: 'session', EXTRA: 'x' }),
    );
    assert.deepEqual(env, {
      MESOS_SANDBOX: '/parent',
      PATH: '/parent/bin',
      FROM_PARENT: '1',
      OVERRIDDEN: 'session',
      EXTRA: 'x',
    });
    assert.equal(sessionEnvironment({ PATH: '/a' }, '/s', command({ PATH: '/mine' })).PATH, '/mine');
  });

  it('without a readable parent environment: the nested default in the parent sandbox', () => {
    const env = sessionEnvironment(undefined, '/parent', command({ A: 'b' }));
    assert.equal(env.MESOS_SANDBOX, '/parent');
    assert.equal(env.A, 'b');
    assert.ok(env.PATH);
  });
});

describe('GET_TASKS / GET_EXECUTORS / GET_FRAMEWORKS grouping', () => {
  const task = (id: string, state: TaskState) => create(TaskSchema, { taskId: { value: id }, state });
  const executor = (
    id: string,
    entries: Array<[string, 'queued' | 'launched' | 'terminated', TaskState]>,
  ) => ({
    id,
    info: create(ExecutorInfoSchema, { executorId: { value: id } }),
    tasks: new Map(entries.map(([taskId, phase, state]) => [taskId, { phase, task: task(taskId, state) }])),
    completedTasks: [task(`${id}-done`, TaskState.TASK_FINISHED)],
  });
  const framework = (
    id: string,
    live: ReturnType<typeof executor>[],
    completed: ReturnType<typeof executor>[],
  ) => ({
    id,
    info: create(FrameworkInfoSchema, { user: 'u', name: id }),
    executors: new Map(live.map((e) => [e.id, e])),
    completedExecutors: completed,
  });
  const agent = {
    frameworks: new Map([
      [
        'f1',
        framework(
          'f1',
          [
            executor('e1', [
              ['q', 'queued', TaskState.TASK_STAGING],
              ['l', 'launched', TaskState.TASK_RUNNING],
              ['t', 'terminated', TaskState.TASK_FAILED],
            ]),
          ],
          [executor('e0', [])],
        ),
      ],
    ]),
    completedFrameworks: [framework('f0', [], [executor('old', [])])],
  } as unknown as Agent;

  it('sorts tasks by stage over live and completed frameworks and executors', () => {
    const tasks = getTasks(agent);
    const ids = (list: unknown) => (list as { taskId?: { value: string } }[]).map((t) => t.taskId?.value);
    assert.deepEqual(ids(tasks.pendingTasks), []);
    assert.deepEqual(ids(tasks.queuedTasks), ['q']);
    assert.deepEqual(ids(tasks.launchedTasks), ['l']);
    assert.deepEqual(ids(tasks.terminatedTasks), ['t']);
    assert.deepEqual(ids(tasks.completedTasks), ['e1-done', 'e0-done', 'old-done']);
  });

  it('lists executors live and completed, and frameworks with their ids filled in', () => {
    const executors = getExecutors(agent);
    const ids = (list: unknown) =>
      (list as { executorInfo: { executorId?: { value: string } } }[]).map(
        (e) => e.executorInfo.executorId?.value,
      );
    assert.deepEqual(ids(executors.executors), ['e1']);
    assert.deepEqual(ids(executors.completedExecutors), ['e0', 'old']);
    const frameworks = getFrameworks(agent);
    const fids = (list: unknown) =>
      (list as { frameworkInfo: { id?: { value: string } } }[]).map((f) => f.frameworkInfo.id?.value);
    assert.deepEqual(fids(frameworks.frameworks), ['f1']);
    assert.deepEqual(fids(frameworks.completedFrameworks), ['f0']);
  });
});
