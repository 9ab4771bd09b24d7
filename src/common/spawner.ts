/**
 * A small long-lived `sh` that starts short helper commands (mount, umount, ...) for a big Node
 * process. Node forks the whole process for every child (≈ 3 ms of main-thread time for an
 * agent, during which nothing else runs); a shell forks in a fraction of that. The agent starts
 * a few helpers per container, dozens of times a second, so they go through here.
 *
 * Protocol: one line per job on the shell's stdin, `{ (cd DIR && exec CMD ARGS...) </dev/null
 * >/dev/null 2>ERRFILE; echo "ID $?"; } &`, every word single-quoted; the shell answers `ID
 * STATUS` on its stdout (short lines: a pipe write under PIPE_BUF is atomic, so concurrent jobs
 * do not interleave). A job whose text cannot travel as one line (a newline in an argument), or
 * any job once the shell cannot be started, runs through child_process instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SpawnerResult {
  /** Exit status (128 + n when killed by signal n, as the shell reports it). */
  code: number;
  /** The command's stderr (at most 64 KiB). */
  stderr: string;
}

/**
 * After each job: a shell that reads its script from a pipe does not wait for its background jobs
 * on its own (they would stay zombies, and its job table would grow with every container); the
 * `jobs` builtin reaps the finished ones.
 */
const REAP = ' jobs >/dev/null';

/** `'...'` with embedded quotes escaped: safe for any text without a newline. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export class Spawner {
  private shell: ChildProcess | undefined;
  private broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: SpawnerResult) => void; errFile: string }>();
  private readonly started = new Map<
    number,
    {
      onPid: (pid: number) => void;
      onExit: (code: number | undefined) => void;
      pid: number | undefined;
      /** The waiting subshell's own pid (supervised jobs). */
      waiter?: number;
    }
  >();
  private buffer = '';
  private errDir: string | undefined;

  /** Runs `command args` in `cwd` to completion; never rejects for a non-zero exit. */
  run(command: string, args: readonly string[], cwd?: string): Promise<SpawnerResult> {
    const words = [command, ...args, ...(cwd ? [cwd] : [])];
    const shell = words.some((w) => w.includes('\n') || w.includes('\0')) ? undefined : this.ensureShell();
    if (!shell) return runDirect(command, args, cwd);
    const id = this.nextId++;
    const errFile = join(this.errDir!, `${id}`);
    const exec = `exec ${[command, ...args].map(shellQuote).join(' ')}`;
    const body = cwd ? `cd ${shellQuote(cwd)} && ${exec}` : exec;
    const line = `{ (${body}) </dev/null >/dev/null 2>${shellQuote(errFile)}; echo "${id} $?"; } &${REAP}\n`;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, errFile });
      // An answer still due keeps the process alive, like a child would; none due, it does not.
      refStream(shell.stdout, true);
      shell.stdin!.write(line);
    });
  }

  /**
   * Starts `command args` in the background with stdout/stderr appended to files; resolves with
   * its pid once it runs, and `exited` with its exit status (undefined when only its end, not
   * its status, could be seen: the shell was gone by then). Falls back to child_process.
   */
  start(
    command: string,
    args: readonly string[],
    output: { stdout: string; stderr: string },
  ): Promise<StartedJob> {
    const words = [command, ...args, output.stdout, output.stderr];
    const shell = words.some((w) => w.includes('\n') || w.includes('\0')) ? undefined : this.ensureShell();
    if (!shell) return startDirect(command, args, output);
    const id = this.nextId++;
    const argv = [command, ...args].map(shellQuote).join(' ');
    const line =
      `{ ${argv} </dev/null >>${shellQuote(output.stdout)} 2>>${shellQuote(output.stderr)} & ` +
      `echo "${id} pid $!"; wait $!; echo "${id} exit $?"; } &${REAP}\n`;
    return new Promise((resolve) => {
      let settleExit!: (code: number | undefined) => void;
      const exited = new Promise<number | undefined>((r) => {
        settleExit = r;
      });
      this.started.set(id, { onPid: (pid) => resolve({ pid, exited }), onExit: settleExit, pid: undefined });
      refStream(shell.stdout, true);
      shell.stdin!.write(line);
    });
  }

  /**
   * As start, and the subshell that waits for the command writes its exit status to `exitFile`
   * (one write of "STATUS\n") before it reports it: the record outlives this process, and the
   * waiting subshell (`waiterPid`) is the command's supervisor. Undefined when the job cannot go
   * through the shell (the caller starts its own supervisor then).
   */
  startSupervised(
    command: string,
    args: readonly string[],
    output: { stdout: string; stderr: string },
    exitFile: string,
  ): Promise<SupervisedJob> | undefined {
    const words = [command, ...args, output.stdout, output.stderr, exitFile];
    const shell = words.some((w) => w.includes('\n') || w.includes('\0')) ? undefined : this.ensureShell();
    if (!shell) return undefined;
    const id = this.nextId++;
    const argv = [command, ...args].map(shellQuote).join(' ');
    // `read` is a builtin: /proc/self is the subshell itself, whose pid $$ would not give.
    const line =
      `{ read -r w _ </proc/self/stat; echo "${id} waiter $w"; ` +
      `${argv} </dev/null >>${shellQuote(output.stdout)} 2>>${shellQuote(output.stderr)} & ` +
      `echo "${id} pid $!"; wait $!; s=$?; echo $s >${shellQuote(exitFile)}; echo "${id} exit $s"; } &${REAP}\n`;
    return new Promise((resolve) => {
      let settleExit!: (code: number | undefined) => void;
      const exited = new Promise<number | undefined>((r) => {
        settleExit = r;
      });
      const job: {
        onPid: (pid: number) => void;
        onExit: (code: number | undefined) => void;
        pid: number | undefined;
        waiter?: number;
      } = {
        onPid: (pid) => resolve({ pid, waiterPid: job.waiter ?? pid, exited }),
        onExit: settleExit,
        pid: undefined,
      };
      this.started.set(id, job);
      refStream(shell.stdout, true);
      shell.stdin!.write(line);
    });
  }

  /** Ends the shell; jobs still running finish on their own. */
  close(): void {
    this.shell?.stdin?.end();
    this.shell = undefined;
    if (this.errDir) rmSync(this.errDir, { recursive: true, force: true });
    this.errDir = undefined;
  }

  private ensureShell(): ChildProcess | undefined {
    if (this.shell) return this.shell;
    if (this.broken) return undefined;
    try {
      if (this.errDir === undefined) {
        const dir = mkdtempSync(join(tmpdir(), 'strata-spawner-'));
        this.errDir = dir;
        process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      }
      // Its own session: a terminal's Ctrl-C for the agent must not reach the helpers it starts.
      // The jobs are the shell's script, read from its stdin as they come: the shell reads its
      // script in blocks, where a `while read; eval` loop would read one byte per system call.
      const shell = spawn('/bin/sh', ['-s'], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
      shell.unref();
      refStream(shell.stdin, false);
      refStream(shell.stdout, false);
      shell.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.onOutput(chunk));
      shell.stdin!.on('error', () => undefined);
      shell.on('error', () => this.onShellGone(shell));
      shell.on('exit', () => this.onShellGone(shell));
      this.shell = shell;
      return shell;
    } catch {
      this.broken = true;
      return undefined;
    }
  }

  private onOutput(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const end = this.buffer.indexOf('\n');
      if (end < 0) return;
      const fields = this.buffer.slice(0, end).split(' ');
      this.buffer = this.buffer.slice(end + 1);
      const id = Number(fields[0]);
      if (fields.length === 3) {
        this.onStartedJob(id, fields[1] ?? '', Number(fields[2]));
        continue;
      }
      const codeText = fields[1];
      const job = this.pending.get(id);
      if (!job) continue;
      this.pending.delete(id);
      let stderr = '';
      try {
        stderr = readFileSync(job.errFile, 'utf8').slice(-64 * 1024);
        rmSync(job.errFile, { force: true });
      } catch {
        // no stderr file: the shell could not even redirect
      }
      job.resolve({ code: Number(codeText), stderr });
      this.maybeUnref();
    }
  }

  private onStartedJob(id: number, what: string, value: number): void {
    const job = this.started.get(id);
    if (!job) return;
    if (what === 'waiter') {
      job.waiter = value;
      return;
    }
    if (what === 'pid') {
      job.pid = value;
      job.onPid(value);
      return;
    }
    this.started.delete(id);
    job.onExit(value);
    this.maybeUnref();
  }

  private maybeUnref(): void {
    if (this.pending.size === 0 && this.started.size === 0 && this.shell) refStream(this.shell.stdout, false);
  }

  /** The shell died: its unanswered jobs are lost to us; say so, and start a new one next time. */
  private onShellGone(shell: ChildProcess): void {
    if (this.shell === shell) this.shell = undefined;
    for (const [id, job] of this.pending) {
      this.pending.delete(id);
      job.resolve({ code: 255, stderr: 'the helper shell ended before the command reported back' });
    }
    // Background jobs outlive the shell: watch them by pid instead.
    for (const [id, job] of this.started) {
      this.started.delete(id);
      if (job.pid === undefined) {
        job.onExit(undefined);
        continue;
      }
      const pid = job.pid;
      const timer = setInterval(() => {
        try {
          process.kill(pid, 0);
        } catch {
          clearInterval(timer);
          job.onExit(undefined);
        }
      }, 250);
    }
  }
}

export interface SupervisedJob {
  /** The command's pid. */
  pid: number;
  /** The subshell that waits for it and records its status. */
  waiterPid: number;
  /** The exit status; undefined when it could not be learned. */
  exited: Promise<number | undefined>;
}

export interface StartedJob {
  pid: number;
  /** The exit status; undefined when it could not be learned. */
  exited: Promise<number | undefined>;
}

function startDirect(
  command: string,
  args: readonly string[],
  output: { stdout: string; stderr: string },
): Promise<StartedJob> {
  return new Promise((resolve, reject) => {
    let out: number | undefined;
    let err: number | undefined;
    try {
      out = openSync(output.stdout, 'a');
      err = openSync(output.stderr, 'a');
    } catch (e) {
      if (out !== undefined) closeSync(out);
      reject(e);
      return;
    }
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    child.unref();
    const exited = new Promise<number | undefined>((r) =>
      child.once('exit', (code, signal) => r(code ?? 128 + signalNumber(signal))),
    );
    child.once('error', reject);
    child.once('spawn', () => resolve({ pid: child.pid!, exited }));
  });
}

function refStream(stream: unknown, on: boolean): void {
  const handle = stream as { ref?: () => void; unref?: () => void } | null;
  if (on) handle?.ref?.();
  else handle?.unref?.();
}

function runDirect(command: string, args: readonly string[], cwd?: string): Promise<SpawnerResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...(cwd ? { cwd } : {}), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', (err) => resolve({ code: 127, stderr: err.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + signalNumber(signal), stderr }));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 9) : 0;
}

/** The process-wide spawner. */
export const spawner = new Spawner();
