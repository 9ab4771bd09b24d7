/**
 * The master's flags: Mesos' names and defaults (mesos-internals.md section 5.11), declared once.
 */
import { LOG_LEVELS } from '../common/log.js';
import {
  durationOption,
  enumOption,
  formatHelp,
  intOption,
  type OptionTable,
  stringOption,
  validPort,
} from '../common/options.js';
import { parseWeights } from './roles.js';

export const masterFlags = {
  ip: stringOption({ help: 'IP address to listen on', default: '127.0.0.1' }),
  port: intOption({ help: 'port to listen on', default: 5050, validate: validPort }),
  hostname: stringOption({ help: 'hostname to advertise to agents, frameworks and in redirects' }),
  work_dir: stringOption({
    help:
      'where the master keeps its registry, the embedded local store (default: a per-user state\n' +
      'directory, ~/.local/state/strata/master-<port>)',
  }),
  cluster: stringOption({ help: 'human-readable cluster name shown in the web UI and state' }),
  offer_timeout: durationOption({ help: 'rescind an offer not used within this time (unset: never)' }),
  agent_ping_timeout: durationOption({ help: 'time an agent has to answer a ping', default: 15_000 }),
  max_agent_ping_timeouts: intOption({
    help: 'missed pings before an agent is marked unreachable',
    default: 5,
    validate: (n) => (n < 1 ? 'must be at least 1' : undefined),
  }),
  agent_reregister_timeout: durationOption({
    help: 'time agents have to re-register after a master failover (minimum 10mins)',
    default: 600_000,
    validate: (ms) => (ms < 600_000 ? 'must be at least 10mins, as in Mesos' : undefined),
  }),
  allocation_interval: durationOption({
    help: 'time between batched allocation cycles',
    default: 1000,
    validate: (ms) => (ms <= 0 ? 'must be positive' : undefined),
  }),
  min_allocatable_resources: stringOption({
    help: "smallest offer worth making: alternatives separated by '|', e.g. cpus:0.01|mem:32",
    default: 'cpus:0.01|mem:32',
  }),
  max_completed_frameworks: intOption({ help: 'completed frameworks kept for state endpoints', default: 50 }),
  max_completed_tasks_per_framework: intOption({ help: 'completed tasks kept per framework', default: 1000 }),
  max_unreachable_tasks_per_framework: intOption({
    help: 'unreachable tasks kept per framework',
    default: 1000,
  }),
  max_operator_event_stream_subscribers: intOption({
    help: 'open operator event streams (SUBSCRIBE on /api/v1); beyond it the oldest is closed',
    default: 1000,
    validate: (n) => (n < 1 ? 'must be at least 1' : undefined),
  }),
  operator_event_replay_capacity: intOption({
    help:
      'operator events kept for streams that resume after a dropped connection (Strata\n' +
      'extension, docs/operator-api.md; 0 = none)',
    default: 10_000,
    validate: (n) => (n < 0 ? 'must not be negative' : undefined),
  }),
  weights: stringOption({
    help:
      'role weights, e.g. eng=2,ops=1 (deprecated in Mesos; prefer UPDATE_WEIGHTS); ignored once\n' +
      'weights are stored in the registry',
    validate: (text) => {
      const parsed = parseWeights(text);
      return typeof parsed === 'string' ? parsed : undefined;
    },
  }),
  logging_level: enumOption({ help: 'log level', default: 'info', choices: LOG_LEVELS }),
  heartbeat_interval: durationOption({
    help: 'interval of HEARTBEAT events on scheduler streams (Mesos: 15secs)',
    default: 15_000,
  }),
} satisfies OptionTable;

export type MasterFlags = typeof masterFlags;

export const masterHelp = (): string =>
  formatHelp(masterFlags, 'strata master --work_dir=DIR [--ip=127.0.0.1] [--port=5050] [flags]');
