/**
 * Reads the environment an agent hands an executor (reference §3.3), the way Mesos' executor
 * library does: the ids for the Call envelope, where the agent's executor endpoint is, and the
 * timing knobs for shutdown and reconnection. Pure: takes the environment as a plain record, so
 * tests need no process.
 *
 * Required: MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, and the agent's address from
 * MESOS_AGENT_ENDPOINT (`ip:port`) or, failing that, MESOS_SLAVE_PID (`slave(1)@ip:port`).
 * The durations default to Mesos' agent defaults when absent, but a present value that does not
 * parse is an error: a typo must not silently become a default.
 */
import { fail } from '../common/errors.js';
import { parseDuration } from '../common/units.js';

/** Mesos' `--executor_shutdown_grace_period` default. */
export const DEFAULT_SHUTDOWN_GRACE_PERIOD_MS = 5_000;
/** Mesos' `--executor_reregistration_retry_interval` ceiling the agent passes when checkpointing. */
export const DEFAULT_SUBSCRIPTION_BACKOFF_MAX_MS = 2_000;
/** Mesos' `--recovery_timeout` default. */
export const DEFAULT_RECOVERY_TIMEOUT_MS = 15 * 60_000;
/** The agent's libprocess id when MESOS_SLAVE_PID does not name one. */
export const DEFAULT_AGENT_PROCESS_ID = 'slave(1)';

export interface AgentAddress {
  host: string;
  port: number;
}

export interface ExecutorEnvironment {
  frameworkId: string;
  executorId: string;
  agent: AgentAddress;
  /** `http://<host:port>/<agent process id>/api/v1/executor`. */
  agentUrl: string;
  /** The sandbox as the task sees it (MESOS_SANDBOX, else MESOS_DIRECTORY), if the agent said. */
  sandbox: string | undefined;
  /** The host path of the sandbox (MESOS_DIRECTORY), if the agent said. */
  directory: string | undefined;
  /** Framework checkpointing: only then does a lost agent connection get retried (§3.3). */
  checkpoint: boolean;
  shutdownGracePeriodMs: number;
  subscriptionBackoffMaxMs: number;
  recoveryTimeoutMs: number;
  /** Bearer token for the executor API when the agent enforces executor authentication. */
  authenticationToken: string | undefined;
}

export type EnvironmentRecord = Readonly<Record<string, string | undefined>>;

/** Variables the executor consumes itself and must not hand on to the task it runs. */
export const EXECUTOR_PRIVATE_VARIABLES: readonly string[] = [
  'MESOS_EXECUTOR_AUTHENTICATION_TOKEN',
  'STRATA_TASK_COMMAND',
];

/**
 * Parses the executor environment; throws EXECUTOR_ENV_MISSING / EXECUTOR_ENV_INVALID naming the
 * variable, in Mesos' wording ("Expecting 'X' to be set in the environment").
 */
export function readExecutorEnvironment(env: EnvironmentRecord): ExecutorEnvironment {
  const frameworkId = requireVariable(env, 'MESOS_FRAMEWORK_ID');
  const executorId = requireVariable(env, 'MESOS_EXECUTOR_ID');

  const endpointText = nonEmpty(env['MESOS_AGENT_ENDPOINT']);
  const pidText = nonEmpty(env['MESOS_SLAVE_PID']);
  if (endpointText === undefined && pidText === undefined) {
    fail('EXECUTOR_ENV_MISSING', { variable: 'MESOS_AGENT_ENDPOINT' });
  }
  const pid = pidText === undefined ? undefined : parseAgentPid(pidText);
  let agent: AgentAddress;
  if (endpointText !== undefined) {
    const parsed = parseHostPort(endpointText);
    if (typeof parsed === 'string') invalid('MESOS_AGENT_ENDPOINT', endpointText, parsed);
    agent = parsed;
  } else {
    agent = pid!.address;
  }
  const processId = pid?.processId ?? DEFAULT_AGENT_PROCESS_ID;

  const checkpoint = readCheckpoint(env);
  return {
    frameworkId,
    executorId,
    agent,
    agentUrl: `http://${formatHost(agent.host)}:${agent.port}/${processId}/api/v1/executor`,
    sandbox: nonEmpty(env['MESOS_SANDBOX']) ?? nonEmpty(env['MESOS_DIRECTORY']),
    directory: nonEmpty(env['MESOS_DIRECTORY']),
    checkpoint,
    shutdownGracePeriodMs: readDuration(
      env,
      'MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD',
      DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
    ),
    subscriptionBackoffMaxMs: readDuration(
      env,
      'MESOS_SUBSCRIPTION_BACKOFF_MAX',
      DEFAULT_SUBSCRIPTION_BACKOFF_MAX_MS,
    ),
    recoveryTimeoutMs: readDuration(env, 'MESOS_RECOVERY_TIMEOUT', DEFAULT_RECOVERY_TIMEOUT_MS),
    authenticationToken: nonEmpty(env['MESOS_EXECUTOR_AUTHENTICATION_TOKEN']),
  };
}

/** Reads an optional Mesos duration variable (`5secs`, `500ms`); absent → `fallbackMs`. */
export function readDuration(env: EnvironmentRecord, variable: string, fallbackMs: number): number {
  const text = nonEmpty(env[variable]);
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text);
  if (ms === undefined) invalid(variable, text, 'expected a duration such as 5secs, 500ms or 1mins');
  if (ms < 0) invalid(variable, text, 'a duration must not be negative');
  return ms;
}

/**
 * Splits `host:port`, `[v6]:port`; the answer is a string explaining what is wrong when the text is
 * not an address (so callers choose the error and the variable it names).
 */
export function parseHostPort(text: string): AgentAddress | string {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return "expected '[ipv6]:port'";
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return "expected 'ip:port'";
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return "an IPv6 address must be written '[ipv6]:port'";
  }
  if (host.length === 0 || /\s/.test(host)) return "expected 'ip:port'";
  if (!/^\d{1,5}$/.test(portText)) return `'${portText}' is not a port number`;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return `port ${port} is out of range`;
  return { host, port };
}

/** Parses a libprocess UPID `id@host:port` as MESOS_SLAVE_PID carries it. */
export function parseAgentPid(text: string): { processId: string; address: AgentAddress } {
  const at = text.indexOf('@');
  if (at <= 0) invalid('MESOS_SLAVE_PID', text, "expected 'slave(1)@ip:port'");
  const processId = text.slice(0, at);
  if (!/^[A-Za-z0-9_().-]+$/.test(processId)) {
    invalid('MESOS_SLAVE_PID', text, `'${processId}' is not a libprocess id`);
  }
  const address = parseHostPort(text.slice(at + 1));
  if (typeof address === 'string') invalid('MESOS_SLAVE_PID', text, address);
  return { processId, address };
}

function readCheckpoint(env: EnvironmentRecord): boolean {
  const text = nonEmpty(env['MESOS_CHECKPOINT']);
  if (text === undefined) return false;
  if (text === '1') return true;
  if (text === '0') return false;
  return invalid('MESOS_CHECKPOINT', text, "expected '1' or '0'");
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function requireVariable(env: EnvironmentRecord, variable: string): string {
  const value = nonEmpty(env[variable]);
  if (value === undefined) fail('EXECUTOR_ENV_MISSING', { variable });
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

function invalid(variable: string, value: string, detail: string): never {
  return fail('EXECUTOR_ENV_INVALID', { variable, value, detail });
}
