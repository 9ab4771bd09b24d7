/**
 * What each `/metrics/snapshot` key is: a counter (only ever grows while the process runs) or a
 * gauge (goes up and down), and a one-line HELP text. The Prometheus exposition needs both; the
 * snapshot itself, a flat `{key: number}` object, has neither.
 *
 * Rules match keys by pattern so that families (`master/tasks_<state>`, `master/messages_<type>`,
 * `<process>/<resource>_total|used|percent`) need one entry each. A key no rule matches is
 * exported as a gauge with a generic HELP: a new snapshot key is never dropped from `/metrics`,
 * and the catalogue test (test/unit/metrics) names it so it gets a rule.
 */
import type { MetricKind } from './names.js';

export interface MetricDescription {
  kind: Exclude<MetricKind, 'histogram'>;
  help: string;
}

type Rule = [RegExp, MetricDescription['kind'], (match: RegExpExecArray) => string];

const PROCESS: Readonly<Record<string, string>> = { master: 'master', slave: 'agent' };

function proc(match: RegExpExecArray): string {
  return PROCESS[match[1] ?? ''] ?? 'process';
}

function state(name: string | undefined): string {
  return `TASK_${(name ?? '').toUpperCase()}`;
}

const RESOURCE_UNITS: Readonly<Record<string, string>> = {
  cpus: 'CPUs',
  mem: 'memory (MB)',
  disk: 'disk (MB)',
  gpus: 'GPUs',
};

function resource(match: RegExpExecArray): string {
  const what = `${match[3] ? 'revocable ' : ''}${RESOURCE_UNITS[match[2] ?? ''] ?? match[2]}`;
  const where = match[1] === 'master' ? 'in the cluster' : 'on this agent';
  switch (match[4]) {
    case 'total':
      return `Total ${what} ${where}`;
    case 'used':
      return `Allocated ${what} ${where}`;
    default:
      return `Allocated share of the ${what} ${where}, from 0 to 1`;
  }
}

const RULES: readonly Rule[] = [
  [/^master\/elected$/, 'gauge', () => 'Whether this master is the elected leader (1) or not (0)'],
  [/^(master|slave)\/uptime_secs$/, 'gauge', (m) => `Seconds since the ${proc(m)} started`],
  [/^slave\/registered$/, 'gauge', () => 'Whether this agent is registered with a master (1) or not (0)'],
  [
    /^master\/slaves_(active|inactive|connected|disconnected|unreachable)$/,
    'gauge',
    (m) => `Agents that are ${m[1]}`,
  ],
  [
    /^(master|slave)\/frameworks_(active|inactive|connected|disconnected)$/,
    'gauge',
    (m) => `Frameworks that are ${m[2]}${m[1] === 'slave' ? ' on this agent' : ''}`,
  ],
  [
    /^(master|slave)\/tasks_(staging|starting|running|killing|unreachable)$/,
    'gauge',
    (m) => `Tasks in ${state(m[2])} now`,
  ],
  [
    /^(master|slave)\/tasks_(finished|failed|killed|lost|error|dropped|gone|gone_by_operator)$/,
    'counter',
    (m) => `Tasks that reached ${state(m[2])} since the ${proc(m)} started`,
  ],
  [/^master\/outstanding_offers$/, 'gauge', () => 'Offers sent and not yet accepted, declined or rescinded'],
  [/^(master|slave)\/(cpus|mem|disk|gpus)(_revocable)?_(total|used|percent)$/, 'gauge', resource],
  [
    /^(master|slave)\/(valid|invalid)_status_updates$/,
    'counter',
    (m) => `Status updates the ${proc(m)} took as ${m[2]}`,
  ],
  [/^master\/slave_registrations$/, 'counter', () => 'Agents that registered for the first time'],
  [/^master\/slave_reregistrations$/, 'counter', () => 'Agents that re-registered'],
  [/^master\/slave_unreachable_completed$/, 'counter', () => 'Agents marked unreachable'],
  [
    /^master\/messages_([a-z_]+)$/,
    'counter',
    (m) => `Messages of type ${m[1]} the master received (scheduler calls and agent messages)`,
  ],
  [
    /^master\/operator_event_stream_subscribers$/,
    'gauge',
    () => 'Subscribers to the operator API event stream',
  ],
  [/^slave\/executors_(registering|running|terminating)$/, 'gauge', (m) => `Executors ${m[1]} now`],
  [/^slave\/executors_terminated$/, 'counter', () => 'Executors that terminated since the agent started'],
  [/^slave\/executors_preempted$/, 'counter', () => 'Executors preempted since the agent started'],
  [/^slave\/container_launch_errors$/, 'counter', () => 'Containers that failed to launch'],
  [
    /^slave\/executor_directory_max_allowed_age_secs$/,
    'gauge',
    () => 'Oldest sandbox age the last disk check allows before garbage collection, in seconds',
  ],
  [/^allocator\/mesos\/allocation_runs$/, 'counter', () => 'Allocation cycles run'],
  [/^system\/cpus_total$/, 'gauge', () => 'CPUs of this host'],
  [/^system\/load_(1|5|15)min$/, 'gauge', (m) => `Load average of this host over ${m[1]} minutes`],
  [/^system\/mem_total_bytes$/, 'gauge', () => 'Memory of this host in bytes'],
  [/^system\/mem_free_bytes$/, 'gauge', () => 'Free memory of this host in bytes'],
];

/** The description of a known key, or undefined. */
export function describeKnown(key: string): MetricDescription | undefined {
  for (const [pattern, kind, help] of RULES) {
    const match = pattern.exec(key);
    if (match) return { kind, help: help(match) };
  }
  return undefined;
}

/** The description of any key; unknown keys are gauges. */
export function describe(key: string): MetricDescription {
  return describeKnown(key) ?? { kind: 'gauge', help: `Mesos metric ${key}` };
}
