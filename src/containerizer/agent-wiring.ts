/**
 * From the agent's flags to a Containerizer, or undefined for today's plain launch (no
 * --isolation). Bad combinations are refused here, before the agent listens for work.
 */
import { fromJsonString } from '@bufbuild/protobuf';
import type { ContainerLogger } from '../agent/container-logger.js';
import { StrataError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { type ContainerInfo, ContainerInfoSchema } from '../wire/gen/mesos/v1/mesos_pb.js';
import { Containerizer } from './containerizer.js';
import { IsolationFlagError, planIsolation } from './isolators/catalogue.js';
import type { RootfsProvider } from './rootfs.js';

export { Containerizer };

export interface ContainerizerFlags {
  containerizers: string;
  isolation: string;
  launcher?: string | undefined;
  sandbox_directory: string;
  default_container_info?: string | undefined;
  cgroups_root: string;
  cgroups_enable_cfs: boolean;
}

export async function createContainerizer(
  flags: ContainerizerFlags,
  context: {
    workDir: string;
    runtimeDir: string;
    logger: ContainerLogger;
    log: Logger;
    rootfsProvider?: RootfsProvider | undefined;
  },
): Promise<Containerizer | undefined> {
  let plan: ReturnType<typeof planIsolation>;
  try {
    plan = planIsolation({
      isolation: flags.isolation,
      launcher: flags.launcher,
      containerizers: flags.containerizers,
      root: process.getuid?.() === 0,
    });
  } catch (err) {
    if (err instanceof IsolationFlagError)
      throw new StrataError('AGENT_BAD_ISOLATION', { detail: err.message });
    throw err;
  }
  if (plan.isolators.length === 0 && !flags.default_container_info) return undefined;
  let defaultContainerInfo: ContainerInfo | undefined;
  if (flags.default_container_info) {
    try {
      defaultContainerInfo = fromJsonString(ContainerInfoSchema, flags.default_container_info);
    } catch (err) {
      throw new StrataError('AGENT_BAD_ISOLATION', {
        detail: `--default_container_info is no ContainerInfo: ${(err as Error).message}`,
      });
    }
  }
  if (
    !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(flags.cgroups_root) ||
    flags.cgroups_root.split('/').includes('..')
  ) {
    throw new StrataError('AGENT_BAD_ISOLATION', {
      detail: `--cgroups_root=${flags.cgroups_root} must be a relative cgroup path`,
    });
  }
  try {
    return await Containerizer.create({
      plan,
      workDir: context.workDir,
      runtimeDir: context.runtimeDir,
      sandboxDirectory: flags.sandbox_directory,
      cgroupsRoot: flags.cgroups_root,
      enableCfs: flags.cgroups_enable_cfs,
      defaultContainerInfo,
      rootfsProvider: context.rootfsProvider,
      logger: context.logger,
      log: context.log,
    });
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('CONTAINER_RUNTIME_UNAVAILABLE', { detail: (err as Error).message });
  }
}
