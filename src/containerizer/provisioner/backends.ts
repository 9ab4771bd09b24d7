/**
 * Rootfs backends. Both take the image's unpacked layers (bottom → top, overlay-format whiteouts)
 * and build a container root filesystem.
 *
 * - overlay: one overlay mount. lowerdir entries are short relative links (`l/0`, `l/1`, ...) in
 *   the container's scratch directory and `mount` runs with that directory as cwd, so even a
 *   127-layer image fits the one-page mount-option limit of util-linux 2.38 (host-setup.md §5.2).
 *   upperdir/workdir live in the same scratch directory (Mesos' "ephemeral volumes").
 * - copy: a real copy (`cp -a`, which keeps owners, modes, xattrs, hardlinks, devices). With two or
 *   more layers the copy is taken from a read-only overlay of the layers, so the kernel applies
 *   whiteouts and opaque directories and cp only ever writes into a fresh tree (no writing through
 *   a symlink of an earlier layer); a single layer is copied directly and its whiteout nodes dropped.
 */
import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../../common/errors.js';
import { isMountPoint, mount, removeXattr, run, unmount } from './helpers.js';
import type { LayerMeta } from './unpack.js';

export type BackendName = 'overlay' | 'copy';

export interface BackendLayer {
  /** The layer's unpacked root. */
  readonly path: string;
  readonly meta: LayerMeta | undefined;
}

export interface Backend {
  readonly name: BackendName;
  /** Builds `rootfs` (an empty directory) from `layers`; `scratch` is the backend's own directory. */
  provision(
    layers: readonly BackendLayer[],
    rootfs: string,
    scratch: string,
    container: string,
  ): Promise<void>;
  /** Undoes provision; idempotent. */
  destroy(rootfs: string, scratch: string, container: string): Promise<void>;
}

/** `lowerdir=l/2:l/1:l/0` (top first) with links l/i → layer i, created in `scratch`. */
export async function linkLayers(layers: readonly BackendLayer[], scratch: string): Promise<string> {
  await mkdir(join(scratch, 'l'), { recursive: true });
  await Promise.all(layers.map((l, i) => symlink(l.path, join(scratch, 'l', String(i)))));
  return layers.map((_, i) => `l/${layers.length - 1 - i}`).join(':');
}

export function overlayOptions(lowerdir: string, writable: boolean): string {
  return writable ? `lowerdir=${lowerdir},upperdir=upper,workdir=work` : `lowerdir=${lowerdir}`;
}

export const overlayBackend: Backend = {
  name: 'overlay',
  async provision(layers, rootfs, scratch, container) {
    if (layers.length === 0)
      fail('PROVISIONER_BACKEND_FAILED', {
        backend: 'overlay',
        action: 'provision',
        container,
        detail: 'image has no layers',
      });
    await mkdir(join(scratch, 'upper'), { recursive: true, mode: 0o755 });
    await mkdir(join(scratch, 'work'), { recursive: true, mode: 0o755 });
    const lower = await linkLayers(layers, scratch);
    try {
      await mount(['-t', 'overlay', 'overlay', '-o', overlayOptions(lower, true), rootfs], scratch);
    } catch (e) {
      fail('PROVISIONER_BACKEND_FAILED', {
        backend: 'overlay',
        action: 'mount',
        container,
        detail: (e as Error).message,
      });
    }
  },
  async destroy(rootfs, scratch, container) {
    try {
      if (await isMountPoint(rootfs)) await unmount(rootfs);
    } catch (e) {
      fail('PROVISIONER_BACKEND_FAILED', {
        backend: 'overlay',
        action: 'unmount',
        container,
        detail: (e as Error).message,
      });
    }
    await rm(rootfs, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  },
};

export const copyBackend: Backend = {
  name: 'copy',
  async provision(layers, rootfs, scratch, container) {
    const failWith = (action: string, e: unknown): never =>
      fail('PROVISIONER_BACKEND_FAILED', {
        backend: 'copy',
        action,
        container,
        detail: (e as Error).message,
      });
    await mkdir(scratch, { recursive: true });
    if (layers.length === 0) return;
    if (layers.length === 1) {
      const only = layers[0] as BackendLayer;
      await run('cp', ['-a', '--', `${only.path}/.`, `${rootfs}/`]).catch((e) => failWith('copy', e));
      // Markers of a lone layer hide nothing: drop the nodes and the opaque xattrs.
      for (const w of only.meta?.whiteouts ?? []) await rm(join(rootfs, w), { force: true });
      await removeXattr(
        'trusted.overlay.opaque',
        (only.meta?.opaques ?? []).map((d) => join(rootfs, d)),
      ).catch(() => {});
      return;
    }
    const merged = join(scratch, 'merged');
    await mkdir(merged, { recursive: true });
    const lower = await linkLayers(layers, scratch);
    await mount(
      ['-t', 'overlay', 'overlay', '-o', `ro,${overlayOptions(lower, false)}`, merged],
      scratch,
    ).catch((e) => failWith('mount the read-only view for', e));
    try {
      await run('cp', ['-a', '--', `${merged}/.`, `${rootfs}/`]).catch((e) => failWith('copy', e));
    } finally {
      await unmount(merged).catch(() => {});
      await rm(join(scratch, 'l'), { recursive: true, force: true });
      await rm(merged, { recursive: true, force: true });
    }
  },
  async destroy(rootfs, scratch) {
    if (await isMountPoint(rootfs)) await unmount(rootfs);
    await rm(rootfs, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  },
};

export function backendByName(name: string): Backend {
  if (name === 'overlay') return overlayBackend;
  if (name === 'copy') return copyBackend;
  return fail('PROVISIONER_CONFIG_INVALID', {
    flag: 'image_provisioner_backend',
    detail: `unknown backend '${name}' (overlay, copy)`,
  });
}

/** Entries of a directory, or none when it does not exist. */
export async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}
