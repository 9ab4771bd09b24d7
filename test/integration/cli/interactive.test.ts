/**
 * The interactive side of the CLI, on a real terminal: `strata task exec` inside a pseudo-terminal
 * (python3's pty module plays the operator's terminal) gets a TTY in the task and passes typed
 * input through; `strata top` redraws by itself when the cluster changes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../../support/eventually.js';
import { REPO_ROOT, STRATA_BIN, startAgentProcess, startMasterProcess } from '../../support/processes.js';

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Runs `strata args` with its stdin/stdout on a fresh pty; `input` is typed into it. */
function onTerminal(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  // pty.spawn copies our stdin to the terminal and the terminal to our stdout; its return value is
  // the child's wait status.
  const relay =
    'import os, pty, sys\nstatus = pty.spawn(sys.argv[1:])\nsys.exit(os.waitstatus_to_exitcode(status))';
  const child = spawn('python3', ['-c', relay, process.execPath, STRATA_BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  child.stderr!.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('interactive commands on a terminal', {
  skip: hasPython ? false : 'python3 is not installed',
  timeout: 90_000,
}, () => {
  const cleanups: Array<() => unknown> = [];
  let masterUrl = '';
  before(async () => {
    const master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    cleanups.push(() => master.process.stop());
    const agent = await startAgentProcess(master.port, ['--resources=cpus:2;mem:1024;disk:256']);
    cleanups.push(() => agent.process.stop());
    masterUrl = master.url;
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('task exec gives the command a TTY and passes typed input through', async () => {
    const task = spawn(
      process.execPath,
      [STRATA_BIN, 'execute', '--master', masterUrl, '--name', 'tty-task', '--command', 'sleep 100'],
      { cwd: REPO_ROOT, stdio: 'ignore' },
    );
    cleanups.push(() => task.kill('SIGKILL'));
    await eventually(
      'tty-task RUNNING',
      () => {
        const out = execFileSync(process.execPath, [STRATA_BIN, 'tasks', '--master', masterUrl, '--json'], {
          cwd: REPO_ROOT,
        }).toString('utf8');
        return (JSON.parse(out) as Array<{ id: string; state: string }>).some(
          (t) => t.id === 'tty-task' && t.state === 'TASK_RUNNING',
        )
          ? true
          : undefined;
      },
      30_000,
    );
    const exec = onTerminal([
      'task',
      'exec',
      '--master',
      masterUrl,
      'tty-task',
      '--',
      'sh',
      '-c',
      'test -t 0 && test -t 1 && echo is-a-tty; read line; echo "got:$line"; exit 7',
    ]);
    await eventually('is-a-tty', () => (exec.output().includes('is-a-tty') ? true : undefined), 20_000);
    exec.child.stdin!.write('hello\r');
    assert.equal(await exec.exited, 7, exec.output());
    assert.match(exec.output(), /got:hello/);
  });

  it('top redraws when the cluster changes, without being asked', async () => {
    const top = onTerminal(['top', '--master', masterUrl, '--interval', '60']);
    cleanups.push(() => top.child.kill('SIGKILL'));
    await eventually(
      'the first frame',
      () => (top.output().includes('strata top') ? true : undefined),
      20_000,
    );
    assert.doesNotMatch(top.output(), /top-trigger/);
    // A new framework's task is an event: the view redraws long before the 60 s interval.
    const task = spawn(
      process.execPath,
      [
        STRATA_BIN,
        'execute',
        '--master',
        masterUrl,
        '--name',
        'top-task',
        '--framework_name',
        'top-trigger',
        '--command',
        'sleep 100',
      ],
      { cwd: REPO_ROOT, stdio: 'ignore' },
    );
    cleanups.push(() => task.kill('SIGKILL'));
    await eventually(
      'a redraw showing top-trigger',
      () => (top.output().includes('top-trigger') ? true : undefined),
      20_000,
    );
    // Redrawn in place: the screen is cleared before each frame.
    assert.ok(top.output().split('\x1b[2J').length >= 3, 'at least two frames drawn on the terminal');
  });
});
