/**
 * Wires a master process together: flags → registry, allocator, Master, HTTP routes, agent links,
 * allocation timer, signal handling.
 */
import { create } from '@bufbuild/protobuf';
import { Files } from '../agent/files.js';
import { HierarchicalDrfAllocator } from '../allocator/hierarchical-drf.js';
import { type Clock, systemClock } from '../common/clock.js';
import { fail } from '../common/errors.js';
import { IdMinter, masterPid, newMasterId } from '../common/ids.js';
import { createLogger, LogLevelControl } from '../common/log.js';
import { type OptionValues, renderFlags } from '../common/options.js';
import { defaultWorkDir } from '../common/paths.js';
import { MESOS_COMPATIBLE_VERSION } from '../common/version.js';
import { APPLICATION_JSON } from '../http/media.js';
import { HttpServer } from '../http/server.js';
import { parseResources } from '../resources/flags.js';
import type { Resources } from '../resources/resources.js';
import { MasterInfoSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import { AgentToMasterSchema, MasterToAgentSchema } from '../wire/gen/strata/internal/v1/link_pb.js';
import { linkUpgradeHandler } from '../wire/link.js';
import { registerLegacyEndpoints } from './endpoints.js';
import { type MasterFlags, masterFlags } from './flags.js';
import { registerLegacyAllocationEndpoints } from './legacy-allocation-endpoints.js';
import { Master } from './master.js';
import { allocationOperatorCalls } from './operator-allocation-calls.js';
import { operatorApiHandler } from './operator-api.js';
import { masterOperatorCalls } from './operator-calls.js';
import { OperatorEventHub } from './operator-events.js';
import { maintenanceOperatorCalls, registerMaintenanceEndpoints } from './operator-maintenance-calls.js';
import { LocalStoreRegistry } from './registry/local-store.js';
import { parseWeights } from './roles.js';
import { schedulerApiHandler } from './scheduler-api.js';

export interface RunningMaster {
  readonly master: Master;
  readonly address: { host: string; port: number };
  readonly workDir: string;
  /** Settles when the master has stopped. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** `a.b.c.d` as Mesos packs it into MasterInfo.ip: network-order bytes read as little-endian. */
export function packIpv4(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return 0;
  return (parts[0]! + parts[1]! * 2 ** 8 + parts[2]! * 2 ** 16 + parts[3]! * 2 ** 24) >>> 0;
}

/** `--min_allocatable_resources=cpus:0.01|mem:32`: alternatives separated by `|`. */
export function parseMinAllocatable(text: string): Resources[] {
  return text
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((alternative) => {
      try {
        return parseResources(alternative);
      } catch (err) {
        return fail('OPTIONS_BAD_VALUE', {
          flag: 'min_allocatable_resources',
          detail: (err as Error).message,
        });
      }
    });
}

export async function startMaster(
  flags: OptionValues<MasterFlags>,
  options: { clock?: Clock; installSignalHandlers?: boolean } = {},
): Promise<RunningMaster> {
  const clock = options.clock ?? systemClock;
  const log = createLogger('master', flags.logging_level);
  const minAllocatable = parseMinAllocatable(flags.min_allocatable_resources);
  const workDir = flags.work_dir ?? defaultWorkDir('master', flags.port);
  const registry = new LocalStoreRegistry(workDir);

  // One child logger per component (`"component":"http"`, ...); SET_LOGGING_LEVEL reaches them all.
  const http = new HttpServer({ delegate: 'master', logger: log.child({ component: 'http' }) });
  const bound = await http.listen(flags.ip, flags.port);
  const hostname = flags.hostname ?? flags.ip;
  const masterId = newMasterId();
  const masterInfo = create(MasterInfoSchema, {
    id: masterId,
    ip: packIpv4(bound.host),
    port: bound.port,
    pid: masterPid(bound.host, bound.port),
    hostname,
    version: MESOS_COMPATIBLE_VERSION,
    address: { hostname, ip: bound.host, port: bound.port },
  });
  const previous = registry.get();
  await registry.apply({ type: 'recover-master', masterId });

  const allocator = new HierarchicalDrfAllocator({
    seed: Date.now() & 0x7fffffff,
    minAllocatable,
    allocationIntervalMs: flags.allocation_interval,
  });
  const master = new Master(
    masterInfo,
    {
      heartbeatIntervalMs: flags.heartbeat_interval,
      offerTimeoutMs: flags.offer_timeout,
      agentPingTimeoutMs: flags.agent_ping_timeout,
      maxAgentPingTimeouts: flags.max_agent_ping_timeouts,
      maxCompletedFrameworks: flags.max_completed_frameworks,
      maxCompletedTasksPerFramework: flags.max_completed_tasks_per_framework,
      maxUnreachableTasksPerFramework: flags.max_unreachable_tasks_per_framework,
    },
    allocator,
    new IdMinter(masterId),
    clock,
    log.child({ component: 'master' }),
    registry,
  );

  // Weights and quota survive in the registry; `--weights` only seeds a registry that has none.
  const storedWeights = new Map(Object.entries(previous.weights));
  const flagWeights = flags.weights ? parseWeights(flags.weights) : new Map<string, number>();
  if (storedWeights.size > 0) {
    if (typeof flagWeights !== 'string' && flagWeights.size > 0)
      log.warn('--weights is ignored: the registry holds weights (change them with UPDATE_WEIGHTS)');
    master.updateWeights(storedWeights, false);
  } else if (typeof flagWeights !== 'string' && flagWeights.size > 0) {
    master.updateWeights(flagWeights);
  }
  for (const [role, quota] of Object.entries(previous.quota)) {
    master.updateQuota(
      role,
      {
        guarantees: new Map(Object.entries(quota.guarantees)),
        limits: new Map(Object.entries(quota.limits)),
      },
      false,
    );
  }
  master.maintenance.recover(previous.maintenance, previous.agentControl);
  master.recoverAgents(
    Object.values(previous.agents).filter((agent) => previous.unreachable[agent.id] === undefined),
    flags.agent_reregister_timeout,
  );
  http.onUpgrade(
    linkUpgradeHandler(AgentToMasterSchema, MasterToAgentSchema, (link) => master.agentLinked(link)),
  );
  http.route('master', '/api/v1/scheduler', schedulerApiHandler(master));
  // The master logs to stderr only, so no log file is attached: every LIST_FILES path is a 404.
  const logLevel = new LogLevelControl(log, flags.logging_level, clock);
  const files = new Files();
  const operatorEvents = new OperatorEventHub(master, {
    maxSubscribers: flags.max_operator_event_stream_subscribers,
    replayCapacity: flags.operator_event_replay_capacity,
    heartbeatIntervalMs: flags.heartbeat_interval,
    clock,
  });
  const operatorCalls = masterOperatorCalls({
    master,
    flags: renderFlags(masterFlags, flags),
    clock,
    logLevel,
    files,
    events: operatorEvents,
  });
  http.route(
    'master',
    '/api/v1',
    operatorApiHandler([operatorCalls, allocationOperatorCalls(master), maintenanceOperatorCalls(master)]),
  );
  registerMaintenanceEndpoints(http, master);
  registerLegacyAllocationEndpoints(http, master);
  registerLegacyEndpoints(http, master, { flags, hostname, address: bound, clock });

  const allocation = clock.setInterval(() => master.allocate(), flags.allocation_interval);
  log.info({ address: `${bound.host}:${bound.port}`, masterId, workDir }, 'master started');

  let resolveClosed: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      allocation.cancel();
      logLevel.close();
      operatorEvents.close();
      master.close();
      await http.close();
      await registry.close();
      log.info('master stopped');
      resolveClosed();
    })();
    return closing;
  };
  if (options.installSignalHandlers !== false) {
    const onSignal = () => void close();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return { master, address: { host: bound.host, port: bound.port }, workDir, closed, close };
}

export { APPLICATION_JSON };
