/**
 * `strata local` (what `npm start` runs), driven as a real child process the way a newcomer uses
 * it: started once on free ports with a temporary --work_dir and two agents, then the `strata`
 * commands against it through the binary (the example it prints, execute's exit status, --json
 * listings, task log --follow, task exec, explain, the README's curl framework and endpoints), the
 * error paths, the posix fallback when containers cannot start, and Ctrl-C: exit 0, no executor or
 * task process left, and (as root with containers) no mount under the work dir nor cgroup of its
 * containers left.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bestIsolation, probeHost } from '../../../src/common/host.js';
import { freePort, killProcessesUnder, REPO_ROOT, STRATA_BIN, tempDir } from '../../support/processes.js';

/** With root, crun/runc and cgroups, `strata local` runs executors in containers. */
const containers = bestIsolation(probeHost()).containers;
if (!containers)
  console.log(
    '# strata local runs posix here (not root, no OCI runtime or no cgroups): container checks skipped',
  );

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running `strata` command; `detached` puts it in its own process group, as a shell does. */
class Cli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string> = {}, options: { detached?: boolean } = {}) {
    this.child = spawn(process.execPath, [STRATA_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    });
    this.child.stdout?.on('data', (c: Buffer) => {
      this.stdout += c.toString('utf8');
    });
    this.child.stderr?.on('data', (c: Buffer) => {
      this.stderr += c.toString('utf8');
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))),
    );
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
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A port P with P+1 .. P+count-1 free too (`strata local` puts its agents on the next ports). */
async function freePortRun(count: number): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port + count > 65535) continue;
    let all = true;
    for (let i = 1; i < count && all; i++) all = await bindable(port + i);
    if (all) return port;
  }
  throw new Error(`no run of ${count} free ports`);
}

/** Processes (pid → cwd) whose working directory is under `dir`: executors and their tasks. */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd.startsWith(dir)) found.push(`${entry} ${cwd}`);
    } catch {
      // gone, or not ours to see
    }
  }
  return found;
}

/** Mount points that name `dir` (in this namespace and the host-root bind that mirrors it). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.includes(dir));
}

/** cgroups named for `ids`, in every v1 hierarchy and in v2, below any parent. */
function cgroupsOf(ids: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const name of entries) {
      if (ids.includes(name)) found.push(join(dir, name));
      else if (depth < 3) walk(join(dir, name), depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

describe('strata local', { timeout: 120_000 }, () => {
  let workDir: string;
  let local: Cli;
  let masterUrl: string;
  const background: Cli[] = [];
  const containerIds = new Set<string>();
  let web: Cli | undefined;

  const strata = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    const cli = new Cli(args, { STRATA_MASTER: masterUrl, ...env });
    const code = await cli.exited;
    return { code, stdout: cli.stdout, stderr: cli.stderr };
  };
  const start = (args: string[]) => {
    const cli = new Cli(args, { STRATA_MASTER: masterUrl });
    background.push(cli);
    return cli;
  };
  const json = <T>(run: Run): T => {
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as T;
  };
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
  /** The containers the agents run now (their runtime directories), remembered for the cgroup check. */
  const noteContainers = () => {
    for (const agent of ['agent-0', 'agent-1']) {
      const dir = join(workDir, agent, 'runtime', 'containerizer');
      if (!existsSync(dir)) continue;
      for (const id of readdirSync(dir)) if (!id.startsWith('.')) containerIds.add(id);
    }
  };

  before(async () => {
    workDir = tempDir('local');
    const port = await freePortRun(3);
    local = new Cli(
      ['local', `--port=${port}`, '--agents', '2', `--work_dir=${workDir}`],
      {},
      { detached: true },
    );
    await local.until(
      () => local.stdout.includes('Ctrl-C stops everything.'),
      'strata local to be up',
      30_000,
    );
    masterUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (
      ((await (await fetch(`${masterUrl}/master/slaves`)).json()) as { slaves: unknown[] }).slaves.length < 2
    ) {
      if (Date.now() > deadline)
        throw new Error(`the agents never registered\n${local.stdout}${local.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(() => {
    for (const cli of background) cli.kill();
    local?.kill();
    if (workDir) killProcessesUnder(workDir);
  });

  it('prints the master URL, the isolation in one line and an execute example that works', async () => {
    const port = new URL(masterUrl).port;
    assert.match(local.stdout, new RegExp(`^ {2}master: +http://127\\.0\\.0\\.1:${port}$`, 'm'));
    assert.match(
      local.stdout,
      new RegExp(
        `^ {2}agents: +http://127\\.0\\.0\\.1:${Number(port) + 1}, http://127\\.0\\.0\\.1:${Number(port) + 2}$`,
        'm',
      ),
    );
    assert.match(local.stdout, new RegExp(`^ {2}work dirs: +${workDir}$`, 'm'));
    const isolation = local.stdout.split('\n').filter((l) => l.includes('isolation:'));
    assert.equal(isolation.length, 1);
    if (containers)
      assert.match(
        isolation[0]!,
        /cgroups.*--isolation=cgroups\/cpu,cgroups\/mem,cgroups\/pids,namespaces\/pid,filesystem\/linux/,
      );
    else assert.match(isolation[0]!, /^ {2}isolation: +posix \(plain processes\): /);
    assert.doesNotMatch(local.stdout, /web UI|\/ui/, 'there is no web UI to point at yet');

    // README's `npm start` block is what is printed, but for the values of this run.
    const shape = (text: string) =>
      text
        .slice(0, text.indexOf('Ctrl-C stops everything.'))
        .split('\n')
        .map((line) =>
          line
            .replace(/ --master=\S+/, '')
            .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'URL')
            .replace(/^( {2}(isolation|work dirs): +).*/, '$1...'),
        );
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const block = /## The local cluster: `npm start`[\s\S]*?```text\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'README has the npm start output');
    assert.deepEqual(
      shape(local.stdout).filter((l) => !l.startsWith('  agents:')),
      shape(block).filter((l) => !l.startsWith('  agents:')),
    );

    const example = local.stdout.split('\n').find((l) => l.trim().startsWith('npx strata execute'));
    assert.ok(example, local.stdout);
    assert.equal(
      example.trim(),
      `npx strata execute --master=${masterUrl} --name=hello --command='echo hello from strata' --follow`,
    );
    // As typed in a shell, with `npx strata` being this repository's binary.
    const command = example.trim().replace(/^npx strata/, `"${process.execPath}" "${STRATA_BIN}"`);
    const shell = spawn('sh', ['-c', command], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    shell.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    shell.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => shell.on('exit', resolve));
    assert.equal(code, 0, err);
    assert.equal(out, 'hello from strata\n');
    assert.match(err, /Task hello is TASK_FINISHED/);
  });

  it('--agents 2: strata agents --json shows two agents, each with its own share', async () => {
    const agents = json<{ id: string; url: string; total: { cpus: number; mem: number } }[]>(
      await strata(['agents', '--json']),
    );
    assert.equal(agents.length, 2);
    assert.notEqual(agents[0]!.url, agents[1]!.url);
    assert.notEqual(agents[0]!.id, agents[1]!.id);
    assert.equal(agents[0]!.total.cpus, agents[1]!.total.cpus);
    assert.equal(agents[0]!.total.mem, agents[1]!.total.mem);
    const table = await strata(['agents']);
    assert.equal(table.stdout.trim().split('\n').length, 3, table.stdout);
  });

  it('execute exits with the task status (exit 3 → 3); tasks --json parses', async () => {
    const three = await strata(['execute', '--name', 'three', '--command', 'echo hello; exit 3']);
    assert.equal(three.code, 3, three.stderr);
    assert.match(three.stderr, /Task three is TASK_FAILED: Command exited with status 3/);
    const tasks = json<{ id: string; state: string }[]>(await strata(['tasks', '--all', '--json']));
    assert.ok(
      tasks.some((t) => t.id === 'three' && t.state === 'TASK_FAILED'),
      JSON.stringify(tasks),
    );
    assert.ok(
      tasks.some((t) => t.id === 'hello' && t.state === 'TASK_FINISHED'),
      JSON.stringify(tasks),
    );
  });

  it('task log --follow shows lines as written; task exec runs echo in a running task', async () => {
    web = start([
      'execute',
      '--name',
      'web',
      '--command',
      'for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.4; done; sleep 100',
    ]);
    await waitForTask('web', 'TASK_RUNNING');
    noteContainers();
    const follow = start(['task', 'log', 'web', '--follow']);
    await follow.until(() => /tick 2\n/.test(follow.stdout), 'tick 2 in task log --follow');
    assert.doesNotMatch(follow.stdout, /tick 8/);
    await follow.until(() => /tick 4\n/.test(follow.stdout), 'tick 4 in task log --follow');
    follow.kill();

    const echo = await strata(['task', 'exec', 'web', '--', 'echo', 'hi']);
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, 'hi\n');
    const status = await strata(['task', 'exec', 'web', '--', 'sh', '-c', 'exit 4']);
    assert.equal(status.code, 4);
    if (containers) assert.ok(containerIds.size > 0, 'the task runs in a container');
  });

  it('task exec goes into the task container when the agents isolate', {
    skip: containers ? false : 'posix: there is no container to enter',
  }, async () => {
    // The task's pid namespace (namespaces/pid) has the task's init (tini, the agent hosting the
    // command executor) as pid 1; the host's init is not there.
    const exec = await strata([
      'task',
      'exec',
      'web',
      '--',
      'sh',
      '-c',
      'cat /proc/1/cmdline | tr "\\0" " "',
    ]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /tini.* -- \/bin\/sh -c for i in/);
  });

  it('explain shows each agent; the README curl framework subscribes and gets offers; endpoints answer', async () => {
    const explained = json<{ explanations: { agent_id: string; reason: string }[] }>(
      await strata(['explain', 'strata-execute', '--json']),
    );
    assert.equal(explained.explanations.length, 2);
    for (const e of explained.explanations) assert.match(e.reason, /^[A-Z_]+$/);

    // README: "A framework written for Mesos talks to the master as usual, for example with curl".
    const curl = spawn(
      'curl',
      [
        '-sN',
        '-H',
        'Content-Type: application/json',
        '-d',
        '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"demo"}}}',
        `${masterUrl}/api/v1/scheduler`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let stream = '';
    curl.stdout.on('data', (c: Buffer) => {
      stream += c.toString();
    });
    const deadline = Date.now() + 15_000;
    while (!stream.includes('"OFFERS"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    curl.kill('SIGKILL');
    assert.match(stream, /^\d+\n\{"type":"SUBSCRIBED"/);
    assert.match(stream, /"type":"HEARTBEAT"/);
    assert.match(stream, /"type":"OFFERS"/);

    for (const path of ['/master/state', '/master/tasks', '/metrics/snapshot', '/metrics']) {
      const res = await fetch(`${masterUrl}${path}`);
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
    }
  });

  it('the README by hand: strata --help lists every command, strata doctor says what the host isolates', async () => {
    const help = await strata(['--help']);
    assert.equal(help.code, 0);
    for (const command of [
      'local',
      'master',
      'agent',
      'doctor',
      'execute',
      'agents',
      'tasks',
      'task',
      'events',
    ])
      assert.match(help.stdout, new RegExp(`^ {2}${command}\\b`, 'm'), command);
    const doctor = await strata(['doctor']);
    assert.equal(doctor.code, 0);
    assert.match(doctor.stdout, /^isolation: /m);
    const localHelp = await strata(['local', '--help']);
    assert.match(localHelp.stdout, /--work_dir <dir>/);
    assert.match(localHelp.stdout, /Examples:\n {2}strata local/);
  });

  it('errors are one line and non-zero: no master, a bad flag, a taken port, a bad --agents', async () => {
    const noMaster = await strata(['execute', '--command', 'true'], {
      STRATA_MASTER: `127.0.0.1:${await freePort()}`,
    });
    assert.equal(noMaster.code, 1);
    assert.match(noMaster.stderr, /^strata: cannot reach the master at .+\n$/);
    const tasks = await strata(['tasks'], { STRATA_MASTER: `127.0.0.1:${await freePort()}` });
    assert.equal(tasks.code, 1);
    assert.equal(tasks.stderr.trim().split('\n').length, 1);

    const bogus = await strata(['local', '--bogus']);
    assert.notEqual(bogus.code, 0);
    assert.match(bogus.stderr, /unknown option '--bogus'/);
    const agents = await strata(['local', '--agents', '0']);
    assert.equal(agents.code, 2);
    assert.equal(agents.stderr, "strata: --agents must be a whole number from 1 to 64, got '0'\n");
    const taken = await strata([
      'local',
      `--port=${new URL(masterUrl).port}`,
      `--work_dir=${tempDir('local-taken')}`,
    ]);
    assert.equal(taken.code, 1);
    assert.match(
      taken.stderr,
      /^strata: 127\.0\.0\.1:\d+ is in use \(another strata local\?\); --port=N moves the master.*\n$/,
    );
  });

  it('falls back to posix in one line when containers cannot start (a broken OCI runtime)', {
    skip: containers ? false : 'posix already: nothing to fall back from',
  }, async () => {
    const bin = tempDir('local-broken-runtime');
    for (const name of ['crun', 'runc']) {
      writeFileSync(join(bin, name), '#!/bin/sh\necho "broken on purpose" >&2\nexit 1\n');
      chmodSync(join(bin, name), 0o755);
    }
    const dir = tempDir('local-fallback');
    mkdirSync(dir, { recursive: true });
    const port = await freePortRun(2);
    const fallback = new Cli(
      ['local', `--port=${port}`, `--work_dir=${dir}`],
      { PATH: `${bin}:${process.env.PATH ?? ''}` },
      { detached: true },
    );
    background.push(fallback);
    await fallback.until(
      () => fallback.stdout.includes('Ctrl-C stops everything.'),
      'the fallback cluster',
      30_000,
    );
    const line = fallback.stdout.split('\n').filter((l) => l.includes('isolation:'));
    assert.equal(line.length, 1);
    assert.match(
      line[0]!,
      /^ {2}isolation: +posix \(plain processes\): containers failed to start \(.*no OCI runtime works/,
    );
    const run = await strata(['execute', '--command', 'true'], { STRATA_MASTER: `127.0.0.1:${port}` });
    assert.equal(run.code, 0, run.stderr);
    process.kill(-fallback.child.pid!, 'SIGINT');
    assert.equal(await fallback.exited, 0);
  });

  it('Ctrl-C stops everything: exit 0, tasks killed, no process, mount or cgroup left', async () => {
    assert.ok(web, 'the task log test started web');
    await waitForTask('web', 'TASK_RUNNING');
    noteContainers();
    assert.ok(processesUnder(workDir).length > 0, 'the task runs under the work dir');
    if (containers) assert.ok(cgroupsOf([...containerIds]).length > 0, 'its container has cgroups');

    const stopped = Date.now();
    process.kill(-local.child.pid!, 'SIGINT'); // a terminal's Ctrl-C: the whole foreground group
    const code = await Promise.race([
      local.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000).unref()),
    ]);
    assert.equal(code, 0, `${local.stdout}\n${local.stderr}`);
    assert.ok(Date.now() - stopped < 20_000);
    assert.match(local.stdout, /Stopping: .*\nStopped\.\n$/s);
    assert.equal(await web.exited, 143, web.stderr);
    assert.match(web.stderr, /Task web is TASK_KILLED/);

    assert.deepEqual(processesUnder(workDir), []);
    if (containers) {
      assert.ok(containerIds.size > 0);
      assert.deepEqual(mountsUnder(workDir), []);
      assert.deepEqual(cgroupsOf([...containerIds]), []);
    }
  });
});
