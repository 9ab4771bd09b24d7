/**
 * Container loggers (mesos-internals.md section 4.12): where an executor's (or a nested
 * container's) stdout and stderr go.
 *
 * - The sandbox logger (default, `--container_logger` empty): `stdout` and `stderr` files in the
 *   sandbox, appended to by the process itself.
 * - The logrotate logger (`--container_logger=logrotate`, or Mesos' module name
 *   `org_apache_mesos_LogrotateContainerLogger`): each stream is a pipe into a companion process
 *   (logrotate-logger.ts) that writes the sandbox file and rotates it once it would pass
 *   `--logrotate_max_stdout_size` / `--logrotate_max_stderr_size`: `stdout` → `stdout.1` → ... →
 *   `stdout.N`, N from `rotate N` in `--logrotate_stdout_options` / `--logrotate_stderr_options`.
 *   Companions run in their own process group, so they outlive an agent restart like the
 *   executor, and they exit at end of file, once every process writing the stream is gone.
 *
 * Per-container overrides, as in Mesos, come from the container's environment:
 * `CONTAINER_LOGGER_MAX_STDOUT_SIZE`, `CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS` and the stderr
 * pair.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseBytes } from '../common/units.js';
import type { LaunchSpec } from './launcher.js';

/** The `--container_logger` values that select rotation (ours, and the Mesos module's name). */
export const CONTAINER_LOGGERS = ['logrotate', 'org_apache_mesos_LogrotateContainerLogger'] as const;

/** Mesos' minimum for `max_stdout_size` / `max_stderr_size`: one page. */
export const MIN_LOGROTATE_SIZE = 4096;

/** When `rotate N` is absent from the options: logrotate's own default, no old file kept. */
const LOGROTATE_DEFAULT_KEEP = 0;

/** The prefix of the per-container override variables (the Mesos module's default). */
export const OVERRIDE_PREFIX = 'CONTAINER_LOGGER_';

export interface RotationPolicy {
  /** A file is rotated before it would grow past this many bytes. */
  maxSize: number;
  /** How many rotated files (`.1` ... `.N`) are kept. */
  keep: number;
}

/** logrotate directives that make sense for a stream the logger itself rotates by size. */
const IGNORED_DIRECTIVES = new Set(['missingok', 'notifempty', 'nocompress', 'copytruncate', 'nomail']);

/**
 * Reads logrotate options. `rotate N` is honoured; `size` is the module's to set (ignored, as Mesos
 * overrides it); a few directives that change nothing here are accepted; anything else is refused
 * so a configuration never silently means something else than it says.
 */
export function parseLogrotateOptions(text: string): { keep: number } | { error: string } {
  let keep = LOGROTATE_DEFAULT_KEEP;
  for (const raw of text.split(/[\n;]/)) {
    const words = raw.trim().split(/\s+/).filter(Boolean);
    const [directive, argument] = words;
    if (directive === undefined) continue;
    if (directive === 'rotate') {
      if (argument === undefined || !/^\d+$/.test(argument) || words.length !== 2) {
        return { error: `'${raw.trim()}': expected 'rotate N' with N a whole number` };
      }
      keep = Number(argument);
      if (keep > 1000) return { error: `'${raw.trim()}': keeping more than 1000 files is not supported` };
      continue;
    }
    if (directive === 'size' || directive === 'maxsize' || IGNORED_DIRECTIVES.has(directive)) continue;
    return { error: `logrotate directive '${directive}' is not supported (supported: rotate N)` };
  }
  return { keep };
}

export function logrotateOptionsProblem(text: string): string | undefined {
  const parsed = parseLogrotateOptions(text);
  return 'error' in parsed ? parsed.error : undefined;
}

export interface LogrotateSettings {
  stdout: RotationPolicy;
  stderr: RotationPolicy;
}

/** What the agent's flags say, before per-container overrides. */
export interface LogrotateFlags {
  maxStdoutSize: number;
  maxStderrSize: number;
  stdoutOptions: string;
  stderrOptions: string;
}

/**
 * The policies for one container: the flags, overridden by the container's
 * `CONTAINER_LOGGER_*` variables. A bad override is reported through `warn` and ignored (the
 * container still starts, with the agent's settings).
 */
export function containerRotation(
  flags: LogrotateFlags,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void = () => {},
): LogrotateSettings {
  const size = (stream: 'STDOUT' | 'STDERR', fallback: number): number => {
    const name = `${OVERRIDE_PREFIX}MAX_${stream}_SIZE`;
    const text = env[name];
    if (text === undefined) return fallback;
    const bytes = parseBytes(text);
    if (bytes === undefined || bytes < MIN_LOGROTATE_SIZE) {
      warn(`${name}='${text}' is not a size of at least ${MIN_LOGROTATE_SIZE}B; using the agent's setting`);
      return fallback;
    }
    return bytes;
  };
  const keep = (stream: 'STDOUT' | 'STDERR', fallback: string): number => {
    const name = `${OVERRIDE_PREFIX}LOGROTATE_${stream}_OPTIONS`;
    const override = env[name];
    if (override !== undefined) {
      const parsed = parseLogrotateOptions(override);
      if ('keep' in parsed) return parsed.keep;
      warn(`${name}: ${parsed.error}; using the agent's setting`);
    }
    const parsed = parseLogrotateOptions(fallback);
    return 'keep' in parsed ? parsed.keep : LOGROTATE_DEFAULT_KEEP;
  };
  return {
    stdout: { maxSize: size('STDOUT', flags.maxStdoutSize), keep: keep('STDOUT', flags.stdoutOptions) },
    stderr: { maxSize: size('STDERR', flags.maxStderrSize), keep: keep('STDERR', flags.stderrOptions) },
  };
}

/**
 * A file that never grows past `maxSize`: a write that would cross the limit first rotates
 * (`path` → `path.1` → ... → `path.keep`, the oldest dropped) and continues in a fresh file; a
 * write larger than a whole file is split across files. Synchronous on purpose: it runs in the
 * companion process, which does nothing else, and sync writes keep the order trivially right.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    readonly path: string,
    readonly policy: RotationPolicy,
  ) {
    this.fd = openSync(path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Uint8Array): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.size >= this.policy.maxSize) this.rotate();
      const room = this.policy.maxSize - this.size;
      const piece = rest.length <= room ? rest : rest.subarray(0, room);
      let written = 0;
      while (written < piece.length) written += writeSync(this.fd, piece, written, piece.length - written);
      this.size += piece.length;
      rest = rest.subarray(piece.length);
    }
  }

  /** Shifts the rotated files up by one and starts an empty file. */
  rotate(): void {
    closeSync(this.fd);
    const numbered = (n: number) => `${this.path}.${n}`;
    if (this.policy.keep === 0) {
      rmSync(this.path, { force: true });
    } else {
      rmSync(numbered(this.policy.keep), { force: true });
      for (let n = this.policy.keep - 1; n >= 1; n--) {
        if (existsSync(numbered(n))) renameSync(numbered(n), numbered(n + 1));
      }
      renameSync(this.path, numbered(1));
    }
    this.fd = openSync(this.path, 'a');
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** What a process is started with for its stdout and stderr. */
export interface ContainerIO {
  stdout: number | Writable;
  stderr: number | Writable;
  /** The files `stdout` and `stderr` append to, when they are plain files. */
  paths?: { stdout: string; stderr: string } | undefined;
  /** Called once the process has been spawned (or failed to): drops the agent's own copies. */
  release(): void;
}

export type ContainerLogger = (spec: LaunchSpec) => Promise<ContainerIO>;

/** Mesos' SandboxContainerLogger: the process appends to `<sandbox>/stdout` and `<sandbox>/stderr`. */
export const sandboxLogger: ContainerLogger = async (spec) => {
  const stdout = openSync(join(spec.sandbox, 'stdout'), 'a');
  let stderr: number;
  try {
    stderr = openSync(join(spec.sandbox, 'stderr'), 'a');
  } catch (err) {
    closeSync(stdout);
    throw err;
  }
  return {
    stdout,
    stderr,
    paths: { stdout: join(spec.sandbox, 'stdout'), stderr: join(spec.sandbox, 'stderr') },
    release: () => {
      closeSync(stdout);
      closeSync(stderr);
    },
  };
};

/** `node <dist>/src/agent/logrotate-logger.js`, the companion that writes and rotates one stream. */
export function logrotateCompanionScript(): string | undefined {
  const script = fileURLToPath(new URL('./logrotate-logger.js', import.meta.url));
  return existsSync(script) ? script : undefined;
}

async function startCompanion(path: string, policy: RotationPolicy, script: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [script, `--path=${path}`, `--max_size=${policy.maxSize}`, `--keep=${policy.keep}`],
    {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      // Its own process group: killing the container's group must not take its logger with it,
      // or the last lines would be lost; it ends by itself at end of file.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  return child;
}

/**
 * Mesos' LogrotateContainerLogger: one companion per stream, the container writing into pipes.
 * Falls back to the sandbox files (with a warning) when the companion script is not built.
 */
export function logrotateLogger(
  flags: LogrotateFlags,
  warn: (message: string) => void,
  script: string | undefined = logrotateCompanionScript(),
): ContainerLogger {
  return async (spec) => {
    if (script === undefined) {
      warn('the logrotate companion is not built; writing plain stdout/stderr files');
      return sandboxLogger(spec);
    }
    const settings = containerRotation(flags, spec.env, warn);
    const stdout = await startCompanion(join(spec.sandbox, 'stdout'), settings.stdout, script);
    let stderr: ChildProcess;
    try {
      stderr = await startCompanion(join(spec.sandbox, 'stderr'), settings.stderr, script);
    } catch (err) {
      stdout.stdin?.destroy();
      throw err;
    }
    return {
      stdout: stdout.stdin!,
      stderr: stderr.stdin!,
      // Once the container holds the write ends, ours must go: the companions see end of file
      // only when every writer has closed.
      release: () => {
        stdout.stdin?.destroy();
        stderr.stdin?.destroy();
      },
    };
  };
}
