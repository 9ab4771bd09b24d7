/**
 * The IO switchboard (mesos-internals.md 1.1, 1.12): for a container whose stdin, stdout and
 * stderr belong to the operator API rather than to sandbox files. LAUNCH_NESTED_CONTAINER_SESSION
 * containers have one (their output is the session's response stream), and so does any nested
 * container launched with `ContainerInfo.tty_info`. ATTACH_CONTAINER_OUTPUT streams what the
 * process writes; ATTACH_CONTAINER_INPUT feeds its stdin and, with a TTY, resizes its window.
 *
 * Mesos runs a helper process per container (`mesos-io-switchboard`) speaking HTTP on a unix
 * socket; here the agent holds the pipes itself, so the switchboard dies with the agent (an agent
 * restart ends the I/O of session containers; Mesos destroys DEBUG containers at recovery anyway).
 *
 * Rules taken from Mesos' switchboard server:
 * - One input connection at a time (a second one is refused, 409).
 * - Without a TTY an empty STDIN data record is end of file: stdin is closed. With a TTY the client
 *   sends EOT (`\x04`) itself, as a terminal would, and empty records change nothing.
 * - Output produced before the first output connection is kept (up to a bound) and replayed to
 *   it, as Mesos' server waits for the first connection before reading the container's pipes.
 * - With a TTY, stdout and stderr are one stream (the terminal), sent as STDOUT.
 *
 * A TTY is a real pseudo-terminal. Node has no pty API and the project uses no native modules, so
 * a small Python program (`PTY_HELPER`, run as `python3 -c`) opens the pty pair, sets its window
 * size, starts the command as a session leader with the terminal as its controlling tty and its
 * stdin/stdout/stderr, relays bytes between the terminal and its own stdin/stdout, applies
 * `rows columns` lines from its fd 3 as window sizes (TIOCSWINSZ, which sends SIGWINCH), and
 * exits with the command's own wait status. Without `python3` on the agent's PATH a TTY launch
 * fails (400) and everything else still works.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { ProgramSpec } from './executor-launch.js';
import { type ExecutorProcess, rawWaitStatus } from './launcher.js';

export type OutputStreamName = 'stdout' | 'stderr';

export interface OutputChunk {
  stream: OutputStreamName;
  data: Uint8Array;
}

/** One output connection (ATTACH_CONTAINER_OUTPUT, or the session's own response). */
export interface OutputListener {
  data(chunk: OutputChunk): void;
  /** The container's output has ended (it exited and its pipes are drained). */
  end(): void;
}

export interface TtySize {
  rows: number;
  columns: number;
}

/** Terminal size when `tty_info` names none (the classic 80x24). */
export const DEFAULT_TTY_SIZE: TtySize = { rows: 24, columns: 80 };

/** Output kept for the first output connection; beyond it the oldest bytes are dropped. */
export const DEFAULT_PENDING_OUTPUT_BYTES = 1024 * 1024;

/** The process ends the switchboard joins: stdin, the output pipes, the TTY control channel. */
export interface IoEnds {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** TTY only: takes `rows columns\n` lines. */
  control?: Writable;
}

export class ContainerIO {
  private readonly listeners = new Set<OutputListener>();
  private pending: OutputChunk[] = [];
  private pendingBytes = 0;
  private everAttached = false;
  private openOutputs = 2;
  private ended = false;
  private inputClaimed = false;
  private stdinClosed = false;
  private resolveEnded!: () => void;
  /** Settles once every output pipe has closed. */
  readonly outputEnded = new Promise<void>((resolve) => {
    this.resolveEnded = resolve;
  });

  constructor(
    private readonly ends: IoEnds,
    readonly tty: boolean,
    private readonly pendingLimit = DEFAULT_PENDING_OUTPUT_BYTES,
  ) {
    this.pipe(ends.stdout, 'stdout');
    // With a TTY the helper's own stderr only ever carries its failures; they are output too.
    this.pipe(ends.stderr, tty ? 'stdout' : 'stderr');
    ends.stdin.on('error', () => {
      // The process is gone or closed its stdin: what was not delivered is dropped, as by a pipe.
      this.stdinClosed = true;
    });
    ends.control?.on('error', () => {});
  }

  private pipe(source: Readable, stream: OutputStreamName): void {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.openOutputs--;
      if (this.openOutputs === 0) this.finish();
    };
    source.on('data', (chunk: Buffer) => this.emit({ stream, data: new Uint8Array(chunk) }));
    source.on('end', finish);
    source.on('close', finish);
    source.on('error', finish);
  }

  private emit(chunk: OutputChunk): void {
    if (!this.everAttached) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.data.byteLength;
      while (this.pendingBytes > this.pendingLimit && this.pending.length > 1) {
        this.pendingBytes -= this.pending.shift()!.data.byteLength;
      }
      return;
    }
    for (const listener of this.listeners) listener.data(chunk);
  }

  private finish(): void {
    this.ended = true;
    this.resolveEnded();
    for (const listener of [...this.listeners]) listener.end();
    this.listeners.clear();
  }

  get hasEnded(): boolean {
    return this.ended;
  }

  /**
   * Adds an output connection: what was kept for the first one is replayed, then live output
   * follows until the container's output ends. Returns the detach function.
   */
  attachOutput(listener: OutputListener): () => void {
    if (!this.everAttached) {
      this.everAttached = true;
      for (const chunk of this.pending) listener.data(chunk);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (this.ended) {
      listener.end();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes the single input connection; false while another one holds it. */
  claimInput(): boolean {
    if (this.inputClaimed) return false;
    this.inputClaimed = true;
    return true;
  }

  releaseInput(): void {
    this.inputClaimed = false;
  }

  /** STDIN data; without a TTY an empty record closes stdin (end of file). */
  writeStdin(data: Uint8Array): void {
    if (this.stdinClosed) return;
    if (data.byteLength === 0) {
      if (this.tty) return;
      this.stdinClosed = true;
      this.ends.stdin.end();
      return;
    }
    this.ends.stdin.write(data);
  }

  /** A TTY_INFO control record: the terminal's new window size (ignored without a TTY). */
  resize(size: TtySize): void {
    if (!this.tty || !this.ends.control) return;
    this.ends.control.write(`${Math.trunc(size.rows)} ${Math.trunc(size.columns)}\n`);
  }
}

/**
 * The pty relay run as `python3 -c PTY_HELPER rows columns file argv0 [args...]`. Its fd 3 is a
 * socket to the agent: it first writes `pid <command pid>`, then reads `rows columns` lines.
 */
export const PTY_HELPER = String.raw`
import errno, fcntl, os, select, signal, struct, sys, termios
rows, cols, path, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def winsize(fd, r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', r, c, 0, 0))
master, slave = os.openpty()
winsize(slave, rows, cols)
pid = os.fork()
if pid == 0:
    try:
        os.close(master)
        os.close(3)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.execvp(path, argv)
    except BaseException as e:
        os.write(2, ('Failed to execute %s: %s\r\n' % (path, e)).encode())
    os._exit(127)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, lambda *a: None)
os.close(slave)
os.write(3, b'pid %d\n' % pid)
fl = fcntl.fcntl(master, fcntl.F_GETFL)
fcntl.fcntl(master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
pending, stdin_open, control_open, status, ctl, out_ok = b'', True, True, None, b'', True
def out(data):
    global out_ok
    while data and out_ok:
        try:
            data = data[os.write(1, data):]
        except OSError:
            out_ok = False
while True:
    r = [master]
    if stdin_open and len(pending) < 65536:
        r.append(0)
    if control_open:
        r.append(3)
    w = [master] if pending else []
    # Once the command has ended, a round of 50 ms with nothing to read ends the relay: the pty
    # can deliver the command's last output after its exit is seen, so never in that same round.
    settled = status is not None
    rr, ww, _ = select.select(r, w, [], 0.05 if settled else 0.5)
    if master in ww:
        try:
            pending = pending[os.write(master, pending):]
        except BlockingIOError:
            pass
        except OSError:
            pending = b''
    if 0 in rr:
        data = os.read(0, 65536)
        if data:
            pending += data
        else:
            stdin_open = False
    if 3 in rr:
        try:
            data = os.read(3, 4096)
        except OSError:
            data = b''
        if not data:
            control_open = False
        ctl += data
        while b'\n' in ctl:
            line, ctl = ctl.split(b'\n', 1)
            parts = line.split()
            if len(parts) == 2:
                try:
                    winsize(master, int(parts[0]), int(parts[1]))
                except (ValueError, OSError, struct.error):
                    pass
    eof = False
    if master in rr:
        try:
            data = os.read(master, 65536)
            if data:
                out(data)
            else:
                eof = True
        except BlockingIOError:
            pass
        except OSError:
            eof = True
    if status is None:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            status = st
    if eof or (settled and master not in rr):
        if status is None:
            status = os.waitpid(pid, 0)[1]
        break
if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)
os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
`;

export interface AttachedLaunchSpec {
  program: ProgramSpec;
  /** The working directory. */
  cwd: string;
  env: Record<string, string>;
  /** A pseudo-terminal of this size; without it plain pipes. */
  tty?: TtySize;
  /** The Python interpreter for the pty relay (default `python3` from PATH). */
  python?: string;
}

export interface AttachedProcess {
  process: ExecutorProcess;
  io: ContainerIO;
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** The helper's first line on fd 3, `pid N`. */
function readChildPid(control: Socket, onPid: (pid: number) => void): void {
  let text = '';
  const onData = (chunk: Buffer) => {
    text += chunk.toString('latin1');
    const newline = text.indexOf('\n');
    if (newline < 0) return;
    control.off('data', onData);
    const match = /^pid (\d+)$/.exec(text.slice(0, newline));
    if (match) onPid(Number(match[1]));
  };
  control.on('data', onData);
}

/**
 * Starts a container process whose stdio the switchboard holds: its own session and process group
 * (as every container of this agent), pipes or a pty. Rejects when it cannot be started.
 */
export async function spawnAttached(spec: AttachedLaunchSpec): Promise<AttachedProcess> {
  let child: ChildProcess;
  let childPid: number | undefined;
  if (spec.tty) {
    const python = spec.python ?? 'python3';
    child = spawn(
      python,
      [
        '-c',
        PTY_HELPER,
        String(spec.tty.rows),
        String(spec.tty.columns),
        spec.program.file,
        spec.program.argv0,
        ...spec.program.args,
      ],
      { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] },
    );
  } else {
    child = spawn(spec.program.file, spec.program.args, {
      argv0: spec.program.argv0,
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
  } catch (err) {
    if (spec.tty && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `a TTY needs '${spec.python ?? 'python3'}' on the agent's PATH (${(err as Error).message})`,
      );
    }
    throw err;
  }
  const control = spec.tty ? (child.stdio[3] as Socket) : undefined;
  if (control) readChildPid(control, (pid) => (childPid = pid));
  const io = new ContainerIO(
    {
      stdin: child.stdin!,
      stdout: child.stdout!,
      stderr: child.stderr!,
      ...(control ? { control } : {}),
    },
    spec.tty !== undefined,
  );
  const pid = child.pid!;
  let hasExited = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      // Whatever the container left behind dies with it, as launcher.ts does for executors.
      signalGroup(pid, 'SIGKILL');
      signalGroup(childPid, 'SIGKILL');
      control?.destroy();
      resolve(rawWaitStatus(code, signal));
    });
  });
  return {
    io,
    process: {
      pid,
      exited,
      get hasExited() {
        return hasExited;
      },
      signal(signal) {
        if (hasExited) return;
        if (childPid === undefined) {
          signalGroup(pid, signal);
          return;
        }
        // The command is a session of its own (its terminal's); the relay outlives other
        // signals so that it can report the command's status.
        signalGroup(childPid, signal);
        if (signal === 'SIGKILL') signalGroup(pid, signal);
      },
    },
  };
}
