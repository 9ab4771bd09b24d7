/**
 * The I/O of checks and health checks: one probe each of HTTP, TCP and a local command, as the
 * command executor runs them (the default executor's command probe is nested-probe.ts). Each
 * settles with a ProbeOutcome and never rejects; an abort (timeout, pause) ends whatever it
 * started.
 *
 * - HTTP: GET `scheme://127.0.0.1:port/path` the way Mesos' `curl -s -S -L -k` does: redirects
 *   followed (at most 50, curl's default), certificates not verified, the body read and dropped;
 *   the outcome is the final status code. No answer at all is an error.
 * - TCP: a connection to `127.0.0.1:port` (Mesos' `mesos-tcp-connect`): connected or not.
 * - Command: the check's command as a process in the task's sandbox, with the task's environment,
 *   as the task's user, in a session of its own so that a timeout can SIGKILL its whole tree (as
 *   Mesos' `os::killtree`); its output goes to the executor's stderr (the sandbox `stderr`), as in
 *   Mesos. The outcome is the exit code; a death by signal is an error.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CommandLaunchSpec, UserIdentity } from '../command-launch.js';
import { signalProcessTree } from '../process-tree.js';
import { describeExit } from '../status.js';
import type { Probe, ProbeOutcome } from './checker.js';

/** curl's default `--max-redirs` under `-L`. */
export const HTTP_MAX_REDIRECTS = 50;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One GET; the status and the Location header, or why there was no answer. */
function getOnce(
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; location: string | undefined } | { error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (value: { status: number; location: string | undefined } | { error: string }) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    const options = {
      method: 'GET',
      agent: false as const,
      signal,
      headers: { Accept: '*/*', 'User-Agent': 'strata-health-check' },
    };
    let request: ReturnType<typeof httpRequest>;
    try {
      request =
        url.protocol === 'https:'
          ? // `curl -k`: the task's certificate is not for 127.0.0.1, and needs no trust to say it is up.
            httpsRequest(url, { ...options, rejectUnauthorized: false })
          : httpRequest(url, options);
    } catch (err) {
      done({ error: errorText(err) });
      return;
    }
    request.on('error', (err) => done({ error: errorText(err) }));
    request.on('response', (response: IncomingMessage) => {
      const location = response.headers.location;
      const status = response.statusCode ?? 0;
      // The status decides; the body is read only so the connection ends cleanly.
      response.on('error', () => {});
      response.on('end', () => done({ status, location }));
      response.on('close', () => done({ status, location }));
      response.resume();
    });
    request.end();
  });
}

export function httpProbe(target: string): Probe {
  return async (signal) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch (err) {
      return { kind: 'error', message: `Invalid URL '${target}': ${errorText(err)}` };
    }
    for (let redirects = 0; ; redirects += 1) {
      const answer = await getOnce(url, signal);
      if ('error' in answer) return { kind: 'error', message: `GET ${url.href} failed: ${answer.error}` };
      if (!REDIRECT_CODES.has(answer.status) || answer.location === undefined) {
        return { kind: 'http', statusCode: answer.status };
      }
      if (redirects >= HTTP_MAX_REDIRECTS) {
        return { kind: 'error', message: `Maximum (${HTTP_MAX_REDIRECTS}) redirects followed` };
      }
      try {
        url = new URL(answer.location, url);
      } catch (err) {
        return { kind: 'error', message: `Bad redirect to '${answer.location}': ${errorText(err)}` };
      }
    }
  };
}

export function tcpProbe(host: string, port: number): Probe {
  return (signal) =>
    new Promise<ProbeOutcome>((resolve) => {
      const socket = connect({ host, port });
      let settled = false;
      const done = (succeeded: boolean) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve({ kind: 'tcp', succeeded });
      };
      const onAbort = () => done(false);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.once('close', () => done(false));
    });
}

export interface LocalCommandProbeOptions {
  spec: CommandLaunchSpec;
  /** The identity the task runs as; undefined keeps the executor's. */
  user: UserIdentity | undefined;
  cwd: string;
  /** Where the check's stdin/stdout/stderr go; Mesos: nothing in, both outputs to its stderr. */
  stdio?: StdioOptions;
}

export function localCommandProbe(options: LocalCommandProbeOptions): Probe {
  const { spec, user, cwd } = options;
  return (signal) =>
    new Promise<ProbeOutcome>((resolve) => {
      if (signal.aborted) {
        resolve({ kind: 'error', message: 'aborted before it started' });
        return;
      }
      let child: ChildProcess;
      try {
        child = spawn(spec.file, spec.args, {
          argv0: spec.argv0,
          cwd,
          env: spec.env,
          detached: true,
          stdio: options.stdio ?? ['ignore', 2, 2],
          ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
        });
      } catch (err) {
        resolve({ kind: 'error', message: `Failed to run the command: ${errorText(err)}` });
        return;
      }
      let settled = false;
      const done = (outcome: ProbeOutcome) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = () => {
        // A timed-out check leaves nothing behind: its whole tree goes.
        if (child.pid !== undefined) signalProcessTree(child.pid, 'SIGKILL');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('error', (err) =>
        done({ kind: 'error', message: `Failed to run the command: ${err.message}` }),
      );
      child.once('exit', (code, signalName) => {
        // Whatever it started in its session goes with it, as with the task itself.
        if (child.pid !== undefined) signalProcessTree(child.pid, 'SIGKILL');
        if (signalName !== null) {
          done({ kind: 'error', message: `Command ${describeExit({ signal: signalName })}` });
        } else {
          done({ kind: 'command', exitCode: code ?? 0 });
        }
      });
    });
}

/** How the command executor builds its probes; unit tests hand it fakes. */
export interface LocalProbeFactory {
  http(url: string): Probe;
  tcp(host: string, port: number): Probe;
  command(options: LocalCommandProbeOptions): Probe;
}

export const localProbes: LocalProbeFactory = {
  http: httpProbe,
  tcp: tcpProbe,
  command: localCommandProbe,
};
