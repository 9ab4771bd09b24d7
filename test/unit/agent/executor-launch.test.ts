import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  commandExecutorInfo,
  commandExecutorName,
  executorEnvironment,
  executorProgram,
  executorRunsDir,
  shutdownGracePeriodMs,
} from '../../../src/agent/executor-launch.js';
import { describeWaitStatus, rawWaitStatus } from '../../../src/agent/launcher.js';
import { nextBackoffMax } from '../../../src/agent/master-link.js';
import { parseMasterAddress } from '../../../src/agent/process.js';
import { isStrataError } from '../../../src/common/errors.js';
import {
  CommandInfoSchema,
  ExecutorInfoSchema,
  FrameworkInfoSchema,
  TaskInfoSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

describe('command executor info (Mesos getExecutorInfo)', () => {
  it('names the executor after the start of the command', () => {
    const shell = (value: string) => create(CommandInfoSchema, { value, shell: true });
    assert.equal(
      commandExecutorName('t1', shell('sleep 10')),
      "Command Executor (Task: t1) (Command: sh -c 'sleep 10')",
    );
    assert.equal(
      commandExecutorName('t1', shell('echo hello world and more')),
      "Command Executor (Task: t1) (Command: sh -c 'echo hello w...')",
    );
    assert.equal(commandExecutorName('t1', shell('')), 'Command Executor (Task: t1) (Command: NO COMMAND)');
    const exec = create(CommandInfoSchema, { shell: false, value: '/bin/ls', arguments: ['ls', '-l'] });
    assert.equal(commandExecutorName('t1', exec), 'Command Executor (Task: t1) (Command: [/bin/ls, ls, -l])');
    const long = create(CommandInfoSchema, { shell: false, value: '/bin/ls', arguments: ['ls', '-la'] });
    assert.equal(commandExecutorName('t1', long), 'Command Executor (Task: t1) (Command: [/bin/ls, ls,...])');
    const short = create(CommandInfoSchema, { shell: false, value: '/bin/ls', arguments: [] });
    assert.equal(commandExecutorName('t1', short), 'Command Executor (Task: t1) (Command: [/bin/ls, ])');
    assert.equal(
      commandExecutorName('t1', create(CommandInfoSchema, { shell: false })),
      'Command Executor (Task: t1) (Command: NO EXECUTABLE)',
    );
  });

  it('uses the task id as executor id and source, with the fixed allowance in the task role', () => {
    const task = create(TaskInfoSchema, {
      name: 'n',
      taskId: { value: 'task-9' },
      resources: [{ name: 'cpus', type: 0, scalar: { value: 1 }, allocationInfo: { role: 'web' } }],
      command: { value: 'true', environment: { variables: [{ name: 'A', value: '1' }] } },
    });
    const framework = create(FrameworkInfoSchema, { user: 'u', name: 'f', id: { value: 'fw' } });
    const info = commandExecutorInfo(task, framework, {
      path: '/usr/bin/node',
      args: ['/usr/bin/node', '/x/ce.js'],
    });
    assert.equal(info.executorId?.value, 'task-9');
    assert.equal(info.source, 'task-9');
    assert.equal(info.frameworkId?.value, 'fw');
    assert.equal(info.command?.shell, false);
    assert.equal(info.command?.value, '/usr/bin/node');
    assert.deepEqual(info.command?.arguments, ['/usr/bin/node', '/x/ce.js']);
    assert.equal(info.command?.environment?.variables[0]?.name, 'A');
    assert.deepEqual(
      info.resources.map((r) => [r.name, r.scalar?.value, r.allocationInfo?.role]),
      [
        ['cpus', 0.1, 'web'],
        ['mem', 32, 'web'],
      ],
    );
    assert.deepEqual(executorProgram(info.command!), {
      file: '/usr/bin/node',
      args: ['/x/ce.js'],
      argv0: '/usr/bin/node',
    });
  });
});

describe('executor environment (reference 3.3)', () => {
  const spec = {
    frameworkId: 'fw',
    executorId: 'ex',
    agentId: 'S1',
    agentEndpoint: '10.0.0.5:5051',
    agentIp: '10.0.0.5',
    sandbox: '/w/slaves/S1/frameworks/fw/executors/ex/runs/c',
    checkpoint: false,
    shutdownGracePeriodMs: 5000,
    recoveryTimeoutMs: 15 * 60_000,
    subscriptionBackoffMaxMs: 2000,
    base: { PATH: '/bin', HOME: '/root', MESOS_WORK_DIR: '/agent', STRATA_PORT: '1', LIBPROCESS_PORT: '9' },
    command: create(CommandInfoSchema, {
      environment: {
        variables: [
          { name: 'USER_VAR', value: 'x' },
          { name: 'MESOS_SANDBOX', value: 'mine' },
        ],
      },
    }),
  };

  it('sets what Mesos sets, drops the agent own settings, and lets the command environment win', () => {
    const env = executorEnvironment(spec);
    assert.equal(env.MESOS_FRAMEWORK_ID, 'fw');
    assert.equal(env.MESOS_EXECUTOR_ID, 'ex');
    assert.equal(env.MESOS_SLAVE_ID, 'S1');
    assert.equal(env.MESOS_AGENT_ID, 'S1');
    assert.equal(env.MESOS_SLAVE_PID, 'slave(1)@10.0.0.5:5051');
    assert.equal(env.MESOS_AGENT_ENDPOINT, '10.0.0.5:5051');
    assert.equal(env.MESOS_DIRECTORY, spec.sandbox);
    assert.equal(env.MESOS_CHECKPOINT, '0');
    assert.equal(env.MESOS_HTTP_COMMAND_EXECUTOR, '1');
    assert.equal(env.MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, '5secs');
    assert.equal(env.MESOS_RECOVERY_TIMEOUT, undefined);
    assert.equal(env.MESOS_SUBSCRIPTION_BACKOFF_MAX, undefined);
    assert.equal(env.MESOS_WORK_DIR, undefined);
    assert.equal(env.STRATA_PORT, undefined);
    assert.equal(env.LIBPROCESS_PORT, '0');
    assert.equal(env.PATH, '/bin');
    assert.equal(env.HOME, '/root');
    assert.equal(env.USER_VAR, 'x');
    assert.equal(env.MESOS_SANDBOX, 'mine');
  });

  it('adds the recovery settings only for checkpointing frameworks', () => {
    const env = executorEnvironment({ ...spec, checkpoint: true });
    assert.equal(env.MESOS_CHECKPOINT, '1');
    assert.equal(env.MESOS_RECOVERY_TIMEOUT, '15mins');
    assert.equal(env.MESOS_SUBSCRIPTION_BACKOFF_MAX, '2secs');
  });

  it('gives a default PATH when none is inherited', () => {
    assert.match(executorEnvironment({ ...spec, base: {} }).PATH ?? '', /\/usr\/bin/);
  });

  it('lays sandboxes out as Mesos does', () => {
    assert.equal(executorRunsDir('/w/', 'S1', 'fw', 'ex'), '/w/slaves/S1/frameworks/fw/executors/ex/runs');
  });

  it('runs shell commands through sh -c and others with their argv', () => {
    assert.deepEqual(executorProgram(create(CommandInfoSchema, { value: 'echo hi', shell: true })), {
      file: '/bin/sh',
      args: ['-c', 'echo hi'],
      argv0: 'sh',
    });
    assert.deepEqual(
      executorProgram(
        create(CommandInfoSchema, { value: '/bin/echo', shell: false, arguments: ['echo', 'a'] }),
      ),
      { file: '/bin/echo', args: ['a'], argv0: 'echo' },
    );
  });

  it("takes the executor's own shutdown grace period over the flag", () => {
    assert.equal(shutdownGracePeriodMs(create(ExecutorInfoSchema, {}), 5000), 5000);
    assert.equal(
      shutdownGracePeriodMs(
        create(ExecutorInfoSchema, { shutdownGracePeriod: { nanoseconds: 1_500_000_000n } }),
        5000,
      ),
      1500,
    );
  });
});

describe('small agent helpers', () => {
  it('encodes wait statuses as waitpid does', () => {
    assert.equal(rawWaitStatus(0, null), 0);
    assert.equal(rawWaitStatus(3, null), 768);
    assert.equal(rawWaitStatus(null, 'SIGKILL'), 9);
    assert.equal(describeWaitStatus(768), 'exited with status 3');
    assert.equal(describeWaitStatus(15), 'terminated with signal SIGTERM');
  });

  it('doubles the registration backoff bound up to one minute', () => {
    assert.equal(nextBackoffMax(1000, 1000), 2000);
    assert.equal(nextBackoffMax(2000, 1000), 4000);
    assert.equal(nextBackoffMax(50_000, 1000), 60_000);
    assert.equal(nextBackoffMax(60_000, 1000), 60_000);
  });

  it('parses --master', () => {
    assert.deepEqual(parseMasterAddress('127.0.0.1:5050'), { host: '127.0.0.1', port: 5050 });
    assert.deepEqual(parseMasterAddress('[::1]:5050'), { host: '::1', port: 5050 });
    assert.deepEqual(parseMasterAddress('master.example:1'), { host: 'master.example', port: 1 });
    for (const bad of ['zk://h:2181/mesos', 'nohost', 'h:0', 'h:99999']) {
      assert.throws(
        () => parseMasterAddress(bad),
        (err) => isStrataError(err, 'OPTIONS_BAD_VALUE'),
      );
    }
  });
});
