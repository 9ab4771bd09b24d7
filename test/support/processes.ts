/**
 * Real `strata` processes for integration tests: spawned from bin/strata.cjs on loopback, with
 * their logs kept for failure messages, and always killed when the test ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STRATA_BIN = join(REPO_ROOT, 'bin', 'strata.cjs');

/** A port that was free a moment ago (the kernel does not hand it out again right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Executors outlive their agent by design: kills every process whose cwd is under `directory`. */
export function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone already, or not ours to see
    }
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `strata-${prefix}-`));
}

/**
 * Every master and agent a test file started: when the file's process exits (a failed or
 * timed-out test that never reached its stop()), they are killed with it rather than left
 * running (an agent with no master retries for ever).
 */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

export class StrataProcess {
  readonly child: ChildProcess;
  output = '';
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn(process.execPath, [STRATA_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
    };
    started.add(this.child);
    this.child.once('exit', () => started.delete(this.child));
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        resolve(this.exitCode);
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves once `url` answers 200, or rejects with the process' output. */
  async waitForHealth(url: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running)
        throw new Error(`${this.name} exited early (code ${this.exitCode}):\n${this.output}`);
      try {
        const res = await fetch(url);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.name} did not become healthy within ${timeoutMs} ms:\n${this.output}`);
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves with the exit code. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Simulates a crash: SIGKILL, no cleanup. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  waitForExit(): Promise<number | null> {
    return this.exited;
  }
}

export async function startMasterProcess(
  extraFlags: string[] = [],
): Promise<{ process: StrataProcess; port: number; url: string }> {
  const port = await freePort();
  const master = new StrataProcess('master', [
    'master',
    '--ip=127.0.0.1',
    `--port=${port}`,
    `--work_dir=${tempDir('master')}`,
    ...extraFlags,
  ]);
  const url = `http://127.0.0.1:${port}`;
  await master.waitForHealth(`${url}/health`);
  return { process: master, port, url };
}

export async function startAgentProcess(
  masterPort: number,
  extraFlags: string[] = [],
): Promise<{ process: StrataProcess; port: number; url: string; workDir: string }> {
  const port = await freePort();
  const workDir = tempDir('agent');
  const agent = new StrataProcess(`agent:${port}`, [
    'agent',
    `--master=127.0.0.1:${masterPort}`,
    '--ip=127.0.0.1',
    `--port=${port}`,
    `--work_dir=${workDir}`,
    // The frameworks of these tests name users (tester, u) this host does not have; as root the
    // agent would switch to them (and fail, as Mesos does). Tests about users pass --switch_user.
    ...(extraFlags.some((f) => f.startsWith('--switch_user')) ? [] : ['--switch_user=false']),
    ...extraFlags,
  ]);
  const url = `http://127.0.0.1:${port}`;
  await agent.waitForHealth(`${url}/health`);
  return { process: agent, port, url, workDir };
}
