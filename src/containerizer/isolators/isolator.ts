/**
 * The isolator contract (mesos-internals.md 1.8): `recover`, `prepare`, `isolate`, `watch`,
 * `update`, `usage`, `status`, `cleanup`. `prepare` runs in the fixed order of the catalogue and
 * returns what the isolator adds to the container's OCI spec; `cleanup` runs in reverse order,
 * must tolerate unknown ids and being called twice. Limitations (OOM, a posix limit exceeded,
 * the disk quota) are what `watch` reports: the containerizer kills the container and the agent
 * fails its tasks with the limitation's reason.
 */
import type { ContainerInfo, Labels } from '../../wire/gen/mesos/v1/mesos_pb.js';
import type { LaunchInfo } from '../runtime/oci-spec.js';

/** What an executor container is launched with (Mesos' ContainerConfig, trimmed). */
export interface ContainerConfig {
  containerId: string;
  /** The host sandbox. */
  sandbox: string;
  /** argv of the executor, argv[0] being the program path. */
  args: string[];
  env: Record<string, string>;
  /** Requests: the executor's resources plus its tasks'. */
  resources: ContainerResources;
  /** ExecutorInfo.container (a command executor's is its task's). */
  containerInfo?: ContainerInfo | undefined;
  labels?: Labels | undefined;
  /** The image's root filesystem (from the provisioner); absent: the host's. */
  rootfs?: string | undefined;
  /** Image config facts that shape the launch (Env, WorkingDir) when an image is used. */
  image?: { env?: Record<string, string>; workingDir?: string } | undefined;
  /** Persistent volumes the tasks use: host directory and path relative to the sandbox. */
  persistentVolumes?: { hostPath: string; containerPath: string; readOnly: boolean }[];
}

export interface ContainerResources {
  cpus?: number | undefined;
  memMb?: number | undefined;
  diskMb?: number | undefined;
}

/** Why a container must be killed (`TaskStatus.Reason` name without the prefix). */
export interface Limitation {
  reason:
    | 'REASON_CONTAINER_LIMITATION_MEMORY'
    | 'REASON_CONTAINER_LIMITATION_DISK'
    | 'REASON_CONTAINER_LIMITATION';
  message: string;
  /** The resource that ran out: mem, cpus, disk. */
  resource: string;
}

/** ResourceStatistics fields an isolator fills (merged by the containerizer). */
export interface UsageStats {
  processes?: number;
  threads?: number;
  cpusUserTimeSecs?: number;
  cpusSystemTimeSecs?: number;
  cpusNrPeriods?: number;
  cpusNrThrottled?: number;
  cpusThrottledTimeSecs?: number;
  memTotalBytes?: number;
  memRssBytes?: number;
  memCacheBytes?: number;
  memSwapBytes?: number;
  memLimitBytes?: number;
  memSoftLimitBytes?: number;
  diskUsedBytes?: number;
  diskLimitBytes?: number;
}

export interface Isolator {
  /** The `--isolation` name (`cgroups/mem`), or a group name for one that serves several. */
  readonly name: string;
  /** Rebuild state for containers that survived an agent restart; `orphans` will be cleaned up. */
  recover?(recovered: readonly ContainerConfig[], orphans: readonly string[]): Promise<void>;
  /** Host-side set-up before the container exists; returns its part of the spec. */
  prepare(config: ContainerConfig): Promise<LaunchInfo | undefined>;
  /** The container's init exists (host pid). */
  isolate?(containerId: string, pid: number): Promise<void>;
  /** Resolves only when the container must be killed. */
  watch?(containerId: string): Promise<Limitation>;
  /** A synchronous look at a limitation already hit (decides the reason of a racing task update). */
  limited?(containerId: string): Limitation | undefined;
  update?(containerId: string, resources: ContainerResources): Promise<void>;
  usage?(containerId: string): Promise<UsageStats>;
  status?(containerId: string): Promise<Record<string, unknown>>;
  /** After every process is gone; idempotent; unknown ids are fine. */
  cleanup(containerId: string): Promise<void>;
}

/** The contribution of a whole pipeline, with who gave what (for composeSpec). */
export type Contributions = { name: string; info: LaunchInfo }[];

/** Runs `prepare` of each isolator in order; on a failure, cleans up those already prepared (reverse). */
export async function prepareAll(
  isolators: readonly Isolator[],
  config: ContainerConfig,
): Promise<Contributions> {
  const out: Contributions = [];
  const done: Isolator[] = [];
  try {
    for (const isolator of isolators) {
      const info = await isolator.prepare(config);
      done.push(isolator);
      if (info) out.push({ name: isolator.name, info });
    }
  } catch (err) {
    await cleanupAll(done, config.containerId);
    throw err;
  }
  return out;
}

/** `cleanup` in reverse order; every isolator is tried; the first failure is rethrown at the end. */
export async function cleanupAll(isolators: readonly Isolator[], containerId: string): Promise<void> {
  let first: unknown;
  for (const isolator of [...isolators].reverse()) {
    try {
      await isolator.cleanup(containerId);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/** Merges per-isolator usage; later isolators fill only what earlier ones left unset. */
export function mergeUsage(parts: readonly UsageStats[]): UsageStats {
  const out: UsageStats = {};
  for (const part of parts) {
    for (const [k, v] of Object.entries(part) as [keyof UsageStats, number | undefined][]) {
      if (v !== undefined && out[k] === undefined) out[k] = v;
    }
  }
  return out;
}

/** A Strata label on the executor or its container limiting the number of processes (cgroups/pids). */
export const PIDS_LIMIT_LABEL = 'STRATA_PIDS_LIMIT';

export function labelValue(labels: Labels | undefined, key: string): string | undefined {
  return labels?.labels.find((l) => l.key === key)?.value;
}
