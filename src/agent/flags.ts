/**
 * The agent's flags: Mesos' names and defaults (mesos-internals.md section 4.14), declared once.
 */
import { LOG_LEVELS } from '../common/log.js';
import {
  boolOption,
  bytesOption,
  durationOption,
  enumOption,
  formatHelp,
  intOption,
  numberOption,
  type OptionTable,
  stringOption,
  validPort,
} from '../common/options.js';
import { provisionerFlags } from '../containerizer/provisioner/flags.js';
import { CONTAINER_LOGGERS, logrotateOptionsProblem, MIN_LOGROTATE_SIZE } from './container-logger.js';

export const agentFlags = {
  master: stringOption({
    help: 'the master to register with: HOST:PORT (zk:// once HA lands)',
    required: true,
  }),
  ip: stringOption({ help: 'IP address to listen on', default: '127.0.0.1' }),
  port: intOption({ help: 'port to listen on', default: 5051, validate: validPort }),
  hostname: stringOption({ help: 'hostname to advertise (default: the IP address)' }),
  work_dir: stringOption({
    help:
      'where the agent keeps sandboxes and checkpoints (default: a per-user state directory,\n' +
      '~/.local/state/strata/agent-<port>)',
  }),
  resources: stringOption({
    help:
      'total resources to offer, e.g. cpus:2;mem:1024;disk:4096;ports:[31000-32000]\n' +
      'or a JSON array of Resource; detected from the machine (cgroup-aware) when unset',
  }),
  attributes: stringOption({ help: 'attributes, e.g. rack:r1;zone:z2;level:3' }),
  default_role: stringOption({ help: 'role for resources that name none', default: '*' }),
  executor_registration_timeout: durationOption({
    help: 'time an executor has to subscribe after launch',
    default: 60_000,
  }),
  executor_shutdown_grace_period: durationOption({
    help: 'default time an executor has to exit after SHUTDOWN',
    default: 5000,
  }),
  switch_user: boolOption({
    help:
      'run executors and tasks as the user who submitted them (ExecutorInfo/CommandInfo user, else\n' +
      "FrameworkInfo.user; needs root); false: as the agent's own user",
    default: true,
  }),
  executor_idle_timeout: durationOption({
    help:
      'shut down a subscribed executor that has had no task for this long, freeing its resources\n' +
      '(0secs: never, as Mesos does)',
    default: 600_000,
  }),
  executor_reregistration_timeout: durationOption({
    help:
      'time executors have to re-subscribe after an agent restart; also MESOS_SUBSCRIPTION_BACKOFF_MAX\n' +
      'for executors of checkpointing frameworks (at most 15secs)',
    default: 2000,
    validate: (ms) => (ms > 15_000 ? 'must be at most 15secs' : undefined),
  }),
  recover: enumOption({
    help:
      'after a restart: reconnect (re-attach to executors of checkpointing frameworks that still run)\n' +
      'or cleanup (kill them all, then exit; for incompatible upgrades)',
    default: 'reconnect',
    choices: ['reconnect', 'cleanup'] as const,
  }),
  strict: boolOption({
    help: 'fail recovery on any damaged checkpoint; false skips what cannot be read',
    default: true,
  }),
  runtime_dir: stringOption({
    help:
      'where container pids are recorded, for every framework (finds orphans and nested containers\n' +
      'after a restart; default: <work_dir>/runtime)',
  }),
  recovery_timeout: durationOption({
    help: 'how long executors of checkpointing frameworks wait for a restarted agent (MESOS_RECOVERY_TIMEOUT)',
    default: 15 * 60_000,
  }),
  http_heartbeat_interval: durationOption({
    help: 'interval of HEARTBEAT events on executor event streams',
    default: 30_000,
    validate: (ms) => (ms <= 0 ? 'must be positive' : undefined),
  }),
  executor_environment_variables: stringOption({
    help:
      'JSON object of environment variables for executors, e.g. {"PATH":"/bin:/usr/bin"};\n' +
      "when set it replaces the agent's own environment that executors otherwise inherit",
  }),
  registration_backoff_factor: durationOption({
    help: 'initial backoff between (re-)registration attempts, doubling up to 1 minute',
    default: 1000,
  }),
  external_log_file: stringOption({
    help: 'a log file of this agent kept by something else (systemd, a wrapper); served at /files as /slave/log',
  }),
  gc_delay: durationOption({
    help:
      'how long the sandboxes of completed executors are kept; shortened as the disk of --work_dir fills\n' +
      '(max age = gc_delay * max(0, 1 - gc_disk_headroom - disk usage))',
    default: 7 * 24 * 3_600_000,
    validate: (ms) => (ms < 0 ? 'must not be negative' : undefined),
  }),
  gc_disk_headroom: numberOption({
    help: 'fraction of the work_dir disk to keep free when ageing sandboxes (0.0 to 1.0)',
    default: 0.1,
    validate: (v) => (v < 0 || v > 1 ? 'must be between 0.0 and 1.0' : undefined),
  }),
  disk_watch_interval: durationOption({
    help: 'how often the disk usage of --work_dir is checked to prune old sandboxes',
    default: 60_000,
    validate: (ms) => (ms <= 0 ? 'must be positive' : undefined),
  }),
  container_logger: stringOption({
    help:
      "where executors' stdout/stderr go: empty for the sandbox files (Mesos' default), or\n" +
      `${CONTAINER_LOGGERS.join(' / ')} to rotate them by size`,
    default: '',
    validate: (v) =>
      v === '' || (CONTAINER_LOGGERS as readonly string[]).includes(v)
        ? undefined
        : `'${v}' is not a container logger; use one of: ${CONTAINER_LOGGERS.join(', ')} (or nothing)`,
  }),
  logrotate_max_stdout_size: bytesOption({
    help: 'with --container_logger=logrotate: size at which stdout is rotated',
    default: 10 * 1024 * 1024,
    validate: (b) =>
      b < MIN_LOGROTATE_SIZE ? `must be at least one page (${MIN_LOGROTATE_SIZE}B)` : undefined,
  }),
  logrotate_max_stderr_size: bytesOption({
    help: 'with --container_logger=logrotate: size at which stderr is rotated',
    default: 10 * 1024 * 1024,
    validate: (b) =>
      b < MIN_LOGROTATE_SIZE ? `must be at least one page (${MIN_LOGROTATE_SIZE}B)` : undefined,
  }),
  logrotate_stdout_options: stringOption({
    help: "with --container_logger=logrotate: logrotate directives for stdout; 'rotate N' keeps N old files",
    default: 'rotate 9',
    validate: logrotateOptionsProblem,
  }),
  logrotate_stderr_options: stringOption({
    help: "with --container_logger=logrotate: logrotate directives for stderr; 'rotate N' keeps N old files",
    default: 'rotate 9',
    validate: logrotateOptionsProblem,
  }),
  logging_level: enumOption({ help: 'log level', default: 'info', choices: LOG_LEVELS }),
  containerizers: stringOption({ help: "containerizers to use; only 'mesos' exists here", default: 'mesos' }),
  isolation: stringOption({
    help:
      'isolators, e.g. cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux (src/containerizer);\n' +
      'empty (default): executors run as plain processes',
    default: '',
  }),
  launcher: stringOption({
    help: 'posix or linux (default: linux for a root agent with --isolation, else posix)',
  }),
  sandbox_directory: stringOption({
    help: 'where a container with an image sees its sandbox',
    default: '/mnt/mesos/sandbox',
  }),
  default_container_info: stringOption({
    help: 'JSON ContainerInfo for executors that carry none (e.g. volumes every container gets)',
  }),
  cgroups_root: stringOption({
    help: 'cgroup (below each hierarchy) that holds the containers',
    default: 'mesos',
  }),
  cgroups_enable_cfs: boolOption({ help: 'cap cpu time at the cpus resource (CFS quota)', default: false }),
  hosted_command_executor: boolOption({
    help:
      'Strata: with the linux launcher, run the command executor of a command task in the agent process ' +
      'and the task itself as the container (false: a Node command executor in every container)',
    default: true,
  }),
  image_providers: stringOption({
    help: 'image providers for containers with an image: docker (needs --isolation with filesystem/linux)',
    default: '',
  }),
  ...provisionerFlags,
} satisfies OptionTable;

export type AgentFlags = typeof agentFlags;

export const agentHelp = (): string =>
  formatHelp(agentFlags, 'strata agent --master=HOST:PORT --work_dir=DIR [--port=5051] [flags]');
