import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  findUserInPasswd,
  type LaunchContext,
  type LaunchPlan,
  parsePasswdLine,
  planCommandLaunch,
} from '../../../src/executors/command-launch.js';
import { type ProcessEntry, parseProcStat, treeMembers } from '../../../src/executors/process-tree.js';
import { TaskInfoSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const context: LaunchContext = {
  executorEnvironment: {
    PATH: '/usr/bin:/bin',
    MESOS_FRAMEWORK_ID: 'fw',
    MESOS_EXECUTOR_AUTHENTICATION_TOKEN: 'secret-jwt',
    SHARED: 'from-executor',
  },
  privateVariables: ['MESOS_EXECUTOR_AUTHENTICATION_TOKEN'],
  sandbox: '/sandbox',
  currentUser: 'strata',
  privileged: false,
};

function plan(
  command: MessageInitShape<typeof TaskInfoSchema>['command'],
  overrides: Partial<LaunchContext> = {},
): LaunchPlan {
  const task = create(TaskInfoSchema, {
    name: 'n',
    taskId: { value: 'task-7' },
    agentId: { value: 'a' },
    command,
  });
  return planCommandLaunch(task, { ...context, ...overrides });
}

function spec(result: LaunchPlan) {
  assert.ok(result.ok, result.ok ? '' : result.message);
  return result.spec;
}

function failure(result: LaunchPlan): string {
  assert.ok(!result.ok, 'expected the launch to be refused');
  return result.message;
}

describe('planCommandLaunch', () => {
  it('runs a shell command through /bin/sh -c by default', () => {
    const launch = spec(plan({ value: 'echo hello && exit 3' }));
    assert.equal(launch.file, '/bin/sh');
    assert.equal(launch.argv0, 'sh');
    assert.deepEqual(launch.args, ['-c', 'echo hello && exit 3']);
    assert.equal(launch.switchToUser, undefined);
  });

  it('execs a non-shell command with argv[0] taken from arguments[0]', () => {
    const launch = spec(plan({ shell: false, value: '/usr/bin/env', arguments: ['my-env', '-i', 'A=1'] }));
    assert.equal(launch.file, '/usr/bin/env');
    assert.equal(launch.argv0, 'my-env');
    assert.deepEqual(launch.args, ['-i', 'A=1']);
  });

  it('uses the value as argv[0] when a non-shell command has no arguments', () => {
    const launch = spec(plan({ shell: false, value: 'true' }));
    assert.equal(launch.argv0, 'true');
    assert.deepEqual(launch.args, []);
  });

  it('refuses a non-shell command without a value', () => {
    assert.match(failure(plan({ shell: false, arguments: ['x'] })), /'shell: false' needs a 'value'/);
  });

  it('refuses a task without a command', () => {
    const task = create(TaskInfoSchema, { name: 'n', taskId: { value: 't' }, agentId: { value: 'a' } });
    const result = planCommandLaunch(task, context);
    assert.match(failure(result), /has no 'command'/);
  });

  it('builds the environment: executor, MESOS_SANDBOX/MESOS_TASK_ID, then the task variables', () => {
    const launch = spec(
      plan({
        value: 'env',
        environment: {
          variables: [
            { name: 'SHARED', value: 'from-task' },
            { name: 'EMPTY', value: '' },
            { name: 'MESOS_SANDBOX', value: '/elsewhere' },
          ],
        },
      }),
    );
    assert.equal(launch.env['PATH'], '/usr/bin:/bin');
    assert.equal(launch.env['MESOS_FRAMEWORK_ID'], 'fw');
    assert.equal(launch.env['SHARED'], 'from-task');
    assert.equal(launch.env['EMPTY'], '');
    assert.equal(launch.env['MESOS_TASK_ID'], 'task-7');
    assert.equal(launch.env['MESOS_SANDBOX'], '/elsewhere', 'the task has the last word');
    assert.equal(
      launch.env['MESOS_EXECUTOR_AUTHENTICATION_TOKEN'],
      undefined,
      'the token stays with the executor',
    );
  });

  it('sets MESOS_SANDBOX to the sandbox', () => {
    assert.equal(spec(plan({ value: 'true' })).env['MESOS_SANDBOX'], '/sandbox');
  });

  it('refuses SECRET variables with a message that says so', () => {
    const message = failure(
      plan({
        value: 'true',
        environment: {
          variables: [{ name: 'DB_PASSWORD', type: 2, secret: { type: 1, reference: { name: 'db' } } }],
        },
      }),
    );
    assert.match(message, /'DB_PASSWORD' is of type SECRET/);
  });

  it('refuses variables of unknown type', () => {
    assert.match(
      failure(plan({ value: 'true', environment: { variables: [{ name: 'X', type: 0 }] } })),
      /unknown type/,
    );
  });

  it('keeps the current user when the task names it or none', () => {
    assert.equal(spec(plan({ value: 'id', user: 'strata' })).switchToUser, undefined);
    assert.equal(spec(plan({ value: 'id' })).switchToUser, undefined);
  });

  it('switches users only when privileged', () => {
    assert.match(
      failure(plan({ value: 'id', user: 'alice' })),
      /Cannot run the command as user 'alice': the executor runs as 'strata' and only root may switch users/,
    );
    assert.equal(spec(plan({ value: 'id', user: 'alice' }, { privileged: true })).switchToUser, 'alice');
  });
});

describe('passwd parsing', () => {
  const passwd = [
    'root:x:0:0:root:/root:/bin/bash',
    '# a comment',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    'broken:x:abc:1:::',
    '',
  ].join('\n');

  it('finds a user', () => {
    assert.deepEqual(findUserInPasswd(passwd, 'nobody'), { name: 'nobody', uid: 65534, gid: 65534 });
    assert.deepEqual(findUserInPasswd(passwd, 'root'), { name: 'root', uid: 0, gid: 0 });
  });

  it('ignores what is not a passwd line', () => {
    assert.equal(findUserInPasswd(passwd, 'broken'), undefined);
    assert.equal(findUserInPasswd(passwd, 'absent'), undefined);
    assert.equal(parsePasswdLine('not:enough'), undefined);
  });
});

describe('process tree', () => {
  it('parses /proc/<pid>/stat, even with parentheses in the command name', () => {
    const stat = '4242 (weird (name) x) S 4000 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123 4096 10';
    assert.deepEqual(parseProcStat(stat), {
      pid: 4242,
      parentPid: 4000,
      processGroup: 4242,
      session: 4242,
      state: 'S',
    });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  const entry = (
    pid: number,
    parentPid: number,
    processGroup: number,
    session: number,
    state = 'S',
  ): ProcessEntry => ({
    pid,
    parentPid,
    processGroup,
    session,
    state,
  });

  it('collects the session, the group and the descendants of the task, not the executor or zombies', () => {
    const processes = [
      entry(1, 0, 1, 1),
      entry(100, 1, 100, 50), // the executor
      entry(200, 100, 200, 200), // the task: session leader
      entry(201, 200, 200, 200), // a child in its group
      entry(202, 200, 202, 200), // moved to its own group, same session
      entry(203, 202, 203, 203), // a grandchild that started a new session: found through parents
      entry(204, 200, 200, 200, 'Z'), // a zombie
      entry(300, 1, 300, 300), // unrelated
    ];
    assert.deepEqual(treeMembers(processes, 200, 100), [200, 201, 202, 203]);
  });

  it('after the task itself is gone, still finds what is left of its session and group', () => {
    const processes = [
      entry(100, 1, 100, 50),
      entry(201, 1, 200, 200),
      entry(202, 1, 202, 200),
      entry(300, 1, 300, 300),
    ];
    assert.deepEqual(treeMembers(processes, 200, 100), [201, 202]);
  });

  it('does not follow the children of a recycled pid that no longer leads the session', () => {
    const processes = [entry(200, 1, 200, 999), entry(201, 200, 999, 999)];
    assert.deepEqual(treeMembers(processes, 200, 100), [200]);
  });
});
