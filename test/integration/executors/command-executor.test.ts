import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskState, type TaskStatus } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  commandTask,
  executorEnvironment,
  FakeAgent,
  makeSandbox,
  type RunningExecutor,
  startExecutor,
} from './fake-agent.js';

const states = (updates: readonly TaskStatus[]) => updates.map((u) => TaskState[u.state]);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(20);
  }
}

async function exitCode(executor: RunningExecutor, timeoutMs = 10_000): Promise<number | null> {
  // ref: false, so a pending deadline never holds the test process open after the run.
  const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
    throw new Error(`executor did not exit within ${timeoutMs}ms`);
  });
  return Promise.race([executor.exited, timeout]);
}

/** Alive and not a zombie (an orphan's zombie lingers where PID 1 does not reap). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function readPid(sandbox: string, name: string): number {
  return Number(readFileSync(join(sandbox, name), 'utf8').trim());
}

describe('command executor process against a fake agent', () => {
  const agents: FakeAgent[] = [];
  const executors: RunningExecutor[] = [];
  const sandboxes: string[] = [];
  const strayPids: number[] = [];

  async function setUp(
    options: ConstructorParameters<typeof FakeAgent>[0],
    env: Record<string, string> = {},
  ) {
    const agent = new FakeAgent(options);
    agents.push(agent);
    const port = await agent.listen();
    const sandbox = makeSandbox();
    sandboxes.push(sandbox);
    const executor = startExecutor(sandbox, executorEnvironment(port, sandbox, env));
    executors.push(executor);
    return { agent, sandbox, executor };
  }

  afterEach(async () => {
    for (const executor of executors.splice(0)) {
      if (executor.child.exitCode === null && executor.child.signalCode === null && executor.child.pid) {
        try {
          process.kill(-executor.child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    for (const pid of strayPids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await Promise.all(agents.splice(0).map((agent) => agent.close()));
  });

  after(() => {
    for (const sandbox of sandboxes) rmSync(sandbox, { recursive: true, force: true });
  });

  it('runs `echo hello`: STARTING, RUNNING, FINISHED, output in the sandbox stdout, exit 0', async () => {
    const { agent, sandbox, executor } = await setUp({ task: commandTask('echo', { value: 'echo hello' }) });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(updates[2]?.message, 'Command exited with status 0');
    for (const update of updates) {
      assert.equal(update.uuid.byteLength, 16);
      assert.equal(update.executorId?.value, 'executor-1');
      assert.equal(update.taskId?.value, 'echo');
    }
    assert.match(readFileSync(join(sandbox, 'stdout'), 'utf8'), /^hello$/m);
    const subscribe = agent.subscriptions()[0];
    assert.equal(subscribe?.frameworkId?.value, 'framework-1');
    assert.equal(subscribe?.executorId?.value, 'executor-1');
  });

  it('passes the environment: the task variables, MESOS_SANDBOX and MESOS_TASK_ID', async () => {
    const task = commandTask('env', {
      value: 'printf "%s|%s|%s\\n" "$GREETING" "$MESOS_TASK_ID" "$MESOS_SANDBOX"',
      environment: { variables: [{ name: 'GREETING', value: 'hi there' }] },
    });
    const { sandbox, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    assert.match(
      readFileSync(join(sandbox, 'stdout'), 'utf8'),
      new RegExp(`^hi there\\|env\\|${sandbox}$`, 'm'),
    );
  });

  it('runs a non-shell command with argv[0] = arguments[0]', async () => {
    const task = commandTask('argv', {
      shell: false,
      value: '/bin/sh',
      arguments: ['custom-name', '-c', 'echo "argv0=$0"'],
    });
    const { sandbox, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    assert.match(readFileSync(join(sandbox, 'stdout'), 'utf8'), /^argv0=custom-name$/m);
  });

  const nobody = (() => {
    try {
      return execFileSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).split(':');
    } catch {
      return undefined;
    }
  })();
  const canSwitch = process.getuid?.() === 0 && nobody !== undefined;

  it('runs the command as `command.user` when the executor is root', {
    skip: !canSwitch && 'needs root and a nobody user',
  }, async () => {
    const task = commandTask('as-nobody', { value: 'echo "uid=$(id -u) gid=$(id -g)"', user: 'nobody' });
    const agent = new FakeAgent({ task });
    agents.push(agent);
    const port = await agent.listen();
    const sandbox = makeSandbox();
    sandboxes.push(sandbox);
    // The agent hands the sandbox to the task's user; here, letting it in is enough.
    chmodSync(sandbox, 0o755);
    const executor = startExecutor(sandbox, executorEnvironment(port, sandbox));
    executors.push(executor);
    assert.equal(await exitCode(executor), 0);
    assert.equal(agent.updates().at(-1)?.state, TaskState.TASK_FINISHED);
    assert.match(
      readFileSync(join(sandbox, 'stdout'), 'utf8'),
      new RegExp(`^uid=${nobody?.[2]} gid=${nobody?.[3]}$`, 'm'),
    );
  });

  it('fails a task for a user that does not exist', {
    skip: process.getuid?.() !== 0 && 'needs root',
  }, async () => {
    const task = commandTask('as-ghost', { value: 'true', user: 'no-such-user-strata' });
    const { agent, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_FAILED']);
    assert.match(updates[1]?.message ?? '', /Failed to get user information for 'no-such-user-strata'/);
  });

  it('reports `exit 3` as TASK_FAILED with status 3', async () => {
    const { agent, executor } = await setUp({ task: commandTask('three', { value: 'exit 3' }) });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.equal(updates[2]?.message, 'Command exited with status 3');
  });

  it('fails a command that cannot be executed', async () => {
    const task = commandTask('missing', {
      shell: false,
      value: '/nonexistent/program',
      arguments: ['program'],
    });
    const { agent, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_FAILED']);
    assert.match(updates[1]?.message ?? '', /^Failed to launch command: .*ENOENT/);
  });

  it('fails a task with a SECRET environment variable, saying why', async () => {
    const task = commandTask('secret', {
      value: 'true',
      environment: {
        variables: [{ name: 'PASSWORD', type: 2, secret: { type: 1, reference: { name: 'pw' } } }],
      },
    });
    const { agent, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_FAILED']);
    assert.match(updates[1]?.message ?? '', /'PASSWORD' is of type SECRET/);
  });

  it('answers a second LAUNCH with TASK_FAILED for that task', async () => {
    const { agent, sandbox, executor } = await setUp({
      task: commandTask('first', { value: 'while [ ! -f go ]; do sleep 0.05; done' }),
    });
    await waitFor('RUNNING', () => states(agent.updates()).includes('TASK_RUNNING'));
    agent.sendEvent({ type: 2, launch: { task: commandTask('second', { value: 'true' }) } });
    await waitFor('the second task to fail', () => agent.updates().some((u) => u.taskId?.value === 'second'));
    writeFileSync(join(sandbox, 'go'), '');
    assert.equal(await exitCode(executor), 0);
    const second = agent.updates().filter((u) => u.taskId?.value === 'second');
    assert.deepEqual(states(second), ['TASK_FAILED']);
    assert.equal(second[0]?.message, 'Attempted to run multiple tasks using a "command" executor');
    assert.equal(states(agent.updates().filter((u) => u.taskId?.value === 'first')).at(-1), 'TASK_FINISHED');
  });

  it('kills `sleep 100` on KILL: TASK_KILLING, TASK_KILLED well within the grace, whole tree gone', async () => {
    const task = commandTask('sleeper', {
      value: 'sleep 100 & echo $! > child.pid; echo $$ > shell.pid; wait',
    });
    const { agent, sandbox, executor } = await setUp({ task, taskKillingState: true });
    await waitFor('RUNNING and the pid files', () => {
      return (
        states(agent.updates()).includes('TASK_RUNNING') &&
        existsSync(join(sandbox, 'child.pid')) &&
        existsSync(join(sandbox, 'shell.pid')) &&
        readFileSync(join(sandbox, 'shell.pid'), 'utf8').endsWith('\n')
      );
    });
    const childPid = readPid(sandbox, 'child.pid');
    const shellPid = readPid(sandbox, 'shell.pid');
    strayPids.push(childPid, shellPid);
    assert.ok(processAlive(childPid) && processAlive(shellPid));

    const killedAt = Date.now();
    agent.kill('sleeper', 5_000);
    assert.equal(await exitCode(executor), 0);
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed < 4_000, `took ${elapsed}ms; SIGTERM alone should end it`);
    const updates = agent.updates();
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    assert.equal(updates[3]?.message, 'Command terminated with signal Terminated');
    await waitFor(
      'the process tree to be gone',
      () => !processAlive(childPid) && !processAlive(shellPid),
      3_000,
    );
  });

  it('escalates to SIGKILL after the task kill policy grace when SIGTERM is ignored', async () => {
    const task = commandTask(
      'stubborn',
      { value: "trap '' TERM; sleep 100 & echo $! > child.pid; wait; wait" },
      { killPolicy: { gracePeriod: { nanoseconds: 1_000_000_000n } } },
    );
    const { agent, sandbox, executor } = await setUp({ task });
    await waitFor('RUNNING and the child pid', () => {
      return (
        states(agent.updates()).includes('TASK_RUNNING') &&
        existsSync(join(sandbox, 'child.pid')) &&
        readFileSync(join(sandbox, 'child.pid'), 'utf8').endsWith('\n')
      );
    });
    const childPid = readPid(sandbox, 'child.pid');
    strayPids.push(childPid);

    const killedAt = Date.now();
    agent.kill('stubborn');
    assert.equal(await exitCode(executor), 0);
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed >= 900, `SIGKILL came after ${elapsed}ms, before the 1s grace`);
    assert.ok(elapsed < 5_000, `took ${elapsed}ms`);
    const updates = agent.updates();
    // No TASK_KILLING: this framework lacks the TASK_KILLING_STATE capability.
    assert.deepEqual(states(updates), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    assert.equal(updates[2]?.message, 'Command terminated with signal Killed');
    await waitFor('the ignoring child to be gone', () => !processAlive(childPid), 3_000);
  });

  it('fails a task that overruns max_completion_time with REASON_MAX_COMPLETION_TIME_REACHED', async () => {
    const task = commandTask(
      'slow',
      { value: 'sleep 100' },
      { maxCompletionTime: { nanoseconds: 300_000_000n } },
    );
    const { agent, executor } = await setUp({ task });
    assert.equal(await exitCode(executor), 0);
    const last = agent.updates().at(-1);
    assert.equal(last?.state, TaskState.TASK_FAILED);
    assert.equal(last?.reason, 33);
  });

  it('re-sends an unacknowledged update in SUBSCRIBE after the stream drops (checkpointing)', async () => {
    let dropped = false;
    const { agent, sandbox, executor } = await setUp(
      {
        task: commandTask('flaky', { value: 'while [ ! -f go ]; do sleep 0.05; done' }),
        withholdAck: (status, fake) => {
          if (status.state !== TaskState.TASK_RUNNING || dropped) return false;
          dropped = true;
          // Answer the UPDATE first, then cut the stream, as an agent restart would.
          setTimeout(() => fake.stream?.abort(), 50);
          return true;
        },
      },
      { MESOS_CHECKPOINT: '1' },
    );
    await waitFor('a second SUBSCRIBE', () => agent.subscriptions().length >= 2);
    const running = agent.updates().find((u) => u.state === TaskState.TASK_RUNNING);
    assert.ok(running);
    const resubscribe = agent.subscriptions()[1]?.subscribe;
    assert.deepEqual(
      resubscribe?.unacknowledgedUpdates.map((u) => hex(u.status?.uuid ?? new Uint8Array())),
      [hex(running.uuid)],
    );
    // STARTING was acknowledged, so the task itself is no longer unacknowledged.
    assert.deepEqual(resubscribe?.unacknowledgedTasks, []);
    writeFileSync(join(sandbox, 'go'), '');
    assert.equal(await exitCode(executor), 0);
    assert.equal(agent.updates().at(-1)?.state, TaskState.TASK_FINISHED);
  });

  it('without checkpointing, a dropped stream kills the task and exits non-zero', async () => {
    const task = commandTask('orphan', { value: 'echo $$ > shell.pid; sleep 100' });
    const { agent, sandbox, executor } = await setUp({ task });
    await waitFor('RUNNING and the pid', () => {
      return (
        states(agent.updates()).includes('TASK_RUNNING') &&
        existsSync(join(sandbox, 'shell.pid')) &&
        readFileSync(join(sandbox, 'shell.pid'), 'utf8').endsWith('\n')
      );
    });
    const shellPid = readPid(sandbox, 'shell.pid');
    strayPids.push(shellPid);
    agent.stream?.abort();
    assert.equal(await exitCode(executor), 1);
    await waitFor('the task to be gone', () => !processAlive(shellPid), 3_000);
  });

  it('shuts down on SHUTDOWN: kills the task, TASK_KILLED, exit 0', async () => {
    const task = commandTask('down', { value: 'sleep 100' });
    const { agent, executor } = await setUp({ task });
    await waitFor('RUNNING', () => states(agent.updates()).includes('TASK_RUNNING'));
    agent.sendEvent({ type: 7 });
    assert.equal(await exitCode(executor), 0);
    assert.equal(agent.updates().at(-1)?.state, TaskState.TASK_KILLED);
  });

  for (const [name, variables, expected] of [
    ['a missing MESOS_FRAMEWORK_ID', { MESOS_FRAMEWORK_ID: '' }, /'MESOS_FRAMEWORK_ID'/],
    ['a malformed MESOS_AGENT_ENDPOINT', { MESOS_AGENT_ENDPOINT: 'no-port-here' }, /'MESOS_AGENT_ENDPOINT'/],
    ['a malformed MESOS_RECOVERY_TIMEOUT', { MESOS_RECOVERY_TIMEOUT: 'soon' }, /'MESOS_RECOVERY_TIMEOUT'/],
  ] as const) {
    it(`exits non-zero with a clear message on ${name}`, async () => {
      const { agent, sandbox, executor } = await setUp({}, variables);
      const code = await exitCode(executor);
      assert.notEqual(code, 0);
      assert.match(readFileSync(join(sandbox, 'stderr'), 'utf8'), expected);
      assert.equal(agent.calls.length, 0);
    });
  }
});
