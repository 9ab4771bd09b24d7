/**
 * Wires an agent process together: flags → resources, checkpoint recovery, HTTP server
 * (executor API, endpoints), the Agent, the link to the master, signal handling and an orderly
 * stop. The master link starts only once restart recovery is over (mesos-internals.md 4.1).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearField, create, equals } from '@bufbuild/protobuf';
import { type Clock, systemClock } from '../common/clock.js';
import { fail, StrataError } from '../common/errors.js';
import { createLogger, type Logger, LogLevelControl } from '../common/log.js';
import type { OptionValues } from '../common/options.js';
import { renderFlags } from '../common/options.js';
import { defaultWorkDir } from '../common/paths.js';
import { type Containerizer, createContainerizer } from '../containerizer/agent-wiring.js';
import type { NestedImageLaunch } from '../containerizer/containerizer.js';
import type { RootfsProvider } from '../containerizer/rootfs.js';
import { ProcessCommandRunner } from '../executors/command-runner.js';
import { HttpServer } from '../http/server.js';
import { parseAttributes } from '../resources/index.js';
import { type AgentInfo, AgentInfoSchema, type Resource } from '../wire/gen/mesos/v1/mesos_pb.js';
import { AgentToMaster_Type, AgentToMasterSchema } from '../wire/gen/strata/internal/v1/link_pb.js';
import { parseJson } from '../wire/json-text.js';
import { Agent, DEFAULT_KILL_ESCALATION_MS } from './agent.js';
import {
  Checkpointer,
  DEFAULT_BOOT_ID_FILE,
  metaDir,
  type RecoveredCheckpoint,
  readBootId,
  readCheckpoint,
  readCheckpointedResources,
  resourcesInfoPath,
} from './checkpoint.js';
import { type ContainerLogger, logrotateLogger, sandboxLogger } from './container-logger.js';
import { registerAgentEndpoints } from './endpoints.js';
import { executorApiHandler } from './executor-api.js';
import { agentFiles, registerFilesEndpoints } from './files-endpoints.js';
import { type AgentFlags, agentFlags } from './flags.js';
import { LaunchGate } from './launch-gate.js';
import { type ExecutorProcess, type LaunchSpec, launchExecutor } from './launcher.js';
import { MasterLink } from './master-link.js';
import { AgentCounters, metricsSnapshot, registerMetricsEndpoint } from './metrics.js';
import { registerMonitorEndpoint } from './monitor.js';
import { observers } from './observer.js';
import { agentApiHandler } from './operator-api.js';
import { attachProcess, processBelongsTo } from './recovered-process.js';
import { agentTotalResources, detectedAmounts, probeMachine } from './resources.js';
import { liveSandboxes, SandboxGc } from './sandbox-gc.js';

/** How an agent process ended: 0 after a requested stop, non-zero when the master turned it away. */
export interface AgentExit {
  code: number;
  message?: string;
}

export interface RunningAgent {
  readonly agent: Agent;
  readonly address: { host: string; port: number };
  readonly workDir: string;
  /** The id the master gave this agent, once registered. */
  agentId(): string | undefined;
  /** Settles once the agent has stopped, with the exit code the process should use. */
  readonly closed: Promise<AgentExit>;
  /**
   * Shuts executors down, leaves the master, closes the server. Idempotent. Executors of
   * checkpointing frameworks keep running for the next start (and the agent does not leave the
   * master then) unless `all` is set.
   */
  close(options?: { all?: boolean }): Promise<AgentExit>;
}

export interface StartAgentOptions {
  clock?: Clock;
  logger?: Logger;
  /** SIGINT/SIGTERM stop the agent (default true; in-process tests turn it off). */
  installSignalHandlers?: boolean;
  /** Status update resend interval bounds (Mesos: 10 s doubling to 10 min). */
  statusUpdateRetry?: { minMs: number; maxMs: number };
  /** SIGTERM → SIGKILL delay when an executor outlives its shutdown grace period. */
  killEscalationMs?: number;
  /**
   * The file holding the host's boot id; a different id than the checkpoint's means the host
   * rebooted. Default: env STRATA_BOOT_ID_FILE, else /proc/sys/kernel/random/boot_id.
   */
  bootIdFile?: string;
  /** Image root filesystems for --isolation=filesystem/linux (the provisioner, or a test's directories). */
  rootfsProvider?: RootfsProvider;
  /** Replaces process launching (tests). */
  launch?: (spec: LaunchSpec) => Promise<ExecutorProcess>;
}

/** `HOST:PORT` or `[v6]:PORT`. ZooKeeper URLs are not supported by this build. */
export function parseMasterAddress(text: string): { host: string; port: number } {
  const trimmed = text.trim().replace(/^https?:\/\//, '');
  if (trimmed.startsWith('zk://') || trimmed.startsWith('file://')) {
    fail('OPTIONS_BAD_VALUE', { flag: 'master', detail: `'${text}': only HOST:PORT is supported` });
  }
  const match = /^(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(trimmed);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    fail('OPTIONS_BAD_VALUE', { flag: 'master', detail: `'${text}' is not HOST:PORT` });
  }
  return { host: match[1] ?? match[2]!, port };
}

/** The address to advertise when listening on a wildcard: the first external IPv4, else loopback. */
function advertisedIp(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

/** `--executor_environment_variables`: a JSON object of strings. */
function executorBaseEnvironment(text: string | undefined): Readonly<Record<string, string | undefined>> {
  if (text === undefined) return process.env;
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    return fail('OPTIONS_BAD_VALUE', {
      flag: 'executor_environment_variables',
      detail: (err as Error).message,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('OPTIONS_BAD_VALUE', { flag: 'executor_environment_variables', detail: 'expected a JSON object' });
  }
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      fail('OPTIONS_BAD_VALUE', {
        flag: 'executor_environment_variables',
        detail: `the value of '${name}' is not a string`,
      });
    }
    env[name] = v;
  }
  return env;
}

/** The built-in command executor of this build: `node <dist>/src/executors/command-executor.js`. */
export function commandExecutorProgram(): { file: string; args: readonly string[] } | undefined {
  const script = fileURLToPath(new URL('../executors/command-executor.js', import.meta.url));
  if (!existsSync(script)) return undefined;
  return { file: process.execPath, args: [process.execPath, script] };
}

/** The built-in default executor (task groups): `node <dist>/src/executors/default-executor.js`. */
export function defaultExecutorProgram(): { file: string; args: readonly string[] } | undefined {
  const script = fileURLToPath(new URL('../executors/default-executor.js', import.meta.url));
  if (!existsSync(script)) return undefined;
  return { file: process.execPath, args: [process.execPath, script] };
}

/**
 * Why the AgentInfo checkpointed by the previous run cannot be this agent's any more (Mesos'
 * `--reconfiguration_policy=equal`: hostname, port, resources and attributes must not change),
 * or undefined when it still is.
 */
export function agentInfoMismatch(previous: AgentInfo, current: AgentInfo): string | undefined {
  const strip = (info: AgentInfo) => {
    const copy = create(AgentInfoSchema, info);
    clearField(copy, AgentInfoSchema.field.id);
    return copy;
  };
  if (previous.hostname !== current.hostname)
    return `hostname changed from ${previous.hostname} to ${current.hostname}`;
  if (previous.port !== current.port) return `port changed from ${previous.port} to ${current.port}`;
  if (!equals(AgentInfoSchema, strip(previous), strip(current))) return 'resources or attributes changed';
  return undefined;
}

function readCheckpointOrFail(workDir: string, runtimeDir: string, strict: boolean): RecoveredCheckpoint {
  try {
    return readCheckpoint(workDir, runtimeDir, { strict });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return fail('AGENT_RECOVERY_FAILED', {
      detail: `${detail} (with --strict=false the agent skips what it cannot read)`,
    });
  }
}

export async function startAgent(
  flags: OptionValues<AgentFlags>,
  options: StartAgentOptions = {},
): Promise<RunningAgent> {
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createLogger('agent', flags.logging_level);
  const master = parseMasterAddress(flags.master ?? '');
  const workDir = flags.work_dir ?? defaultWorkDir('agent', flags.port);
  mkdirSync(workDir, { recursive: true });
  const runtimeDir = flags.runtime_dir ?? join(workDir, 'runtime');
  const checkpointer = new Checkpointer(workDir, runtimeDir);
  // Read before anything listens: a checkpoint that cannot be used stops the agent right here.
  const checkpoint = readCheckpointOrFail(workDir, runtimeDir, flags.strict);
  const bootId = readBootId(options.bootIdFile ?? process.env.STRATA_BOOT_ID_FILE ?? DEFAULT_BOOT_ID_FILE);
  // Free disk moves all the time, so a detected disk amount is kept for the life of the agent: a
  // restart on the same work_dir reuses what the agent registered with instead of failing recovery
  // with "resources changed" (a reboot starts a new agent, which detects again).
  const registeredDisk = checkpoint.agent?.info.resources.find(
    (r) => r.name === 'disk' && !r.disk && r.reservations.length === 0 && (r.role ?? '*') === '*',
  )?.scalar?.value;
  const resources = agentTotalResources(flags.resources, flags.default_role, () => {
    const amounts = detectedAmounts(probeMachine(workDir));
    return registeredDisk === undefined ? amounts : { ...amounts, disk: registeredDisk };
  });
  const attributes = flags.attributes ? parseAttributes(flags.attributes) : [];
  const baseEnvironment = executorBaseEnvironment(flags.executor_environment_variables);

  const http = new HttpServer({ delegate: 'slave(1)', logger: log.child({ component: 'http' }) });
  const bound = await http.listen(flags.ip, flags.port);
  const ip = advertisedIp(bound.host);
  const hostname = flags.hostname ?? ip;
  const commandExecutor = commandExecutorProgram();
  if (!commandExecutor)
    log.warn('the built-in command executor is not built; command tasks will fail to launch');
  const defaultExecutor = defaultExecutorProgram();
  if (!defaultExecutor)
    log.warn('the built-in default executor is not built; task groups will fail to launch');

  const containerLogger: ContainerLogger =
    flags.container_logger === ''
      ? sandboxLogger
      : logrotateLogger(
          {
            maxStdoutSize: flags.logrotate_max_stdout_size,
            maxStderrSize: flags.logrotate_max_stderr_size,
            stdoutOptions: flags.logrotate_stdout_options,
            stderrOptions: flags.logrotate_stderr_options,
          },
          (message) => log.warn(message),
        );
  let containerizer: Containerizer | undefined;
  try {
    containerizer = await createContainerizer(flags, {
      workDir,
      runtimeDir,
      logger: containerLogger,
      log: log.child({ component: 'containerizer' }),
      rootfsProvider: options.rootfsProvider,
    });
  } catch (err) {
    await http.close();
    throw err;
  }

  let link: MasterLink | undefined;
  let masterHostname: string | undefined;
  let registered = false;
  const counters = new AgentCounters();
  let agentRef: Agent | undefined;
  const gc = new SandboxGc({
    clock,
    log: log.child({ component: 'gc' }),
    workDir,
    gcDelayMs: flags.gc_delay,
    headroom: flags.gc_disk_headroom,
    diskWatchIntervalMs: flags.disk_watch_interval,
    liveSandboxes: () => liveSandboxes(agentRef),
  });
  const agent = new Agent(
    {
      workDir,
      ip,
      port: bound.port,
      hostname,
      resources,
      attributes,
      executorRegistrationTimeoutMs: flags.executor_registration_timeout,
      executorShutdownGracePeriodMs: flags.executor_shutdown_grace_period,
      executorReregistrationTimeoutMs: flags.executor_reregistration_timeout,
      executorIdleTimeoutMs: flags.executor_idle_timeout,
      switchUser: flags.switch_user,
      resolveUser: (name) => new ProcessCommandRunner(log).resolveUser(name),
      recoveryTimeoutMs: flags.recovery_timeout,
      heartbeatIntervalMs: flags.http_heartbeat_interval,
      killEscalationMs: options.killEscalationMs ?? DEFAULT_KILL_ESCALATION_MS,
      executorBaseEnvironment: baseEnvironment,
      commandExecutor,
      defaultExecutor,
    },
    {
      clock,
      log: log.child({ component: 'agent' }),
      send: (message) => link?.send(message) ?? false,
      launch:
        options.launch ??
        (containerizer
          ? (spec) => containerizer.launch(spec)
          : (spec) => launchExecutor({ ...spec, container: undefined }, containerLogger)),
      ...(options.statusUpdateRetry ? { statusUpdateRetry: options.statusUpdateRetry } : {}),
      observer: observers(counters, gc),
      checkpointer,
      // An isolating agent's executors boot a few at a time (launch-gate.ts).
      ...(containerizer && !options.launch
        ? { launchGate: new LaunchGate(Math.max(2, 2 * availableParallelism())) }
        : {}),
      ...(containerizer && !options.launch
        ? { execTarget: (containerId: string) => containerizer?.execTarget(containerId) }
        : {}),
      ...(containerizer?.runsNestedImages && !options.launch
        ? {
            launchNestedWithImage: (request: NestedImageLaunch) =>
              containerizer!.launchNestedWithImage(request),
          }
        : {}),
      ...(containerizer?.managesCgroups && !options.launch
        ? { containerUsage: (containerId: string) => containerizer!.usage(containerId) }
        : {}),
      ...(containerizer && !options.launch
        ? {
            updateContainer: (containerId: string, resources: readonly Resource[]) =>
              containerizer.update(containerId, resources),
          }
        : {}),
      attach: (pid, identity) =>
        containerizer?.attach(
          identity.directory,
          identity.frameworkId !== undefined && identity.executorId !== undefined
            ? agentRef?.localExecutorLink(identity.frameworkId, identity.executorId)
            : undefined,
        ) ?? (processBelongsTo(pid, identity) ? attachProcess(pid) : undefined),
    },
  );
  agentRef = agent;
  try {
    agent.restoreCheckpointedResources(readCheckpointedResources(workDir));
  } catch (err) {
    await http.close();
    throw new StrataError('AGENT_RECOVERY_FAILED', {
      detail:
        `the reservations and volumes checkpointed in ${resourcesInfoPath(workDir)} do not fit ` +
        `--resources (${(err as Error).message}); restore the flag, or remove the file to drop them`,
    });
  }

  // Restart recovery (mesos-internals.md 4.9): a reboot means no executor of the old agent can
  // be alive, so this starts as a new agent and the master reports the old agent's tasks lost.
  let previous = checkpoint.agent;
  if (previous && checkpoint.bootId !== undefined && bootId !== undefined && checkpoint.bootId !== bootId) {
    log.warn(
      { previousAgentId: previous.id, previousBootId: checkpoint.bootId, bootId },
      'the host rebooted since this agent last ran: starting as a new agent',
    );
    checkpointer.dropLatestAgent();
    previous = undefined;
  }
  if (previous) {
    const mismatch = agentInfoMismatch(previous.info, agent.agentInfo());
    if (mismatch) {
      await http.close();
      const latest = join(metaDir(workDir), 'slaves', 'latest');
      throw new StrataError('AGENT_RECOVERY_FAILED', {
        detail:
          `Incompatible agent info detected (${mismatch}). To start as a new agent remove ${latest}; ` +
          'the executors of the old agent are then killed as orphans',
      });
    }
  }
  for (const error of checkpoint.errors)
    log.error({ error }, 'skipped a damaged checkpoint entry (--strict=false)');
  for (const path of checkpoint.truncated)
    log.warn({ path }, 'cut a torn record off the end of an update log');
  agent.recoveryErrors = checkpoint.errors.length;
  agent.recover(previous, checkpoint.runtime, flags.recover);
  if (containerizer) {
    const unclaimed = containerizer;
    void agent.recovered
      .then(() => unclaimed.destroyUnclaimed())
      .catch((err: unknown) => log.error({ err }, 'destroying orphan containers failed'));
  }
  gc.start();

  const renderedFlags = renderFlags(agentFlags, { ...flags, work_dir: workDir });
  http.route('slave(1)', '/api/v1/executor', executorApiHandler(agent, counters));
  const files = agentFiles(agent, flags.external_log_file);
  registerFilesEndpoints(http, files);
  const snapshot = () =>
    metricsSnapshot({
      agent,
      counters,
      clock,
      registered: () => registered,
      executorDirectoryMaxAllowedAgeMs: () => gc.maxAllowedAgeMs,
    });
  registerMetricsEndpoint(http, snapshot, counters.timers);
  registerMonitorEndpoint(http, agent, clock);
  // GET/SET_LOGGING_LEVEL: verbosity above the --logging_level, reverting after the duration.
  const logLevel = new LogLevelControl(log, flags.logging_level, clock);
  http.route(
    'slave(1)',
    '/api/v1',
    agentApiHandler({
      agent,
      flags: renderedFlags,
      files,
      metrics: async () => snapshot(),
      logging: logLevel,
      clock,
    }),
  );
  registerAgentEndpoints(http, {
    agent,
    flags: renderedFlags,
    masterHostname: () => masterHostname,
  });

  let resolveClosed!: (exit: AgentExit) => void;
  const closed = new Promise<AgentExit>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<AgentExit> | undefined;
  // `all`: a full shutdown (the master's SHUTDOWN_AGENT or REFUSED, SIGUSR1): every executor is
  // killed and, as Mesos does then, `meta/slaves/latest` goes, so the next start is a new agent.
  const shutDown = (exit: AgentExit, all = exit.code !== 0): Promise<AgentExit> => {
    closing ??= (async () => {
      if (exit.code !== 0) log.error({ reason: exit.message }, 'agent exiting');
      else log.info('agent stopping: shutting down executors');
      await agent.stop({ all });
      if (all) {
        try {
          checkpointer.dropLatestAgent();
        } catch (err) {
          log.error({ err }, 'cannot remove meta/slaves/latest');
        }
      }
      gc.stop();
      await containerizer?.close().catch((err: unknown) => log.warn({ err }, 'containerizer close failed'));
      logLevel.close();
      // Executors left running are the next start's to recover: the master must keep their tasks.
      await link?.stop(
        agent.keptExecutors === 0
          ? create(AgentToMasterSchema, { type: AgentToMaster_Type.UNREGISTER })
          : undefined,
      );
      await http.close();
      log.info('agent stopped');
      resolveClosed(exit);
      return exit;
    })();
    return closing;
  };

  link = new MasterLink({
    host: master.host,
    port: master.port,
    backoffFactorMs: flags.registration_backoff_factor,
    clock,
    log: log.child({ component: 'master-link' }),
    registration: () => agent.registrationMessage(),
    onRegistered: (agentId, reregistered, message) => {
      masterHostname = message.registered?.masterInfo?.hostname;
      registered = true;
      agent.registered(agentId, reregistered);
    },
    onDisconnected: (reason) => {
      registered = false;
      agent.disconnected(reason);
    },
    onMessage: (message) => agent.masterMessage(message),
    onFatal: (message) => void shutDown({ code: 1, message }),
  });
  const masterLink = link;
  void agent.recovered.then(() => {
    if (closing) return;
    if (bootId !== undefined) {
      try {
        checkpointer.writeBootId(bootId);
      } catch (err) {
        log.error({ err }, 'cannot record the boot id');
      }
    }
    if (flags.recover === 'cleanup') {
      log.info('--recover=cleanup: the executors of the previous run are gone; exiting');
      void shutDown({ code: 0 });
      return;
    }
    masterLink.start();
  });
  log.info(
    {
      address: `${ip}:${bound.port}`,
      master: `${master.host}:${master.port}`,
      workDir,
      resources: resources.toString(),
    },
    'agent started',
  );

  if (options.installSignalHandlers !== false) {
    const onSignal = () => void shutDown({ code: 0 });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // As Mesos: SIGUSR1 is a full shutdown (every executor killed, the agent leaves the master).
    process.once('SIGUSR1', () => void shutDown({ code: 0 }, true));
  }
  return {
    agent,
    address: { host: ip, port: bound.port },
    workDir,
    agentId: () => agent.agentId,
    closed,
    close: (closeOptions) => shutDown({ code: 0 }, closeOptions?.all ?? false),
  };
}
