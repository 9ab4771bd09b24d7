/**
 * A task's `health_check` (HealthCheck) and `check` (CheckInfo) reduced to what the executor's
 * checkers need: which probe to run and when (mesos-internals §4.10, mesos-v1-api §6.5). Pure.
 *
 * Durations come in as `double` seconds with the proto defaults (delay 15 s, interval 10 s,
 * timeout 20 s, grace 10 s, 3 consecutive failures), which the generated messages already return
 * for unset fields. A timeout of 0 means no timeout, as Mesos' CheckInfo documents. The master has
 * validated the messages (type set, the matching sub-message present, no negative duration); what
 * still does not make sense here (a launch from an agent that did not validate) is refused with a
 * reason rather than run.
 */
import { isFieldSet } from '@bufbuild/protobuf';
import {
  type CheckInfo,
  CheckInfo_Type,
  CheckInfoSchema,
  type CommandInfo,
  type HealthCheck,
  HealthCheck_Type,
  HealthCheckSchema,
  NetworkInfo_Protocol,
} from '../../wire/gen/mesos/v1/mesos_pb.js';

/** What one probe does. Network probes always target the task's own host, as Mesos' do. */
export type ProbeSpec =
  | { kind: 'command'; command: CommandInfo }
  | { kind: 'http'; url: string }
  | { kind: 'tcp'; host: string; port: number };

export interface ProbeTiming {
  /** From the checker's start to the first probe. */
  delayMs: number;
  /** From the end of one probe to the start of the next (Mesos measures it that way too). */
  intervalMs: number;
  /** How long one probe may take; 0 for no limit. */
  timeoutMs: number;
}

export interface HealthCheckSpec extends ProbeTiming {
  probe: ProbeSpec;
  /** Failures in a row (outside the grace period) that make the executor kill the task. */
  consecutiveFailures: number;
  /** From the checker's start: failures before the first success are ignored within it. */
  gracePeriodMs: number;
}

export interface CheckSpec extends ProbeTiming {
  type: CheckInfo_Type.COMMAND | CheckInfo_Type.HTTP | CheckInfo_Type.TCP;
  probe: ProbeSpec;
}

export type Parsed<T> = { ok: true; spec: T } | { ok: false; message: string };

const IPV4_LOOPBACK = '127.0.0.1';
const IPV6_LOOPBACK = '::1';

function secondsToMs(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function negativeDuration(fields: Record<string, number>): string | undefined {
  for (const [name, value] of Object.entries(fields)) {
    if (!(value >= 0)) return `Expecting '${name}' to be non-negative`;
  }
  return undefined;
}

/** `scheme://host:port<path>`; an IPv6 host goes in brackets. */
export function probeUrl(scheme: string, host: string, port: number, path: string): string {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${hostPart}:${port}${path}`;
}

export function parseHealthCheck(check: HealthCheck): Parsed<HealthCheckSpec> {
  const problem = negativeDuration({
    delay_seconds: check.delaySeconds,
    interval_seconds: check.intervalSeconds,
    timeout_seconds: check.timeoutSeconds,
    grace_period_seconds: check.gracePeriodSeconds,
  });
  if (problem !== undefined) return { ok: false, message: problem };
  let probe: ProbeSpec;
  switch (check.type) {
    case HealthCheck_Type.COMMAND:
      if (check.command === undefined) {
        return { ok: false, message: "Expecting 'command' to be set for COMMAND health check" };
      }
      probe = { kind: 'command', command: check.command };
      break;
    case HealthCheck_Type.HTTP: {
      const http = check.http;
      if (http === undefined) {
        return { ok: false, message: "Expecting 'http' to be set for HTTP health check" };
      }
      const scheme = http.scheme === '' ? 'http' : http.scheme;
      if (scheme !== 'http' && scheme !== 'https') {
        return { ok: false, message: `Unsupported HTTP health check scheme: '${http.scheme}'` };
      }
      const host = http.protocol === NetworkInfo_Protocol.IPv6 ? IPV6_LOOPBACK : IPV4_LOOPBACK;
      probe = { kind: 'http', url: probeUrl(scheme, host, http.port, http.path) };
      break;
    }
    case HealthCheck_Type.TCP: {
      const tcp = check.tcp;
      if (tcp === undefined) {
        return { ok: false, message: "Expecting 'tcp' to be set for TCP health check" };
      }
      const host = tcp.protocol === NetworkInfo_Protocol.IPv6 ? IPV6_LOOPBACK : IPV4_LOOPBACK;
      probe = { kind: 'tcp', host, port: tcp.port };
      break;
    }
    default:
      return {
        ok: false,
        message: isFieldSet(check, HealthCheckSchema.field.type)
          ? `'${HealthCheck_Type[check.type] ?? check.type}' is not a valid health check type`
          : "HealthCheck must specify 'type'",
      };
  }
  return {
    ok: true,
    spec: {
      probe,
      delayMs: secondsToMs(check.delaySeconds),
      intervalMs: secondsToMs(check.intervalSeconds),
      timeoutMs: secondsToMs(check.timeoutSeconds),
      consecutiveFailures: check.consecutiveFailures,
      gracePeriodMs: secondsToMs(check.gracePeriodSeconds),
    },
  };
}

export function parseCheck(check: CheckInfo): Parsed<CheckSpec> {
  const problem = negativeDuration({
    delay_seconds: check.delaySeconds,
    interval_seconds: check.intervalSeconds,
    timeout_seconds: check.timeoutSeconds,
  });
  if (problem !== undefined) return { ok: false, message: problem };
  const timing: ProbeTiming = {
    delayMs: secondsToMs(check.delaySeconds),
    intervalMs: secondsToMs(check.intervalSeconds),
    timeoutMs: secondsToMs(check.timeoutSeconds),
  };
  switch (check.type) {
    case CheckInfo_Type.COMMAND: {
      const command = check.command?.command;
      if (command === undefined) {
        return { ok: false, message: "Expecting 'command' to be set for COMMAND check" };
      }
      return { ok: true, spec: { type: check.type, probe: { kind: 'command', command }, ...timing } };
    }
    case CheckInfo_Type.HTTP: {
      const http = check.http;
      if (http === undefined) return { ok: false, message: "Expecting 'http' to be set for HTTP check" };
      // CheckInfo.Http has no scheme or protocol: plain HTTP over IPv4.
      const url = probeUrl('http', IPV4_LOOPBACK, http.port, http.path);
      return { ok: true, spec: { type: check.type, probe: { kind: 'http', url }, ...timing } };
    }
    case CheckInfo_Type.TCP: {
      const tcp = check.tcp;
      if (tcp === undefined) return { ok: false, message: "Expecting 'tcp' to be set for TCP check" };
      const probe: ProbeSpec = { kind: 'tcp', host: IPV4_LOOPBACK, port: tcp.port };
      return { ok: true, spec: { type: check.type, probe, ...timing } };
    }
    default:
      return {
        ok: false,
        message: isFieldSet(check, CheckInfoSchema.field.type)
          ? `'${CheckInfo_Type[check.type] ?? check.type}' is not a valid check type`
          : "CheckInfo must specify 'type'",
      };
  }
}
