/**
 * Where image root filesystems come from. The provisioner (src/containerizer/provisioner, its own
 * work) provides `provision(containerId, image) → {rootfs, config}`; the containerizer needs only
 * this much of it, so anything with this shape plugs in. `DirectoryRootfsProvider` serves
 * prepared directories by image name (tests, benchmarks, a pre-unpacked rootfs).
 */
import { lstatSync, mkdirSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { ContainerRef } from './provisioner/provisioner.js';

export type { ContainerRef };

/** Image config facts the launch uses (docker/runtime): Env, WorkingDir, Entrypoint, Cmd. */
export interface ImageRuntimeConfig {
  env?: string[] | Record<string, string>;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
}

/** Bytes of one image layer as a pull goes (the provisioner's `LayerProgress`). */
export interface PullProgress {
  readonly image: string;
  readonly layer: string;
  readonly bytes: number;
  readonly total: number | undefined;
  readonly state: 'cached' | 'pulling' | 'done';
}

export interface RootfsProvider {
  provision(
    containerId: ContainerRef,
    image: Image,
    options?: { onProgress?: (progress: PullProgress) => void },
  ): Promise<{ rootfs: string; config?: ImageRuntimeConfig | undefined }>;
  /** Releases what provision made (unmount, remove); unknown ids are fine. */
  destroy?(containerId: ContainerRef): Promise<void>;
  /** After an agent restart: releases the rootfses of every container not in `live`. */
  recover?(live: readonly ContainerRef[]): Promise<unknown>;
  /** The container of a provisioned rootfs has started (a good time for background work). */
  containerStarted?(containerId: ContainerRef): void;
  /** The agent stops: releases what the provider keeps for later launches (spare rootfses). */
  close?(): Promise<void>;
}

/**
 * Pull progress → TASK_STARTING messages ("Pulling image busybox: 3.2/5.1 MB"): the sum over the
 * layers seen so far; at most one message per `intervalMs` (the first at once); nothing for an
 * image whose layers are all cached.
 */
export function progressReporter(
  report: (message: string) => void,
  intervalMs = 1000,
  now: () => number = Date.now,
): (progress: PullProgress) => void {
  const layers = new Map<string, { bytes: number; total: number | undefined }>();
  let last = Number.NEGATIVE_INFINITY;
  return (p) => {
    if (p.state === 'cached') return;
    layers.set(p.layer, { bytes: p.bytes, total: p.total });
    const t = now();
    if (t - last < intervalMs) return;
    last = t;
    let bytes = 0;
    let total = 0;
    let known = true;
    for (const l of layers.values()) {
      bytes += l.bytes;
      if (l.total === undefined) known = false;
      else total += l.total;
    }
    const mb = (n: number) => (n / 1e6).toFixed(1);
    report(`Pulling image ${p.image}: ${mb(bytes)}${known ? `/${mb(total)}` : ''} MB`);
  };
}

export function imageName(image: Image): string {
  return image.docker?.name ?? image.appc?.name ?? '';
}

export class DirectoryRootfsProvider implements RootfsProvider {
  constructor(
    private readonly images: ReadonlyMap<string, { rootfs: string; config?: ImageRuntimeConfig }>,
  ) {}
  async provision(_containerId: ContainerRef, image: Image) {
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

/**
 * Creates, as the agent, the mount points of `mounts` that an image's rootfs lacks, which the
 * runtime would otherwise create from inside the container's cgroups. Why: on cgroups v1 the
 * filesystem metadata pages a container touches first stay charged to its memory cgroup after it
 * is gone, so each container that created its own mount points (the sandbox directory, the init's
 * bind target) left a "dying" memory cgroup behind: about one per container under load, each
 * slowing every later mount on the host. Created here they are charged to the agent.
 *
 * Nothing is created through a symbolic link or below a non-directory: such a path is left to the
 * runtime, which resolves it inside the rootfs. Mount points below another mount point of the list
 * (`/dev/pts` below the `/dev` tmpfs) are not the rootfs's and are skipped.
 */
export function createMountPoints(
  rootfs: string,
  mounts: readonly { destination: string; type: string; source: string; options?: string[] | undefined }[],
): void {
  const destinations = mounts.map((m) => m.destination.replace(/\/+$/, ''));
  mounts.forEach((mount, index) => {
    const destination = destinations[index]!;
    const below = destinations.some(
      (other, j) => j < index && other !== '' && destination.startsWith(`${other}/`),
    );
    if (destination === '' || below) return;
    const isFile = mount.type === 'bind' && isFileSource(mount.source);
    const parts = destination.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) return;
    let current = rootfs;
    for (const [i, part] of parts.entries()) {
      const next = join(current, part);
      const last = i === parts.length - 1;
      let stat: Stats | undefined;
      try {
        stat = lstatSync(next);
      } catch {
        stat = undefined;
      }
      if (stat === undefined) {
        try {
          if (last && isFile) writeFileSync(next, '', { flag: 'wx', mode: 0o644 });
          else mkdirSync(next, { mode: 0o755 });
        } catch {
          return; // the runtime creates it, or says why it cannot
        }
      } else if (stat.isSymbolicLink() || (!last && !stat.isDirectory())) return;
      current = next;
    }
  });
}

function isFileSource(source: string): boolean {
  try {
    return !statSync(source).isDirectory();
  } catch {
    return false;
  }
}
