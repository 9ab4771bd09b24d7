/**
 * Where image root filesystems come from. The provisioner (src/containerizer/provisioner, its own
 * work) provides `provision(containerId, image) → {rootfs, config}`; the containerizer needs only
 * this much of it, so anything with this shape plugs in. `DirectoryRootfsProvider` serves
 * prepared directories by image name (tests, benchmarks, a pre-unpacked rootfs).
 */
import type { Image } from '../wire/gen/mesos/v1/mesos_pb.js';

/** Image config facts the launch uses (docker/runtime): Env, WorkingDir, Entrypoint, Cmd. */
export interface ImageRuntimeConfig {
  env?: string[] | Record<string, string>;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
}

export interface RootfsProvider {
  provision(
    containerId: string,
    image: Image,
  ): Promise<{ rootfs: string; config?: ImageRuntimeConfig | undefined }>;
  /** Releases what provision made (unmount, remove); unknown ids are fine. */
  destroy?(containerId: string): Promise<void>;
}

export function imageName(image: Image): string {
  return image.docker?.name ?? image.appc?.name ?? '';
}

export class DirectoryRootfsProvider implements RootfsProvider {
  constructor(
    private readonly images: ReadonlyMap<string, { rootfs: string; config?: ImageRuntimeConfig }>,
  ) {}
  async provision(_containerId: string, image: Image) {
    const found = this.images.get(imageName(image));
    if (!found) throw new Error(`unknown image '${imageName(image)}'`);
    return found;
  }
}

export function imageEnv(config: ImageRuntimeConfig | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = config?.env;
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1); // malformed entries skipped (Mesos)
    }
  } else if (raw) Object.assign(env, raw);
  return env;
}
