/**
 * The operator commands of `strata` (issue 8), driving the real binary against one real master and
 * agent: every command's happy path and error paths (no master, unknown task, bad flag), the exit
 * status of `execute`, `--json` parsing, `task log --follow` showing lines as they are written,
 * `task exec` running echo inside a task, `task kill`, and the README's walk-through.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  killProcessesUnder,
  REPO_ROOT,
  STRATA_BIN,
  startAgentProcess,
  startMasterProcess,
  tempDir,
} from '../../support/processes.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running `strata` command whose output can be awaited line by line. */
class Cli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child;

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [STRATA_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (c: Buffer) => {
      this.stdout += c.toString('utf8');
    });
    this.child.stderr.on('data', (c: Buffer) => {
      this.stderr += c.toString('utf8');
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  async until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

describe('strata operator commands', { timeout: 240_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: Awaited<ReturnType<typeof startAgentProcess>>;
  let env: Record<string, string>;
  const background: Cli[] = [];

  const strata = async (args: string[], extraEnv: Record<string, string> = {}): Promise<Run> => {
    const cli = new Cli(args, { ...env, ...extraEnv });
    const code = await cli.exited;
    return { code, stdout: cli.stdout, stderr: cli.stderr };
  };
  const start = (args: string[]) => {
    const cli = new Cli(args, env);
    background.push(cli);
    return cli;
  };
  const json = <T>(run: Run): T => {
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as T;
  };
  /** Waits until `strata tasks` shows the task in `state`. */
  const waitForTask = async (id: string, state: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const tasks = json<{ id: string; state: string }[]>(await strata(['tasks', '--all', '--json']));
      if (tasks.some((t) => t.id === id && t.state === state)) return;
      if (Date.now() > deadline)
        throw new Error(`task ${id} never reached ${state}: ${JSON.stringify(tasks)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agent = await startAgentProcess(master.port, [
      '--resources=cpus:4;mem:2048;disk:2048',
      '--logging_level=warn',
    ]);
    env = { STRATA_MASTER: master.url };
    const deadline = Date.now() + 15_000;
    while (
      ((await (await fetch(`${master.url}/master/slaves`)).json()) as { slaves: unknown[] }).slaves.length ===
      0
    ) {
      if (Date.now() > deadline) throw new Error('the agent never registered');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    for (const cli of background) cli.kill();
    await agent?.process.stop();
    killProcessesUnder(agent?.workDir ?? '/nonexistent');
    await master?.process.stop();
  });

  describe('execute', () => {
    it('exits with the task exit status: exit 3 makes strata execute exit 3', async () => {
      const run = await strata(['execute', '--name', 'three', '--command', 'echo hello; exit 3']);
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /Task three is TASK_FAILED: Command exited with status 3/);
    });

    it('exits 0 for a task that finishes, with a --json summary of every copy (--count)', async () => {
      const summary = json<{ exit_status: number; tasks: { id: string; state: string }[] }>(
        await strata(['execute', '--name', 'copies', '--count', '2', '--command', 'true', '--json']),
      );
      assert.equal(summary.exit_status, 0);
      assert.deepEqual(summary.tasks.map((t) => [t.id, t.state]).sort(), [
        ['copies-0', 'TASK_FINISHED'],
        ['copies-1', 'TASK_FINISHED'],
      ]);
    });

    it('--follow streams stdout and stderr; --env and --shell=false reach the command', async () => {
      const run = await strata([
        'execute',
        '--name',
        'follow',
        '--env',
        'GREETING=hi there',
        '--command',
        'echo "$GREETING"; echo to-stderr >&2',
        '--follow',
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'hi there\n');
      assert.match(run.stderr, /to-stderr/);
      const exec = await strata([
        'execute',
        '--name',
        'noshell',
        '--shell=false',
        '--command',
        '/bin/echo a b',
        '--follow',
      ]);
      assert.equal(exec.code, 0, exec.stderr);
      assert.equal(exec.stdout, 'a b\n');
    });

    it('--kill_after kills a long task (143: SIGTERM); a task group runs with the default executor', async () => {
      const killed = await strata([
        'execute',
        '--name',
        'slow',
        '--command',
        'sleep 100',
        '--kill_after',
        '500ms',
      ]);
      assert.equal(killed.code, 143, killed.stderr);
      assert.match(killed.stderr, /TASK_KILLED/);
      const file = join(tempDir('cli-group'), 'group.json');
      writeFileSync(
        file,
        JSON.stringify({
          tasks: [
            {
              name: 'g1',
              task_id: { value: 'g1' },
              resources: [
                { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
                { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
              ],
              command: { value: 'exit 5' },
            },
          ],
        }),
      );
      const group = await strata(['execute', '--task_group', file]);
      assert.equal(group.code, 5, group.stderr);
    });

    it('bad flags and a missing master are one line and a non-zero exit', async () => {
      const bad = await strata(['execute', '--command', 'true', '--bogus']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unknown option '--bogus'/);
      const badResources = await strata(['execute', '--command', 'true', '--resources', 'cpus:lots']);
      assert.equal(badResources.code, 2);
      assert.match(badResources.stderr, /^strata: --resources: /);
      const noMaster = await strata(['execute', '--command', 'true'], {
        STRATA_MASTER: `127.0.0.1:${await freePort()}`,
      });
      assert.equal(noMaster.code, 1);
      assert.match(
        noMaster.stderr,
        /^strata: cannot reach the master at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/,
      );
      assert.equal(noMaster.stderr.trim().split('\n').length, 1);
    });
  });

  describe('listings', () => {
    it('agents, frameworks, tasks and roles print tables and parse as --json', async () => {
      const agents = json<{ id: string; total: { cpus: number; mem: number } }[]>(
        await strata(['agents', '--json']),
      );
      assert.equal(agents.length, 1);
      assert.equal(agents[0]!.total.cpus, 4);
      const table = await strata(['agents']);
      assert.equal(table.code, 0);
      assert.match(table.stdout, /^ID\s+HOSTNAME\s+ADDRESS\s+STATE\s+TASKS\s+USAGE/);
      assert.match(table.stdout, /cpus [\d.]+\/4 \(\d+%\)\s+mem [\d.]+ [MG]B\/2 GB/);

      const frameworks = json<{ name: string }[]>(await strata(['frameworks', '--all', '--json']));
      assert.ok(frameworks.some((f) => f.name === 'strata-execute'));
      const tasks = json<{ id: string; state: string }[]>(await strata(['tasks', '--all', '--json']));
      assert.ok(tasks.some((t) => t.id === 'three' && t.state === 'TASK_FAILED'));
      const failed = json<{ id: string }[]>(
        await strata(['tasks', '--state', 'failed', '--name', 'thr', '--json']),
      );
      assert.deepEqual(
        failed.map((t) => t.id),
        ['three'],
      );
      const tasksTable = await strata(['tasks', '--all', '--name', 'three']);
      assert.match(tasksTable.stdout, /three\s+three\s+FAILED\s+strata-execute/);
      const roles = await strata(['roles', '--json']);
      assert.ok(Array.isArray(json(roles)));
    });

    it('each listing fails in one line without a master, and refuses a bad flag', async () => {
      const port = await freePort();
      for (const command of ['agents', 'frameworks', 'tasks', 'roles']) {
        const run = await strata([command, '--master', `127.0.0.1:${port}`]);
        assert.equal(run.code, 1, command);
        assert.match(run.stderr, /^strata: cannot reach the master/);
        const bad = await strata([command, '--wrong']);
        assert.notEqual(bad.code, 0, command);
        assert.match(bad.stderr, /unknown option '--wrong'/);
      }
    });

    it('every command has --help with examples', async () => {
      for (const command of [
        ['execute'],
        ['agents'],
        ['frameworks'],
        ['tasks'],
        ['roles'],
        ['task', 'log'],
        ['task', 'exec'],
        ['task', 'kill'],
        ['events'],
        ['explain'],
        ['quota'],
        ['weights'],
        ['maintenance'],
        ['top'],
        ['completion'],
      ]) {
        const run = await strata([...command, '--help']);
        assert.equal(run.code, 0, command.join(' '));
        assert.match(run.stdout, /Examples:\n {2}.*strata /, command.join(' '));
      }
    });
  });

  describe('task log, exec and kill (the README walk-through)', () => {
    it('runs, inspects, follows, logs into and kills a task', async () => {
      assert.equal((await strata(['agents'])).code, 0);
      const hello = await strata(['execute', '--command', 'echo hello; exit 3']);
      assert.equal(hello.code, 3, hello.stderr);
      // The README's command: 30 ticks a second apart, so "not written yet" has 30 s of slack.
      const web = start([
        'execute',
        '--name',
        'web',
        '--command',
        'for i in $(seq 30); do echo tick $i; sleep 1; done; sleep 100',
      ]);
      await waitForTask('web', 'TASK_RUNNING');

      const tasks = await strata(['tasks']);
      assert.match(tasks.stdout, /^web\s+web\s+RUNNING\s+strata-execute/m);

      // --follow shows lines as they are written: the first tick arrives while later ones are not yet written.
      const follow = start(['task', 'log', 'web', '--follow']);
      await follow.until(() => /tick 2\n/.test(follow.stdout), 'tick 2 in task log --follow');
      assert.doesNotMatch(follow.stdout, /tick 30/);
      await follow.until(() => /tick 4\n/.test(follow.stdout), 'tick 4 in task log --follow');

      const log = await strata(['task', 'log', 'web']);
      assert.equal(log.code, 0, log.stderr);
      assert.match(log.stdout, /^tick 1\ntick 2\n/);

      const echo = await strata(['task', 'exec', 'web', '--', 'echo', 'hi']);
      assert.equal(echo.code, 0, echo.stderr);
      assert.equal(echo.stdout, 'hi\n');
      const status = await strata([
        'task',
        'exec',
        'web',
        '--',
        'sh',
        '-c',
        'echo "in $MESOS_SANDBOX" >&2; exit 4',
      ]);
      assert.equal(status.code, 4);
      assert.match(status.stderr, /in \/.*\/runs\//);

      const kill = await strata(['task', 'kill', 'web']);
      assert.equal(kill.code, 0, kill.stderr);
      assert.equal(kill.stdout, 'Task web is TASK_KILLED\n');
      assert.equal(await web.exited, 143);
      assert.equal(await follow.exited, 0);
      assert.match(web.stderr, /Task web is TASK_KILLED/);

      const again = await strata(['task', 'kill', 'web']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^strata: task 'web' has already ended \(TASK_KILLED\)/);
    });

    it('an unknown task is exit code 3 and one line for log, exec and kill', async () => {
      for (const args of [
        ['task', 'log', 'nosuch'],
        ['task', 'exec', 'nosuch', '--', 'true'],
        ['task', 'kill', 'nosuch'],
      ]) {
        const run = await strata(args);
        assert.equal(run.code, 3, args.join(' '));
        assert.equal(
          run.stderr,
          "strata: no task 'nosuch' is known to the master (see 'strata tasks --all')\n",
        );
      }
      const noMaster = await strata(['task', 'log', 'web', '--master', `127.0.0.1:${await freePort()}`]);
      assert.equal(noMaster.code, 1);
      const bad = await strata(['task', 'log', 'web', '--tail']);
      assert.notEqual(bad.code, 0);
    });
  });

  describe('events, explain, top, operator actions, completion', () => {
    it('events prints the snapshot and live changes; --json lines parse', async () => {
      const events = start(['events', '--json']);
      await events.until(() => events.stdout.includes('"SUBSCRIBED"'), 'SUBSCRIBED');
      await strata(['execute', '--name', 'evented', '--command', 'true']);
      await events.until(() => events.stdout.includes('"FRAMEWORK_REMOVED"'), 'FRAMEWORK_REMOVED');
      const types = events.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { type: string }).type);
      assert.equal(types[0], 'SUBSCRIBED');
      for (const type of ['FRAMEWORK_ADDED', 'TASK_ADDED', 'TASK_UPDATED', 'FRAMEWORK_REMOVED'])
        assert.ok(types.includes(type), type);
      events.kill();
      const human = await strata(['events', '--count', '1']);
      assert.equal(human.code, 0);
      assert.match(human.stdout, /^#\d+ SUBSCRIBED 1 agents, \d+ frameworks, \d+ tasks\n$/);
      const noMaster = await strata(['events', '--master', `127.0.0.1:${await freePort()}`]);
      assert.equal(noMaster.code, 1);
      assert.match(noMaster.stderr, /^strata: cannot reach the master/);
    });

    it('explain shows the allocator reason per agent; an unknown framework is exit 3', async () => {
      // Its own framework name: a framework left by an earlier test must not make the name ambiguous.
      const web = start([
        'execute',
        '--name',
        'explained',
        '--framework_name',
        'explain-me',
        '--command',
        'sleep 100',
      ]);
      await waitForTask('explained', 'TASK_RUNNING');
      const explained = json<{ explanations: { agent_id: string; reason: string }[] }>(
        await strata(['explain', 'explain-me', '--json']),
      );
      assert.equal(explained.explanations.length, 1);
      assert.match(explained.explanations[0]!.reason, /^[A-Z_]+$/);
      const table = await strata(['explain', 'explain-me']);
      assert.match(table.stdout, /^AGENT\s+HOSTNAME\s+ROLE\s+REASON\s+DETAIL/);
      const top = await strata(['top', '--once']);
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^strata top/);
      assert.match(top.stdout, /^FRAMEWORK\s+NAME\s+TASKS/m);
      assert.match(top.stdout, /explain-me\s+1\s+0\.1/);
      await strata(['task', 'kill', 'explained']);
      await web.exited;
      const unknown = await strata(['explain', 'nosuch']);
      assert.equal(unknown.code, 3);
      assert.match(unknown.stderr, /^strata: no framework 'nosuch' is subscribed/);
    });

    it('weights and quota: set, then get shows it; bad input is one line', async () => {
      assert.equal((await strata(['weights', 'set', 'dev=2.5'])).code, 0);
      assert.deepEqual(json(await strata(['weights', 'get', '--json'])), [{ role: 'dev', weight: 2.5 }]);
      const badWeight = await strata(['weights', 'set', 'dev=heavy']);
      assert.equal(badWeight.code, 2);
      assert.equal(badWeight.stderr, "strata: expected role=weight, got 'dev=heavy'\n");
      const set = await strata(['quota', 'set', 'dev', '--limit', 'cpus:2;mem:1024']);
      assert.equal(set.code, 0, set.stderr);
      assert.deepEqual(json(await strata(['quota', 'get', '--json'])), [
        { role: 'dev', guarantees: {}, limits: { cpus: 2, mem: 1024 } },
      ]);
      const refused = await strata(['quota', 'set', '*', '--limit', 'cpus:1']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^strata: the master refused UPDATE_QUOTA: .+\(HTTP 400\)\n$/);
    });

    it('agent drain and maintenance send their calls and report the answer in one line', async () => {
      const drain = await strata(['agent', 'drain', 'no-such-agent']);
      assert.notEqual(drain.code, 0);
      assert.match(drain.stderr, /^strata: the master refused DRAIN_AGENT: .+\(HTTP \d+\)\n$/);
      const status = await strata(['maintenance', 'status', '--json']);
      if (status.code === 0) assert.ok(Array.isArray(JSON.parse(status.stdout)));
      else assert.match(status.stderr, /^strata: the master refused GET_MAINTENANCE_STATUS: .+\n$/);
      const down = await strata(['maintenance', 'down']);
      assert.notEqual(down.code, 0);
    });

    it('completion prints bash and zsh scripts that know every command', async () => {
      const bash = await strata(['completion', 'bash']);
      assert.equal(bash.code, 0);
      execFileSync('bash', ['-n'], { input: bash.stdout });
      assert.match(bash.stdout, /"task"\) words="log exec kill --help"/);
      assert.match(bash.stdout, /execute --help|execute .*/);
      const zsh = await strata(['completion', 'zsh']);
      assert.match(zsh.stdout, /^#compdef strata/);
      const fish = await strata(['completion', 'fish']);
      assert.equal(fish.code, 2);
      assert.equal(fish.stderr, "strata: unsupported shell 'fish' (bash or zsh)\n");
    });
  });
});
