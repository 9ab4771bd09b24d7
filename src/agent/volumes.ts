/**
 * Persistent volumes on the agent's disk (mesos-internals.md: `filesystem/posix` and the
 * checkpointed resources). A volume lives at `<work_dir>/volumes/roles/<role>/<persistence id>`,
 * outside every sandbox, so it survives the tasks that use it, sandbox GC and agent restarts. A task
 * that uses it sees it at `<sandbox>/<container_path>`, a symlink, as Mesos' posix filesystem
 * isolator does for containers without an image.
 *
 * Persistence ids, roles and container paths come from frameworks: each is checked so that no path
 * built from them leaves its parent directory.
 */
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import type { ResourceItem } from '../resources/resource.js';
import type { Resources } from '../resources/resources.js';

export interface VolumeRef {
  role: string;
  id: string;
  /** Where a task sees it, relative to its sandbox (empty for a volume not in use). */
  containerPath: string;
}

export function volumesRoot(workDir: string): string {
  return join(workDir, 'volumes', 'roles');
}

/** Why a persistence id, role or container path cannot be used as a path, or undefined. */
export function unsafePathReason(kind: string, text: string): string | undefined {
  if (text === '') return `${kind} is empty`;
  if (text.includes('\0')) return `${kind} contains a NUL byte`;
  if (isAbsolute(text)) return `${kind} '${text}' must be relative`;
  const parts = text.split('/');
  if (parts.some((p) => p === '..' || p === '.')) return `${kind} '${text}' must not contain '.' or '..'`;
  return undefined;
}

export function volumeRef(item: ResourceItem): VolumeRef | undefined {
  const id = item.disk?.persistence?.id;
  if (!item.isPersistentVolume || id === undefined) return undefined;
  return { role: item.reservationRole ?? '*', id, containerPath: item.disk?.volume?.containerPath ?? '' };
}

export function volumePath(workDir: string, volume: VolumeRef): string {
  for (const [kind, text] of [
    ['persistence id', volume.id],
    ['role', volume.role],
  ] as const) {
    const reason = unsafePathReason(kind, text);
    if (reason) throw new Error(`persistent volume: ${reason}`);
  }
  if (volume.id.includes('/'))
    throw new Error(`persistent volume: persistence id '${volume.id}' contains '/'`);
  return join(volumesRoot(workDir), volume.role, volume.id);
}

/** Every persistent volume in `resources`. */
export function volumesIn(resources: Resources): VolumeRef[] {
  const found: VolumeRef[] = [];
  for (const item of resources) {
    const ref = volumeRef(item);
    if (ref) found.push(ref);
  }
  return found;
}

/**
 * Makes the directories of volumes that are new in `next` and deletes those of volumes that are
 * gone from it (DESTROY). Returns problems, one line each, rather than throwing: one bad volume must
 * not stop the others.
 */
export function syncVolumeDirectories(workDir: string, previous: Resources, next: Resources): string[] {
  const problems: string[] = [];
  const key = (v: VolumeRef) => `${v.role}\u0000${v.id}`;
  const before = new Map(volumesIn(previous).map((v) => [key(v), v]));
  const after = new Map(volumesIn(next).map((v) => [key(v), v]));
  for (const [k, volume] of after) {
    if (before.has(k)) continue;
    try {
      mkdirSync(volumePath(workDir, volume), { recursive: true, mode: 0o755 });
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const [k, volume] of before) {
    if (after.has(k)) continue;
    try {
      rmSync(volumePath(workDir, volume), { recursive: true, force: true });
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

/**
 * Links each persistent volume of `resources` into `sandbox` at its container path. The link's
 * parent directories are made inside the sandbox; a path that would leave it is refused.
 */
export function linkVolumesIntoSandbox(workDir: string, sandbox: string, resources: Resources): string[] {
  const problems: string[] = [];
  for (const volume of volumesIn(resources)) {
    try {
      const reason = unsafePathReason('container path', volume.containerPath);
      if (reason) throw new Error(`persistent volume ${volume.id}: ${reason}`);
      const target = volumePath(workDir, volume);
      const link = join(sandbox, normalize(volume.containerPath));
      const inside = relative(sandbox, link);
      if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..') {
        throw new Error(`persistent volume ${volume.id}: container path leaves the sandbox`);
      }
      mkdirSync(target, { recursive: true, mode: 0o755 });
      // A task may have planted symlinks in its sandbox: the link's real parent must be inside it.
      const realSandbox = realpathSync(sandbox);
      const parent = mkdirInside(realSandbox, relative(sandbox, dirname(link)));
      if (parent !== realSandbox && !parent.startsWith(realSandbox + sep)) {
        throw new Error(`persistent volume ${volume.id}: ${volume.containerPath} leads out of the sandbox`);
      }
      if (existsLink(link)) {
        if (readlinkSync(link) === target) continue;
        throw new Error(
          `persistent volume ${volume.id}: ${volume.containerPath} already exists in the sandbox`,
        );
      }
      symlinkSync(target, link, 'dir');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

function existsLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `mkdir -p root/path` that stops as soon as a step's real path leaves `root` (a symlink planted by
 * a task), returning the real path reached.
 */
function mkdirInside(root: string, path: string): string {
  let current = root;
  for (const part of path.split(sep).filter((p) => p !== '')) {
    const next = join(current, part);
    if (!existsSync(next)) mkdirSync(next);
    current = realpathSync(next);
    if (current !== root && !current.startsWith(root + sep)) return current;
  }
  return current;
}
