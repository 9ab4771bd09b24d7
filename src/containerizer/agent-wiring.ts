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
import { type ImageProvider, Provisioner } from './provisioner/provisioner.js';
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
  /** Strata: host command executors in the agent (hosted-executor.ts); default true. */
  hosted_command_executor?: boolean | undefined;
  /** `--image_providers`: `docker`, `appc` or both (comma-separated); empty: no images. */
  image_providers?: string | undefined;
  appc_store_dir?: string | undefined;
  appc_simple_discovery_uri_prefix?: string | undefined;
  docker_registry?: string | undefined;
  docker_store_dir?: string | undefined;
  docker_config?: string | undefined;
  image_provisioner_backend?: string | undefined;
  image_provisioner_spares?: number | undefined;
  image_gc_config?: string | undefined;
}

/** `--image_providers` → the providers named (`docker`, `appc`). */
export function imageProviders(text: string | undefined): ImageProvider[] {
  const providers = (text ?? '')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '');
  for (const p of providers) {
    if (p !== 'docker' && p !== 'appc')
      throw new StrataError('AGENT_BAD_ISOLATION', {
        detail: `--image_providers=${text}: '${p}' is not supported (docker, appc)`,
      });
  }
  return [...new Set(providers)] as ImageProvider[];
}

/**
 * The image provisioner (docker and/or appc, as `--image_providers` says) as the containerizer's
 * RootfsProvider, with its image GC started.
 */
async function dockerProvisioner(
  flags: ContainerizerFlags,
  workDir: string,
  log: Logger,
  providers: readonly ImageProvider[],
) {
  const backend = flags.image_provisioner_backend === 'copy' ? 'copy' : 'overlay';
  try {
    const provisioner = await Provisioner.create({
      workDir,
      ...(flags.docker_store_dir ? { dockerStoreDir: flags.docker_store_dir } : {}),
      ...(flags.docker_registry ? { dockerRegistry: flags.docker_registry } : {}),
      ...(flags.docker_config ? { dockerConfig: flags.docker_config } : {}),
      ...(flags.image_gc_config ? { imageGcConfig: flags.image_gc_config } : {}),
      ...(flags.appc_store_dir ? { appcStoreDir: flags.appc_store_dir } : {}),
      ...(flags.appc_simple_discovery_uri_prefix
        ? { appcSimpleDiscoveryUriPrefix: flags.appc_simple_discovery_uri_prefix }
        : {}),
      providers,
      backend,
      spareRootfses: flags.image_provisioner_spares ?? 4,
      onSpareError: (err) => log.debug({ err }, 'a spare rootfs could not be built or destroyed'),
    });
    provisioner.startGc((result) => {
      if (result instanceof Error) log.warn({ err: result.message }, 'image GC failed');
      else if (result.removedLayers.length > 0 || result.removedImages.length > 0)
        log.info(
          {
            images: result.removedImages,
            layers: result.removedLayers.length,
            freedBytes: result.freedBytes,
          },
          'image GC pruned the store',
        );
    });
    log.info(
      {
        providers,
        registry: flags.docker_registry,
        store: flags.docker_store_dir,
        ...(providers.includes('appc')
          ? { appcStore: flags.appc_store_dir, appcPrefix: flags.appc_simple_discovery_uri_prefix }
          : {}),
        backend,
      },
      'image provisioner ready',
    );
    return provisioner;
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('AGENT_BAD_ISOLATION', {
      detail: `the image provisioner cannot start: ${(err as Error).message}`,
    });
  }
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
  const providers = imageProviders(flags.image_providers);
  if (providers.length > 0 && !plan.isolators.includes('filesystem/linux'))
    throw new StrataError('AGENT_BAD_ISOLATION', {
      detail: `--image_providers=${flags.image_providers} needs --isolation with filesystem/linux`,
    });
  if (plan.isolators.length === 0 && !flags.default_container_info) return undefined;
  let rootfsProvider = context.rootfsProvider;
  if (!rootfsProvider && providers.length > 0)
    rootfsProvider = await dockerProvisioner(flags, context.workDir, context.log, providers);
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
      hostCommandExecutors: flags.hosted_command_executor ?? true,
      defaultContainerInfo,
      rootfsProvider,
      logger: context.logger,
      log: context.log,
    });
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('CONTAINER_RUNTIME_UNAVAILABLE', { detail: (err as Error).message });
  }
}
