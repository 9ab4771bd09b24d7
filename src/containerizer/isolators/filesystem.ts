/**
 * filesystem/posix and filesystem/linux, with the volume isolators (volume/host_path,
 * volume/sandbox_path, persistent volumes) folded into the mount list they produce.
 *
 * - filesystem/posix: the container's root is the host's own (through the agent's bind of `/`,
 *   HostRoot: pivot_root cannot pivot onto `/` itself); cwd and MESOS_SANDBOX are the host
 *   sandbox; persistent volumes stay the symlinks the agent puts in the sandbox.
 * - filesystem/linux with a rootfs (an image): the runtime pivots into it; /proc, /sys (read-only),
 *   /dev (tmpfs with the runtime's default nodes, devpts, /dev/shm) are mounted minimally; the
 *   sandbox is bound at --sandbox_directory, which becomes MESOS_SANDBOX and the cwd (unless the
 *   image names a WorkingDir); Mesos' masked /proc paths are masked. The executor program itself
 *   (the agent's Node.js and its scripts) is brought in read-only under /.strata and started
 *   through the host's dynamic loader, so the image needs nothing of the agent's.
 * - Volumes (ContainerInfo.volumes): HOST_PATH (and the legacy host_path field) and SANDBOX_PATH
 *   SELF are bind mounts at container_path (relative paths are below the sandbox), read-only
 *   with mode RO; persistent volumes are bound at `<sandbox>/<container_path>` with a rootfs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative } from 'node:path';
import {
  Volume_Mode,
  Volume_Source_SandboxPath_Type,
  Volume_Source_Type,
} from '../../wire/gen/mesos/v1/mesos_pb.js';
import type { LaunchInfo, OciMount } from '../runtime/oci-spec.js';
import type { ContainerConfig, Isolator } from './isolator.js';

export const DEFAULT_SANDBOX_DIRECTORY = '/mnt/mesos/sandbox';
/** Where the executor's runtime (node, its libraries, the agent's scripts) appears in an image container. */
export const TOOLBOX_DIR = '/.strata';

/** Mesos 1.9's masked paths for non-privileged containers with a rootfs. */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/key-users',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/firmware',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export class VolumeError extends Error {}

export function bind(source: string, destination: string, readOnly: boolean): OciMount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', readOnly ? 'ro' : 'rw'] };
}

/** A container path: absolute as given, or relative to where the container sees its sandbox. */
function containerPathOf(path: string, sandboxInContainer: string): string {
  const clean = normalize(path);
  if (isAbsolute(clean)) return clean;
  if (clean === '..' || clean.startsWith('../'))
    throw new VolumeError(`volume container_path '${path}' escapes the sandbox`);
  return join(sandboxInContainer, clean);
}

/** The mounts for ContainerInfo.volumes and persistent volumes (pure apart from nothing: paths only). */
export function volumeMounts(config: ContainerConfig, sandboxInContainer: string): OciMount[] {
  const mounts: OciMount[] = [];
  for (const volume of config.containerInfo?.volumes ?? []) {
    const readOnly = volume.mode === Volume_Mode.RO;
    const target = containerPathOf(volume.containerPath, sandboxInContainer);
    const source = volume.source;
    if (source?.type === Volume_Source_Type.HOST_PATH && source.hostPath) {
      if (!isAbsolute(source.hostPath.path))
        throw new VolumeError(`host path '${source.hostPath.path}' must be absolute`);
      mounts.push(bind(source.hostPath.path, target, readOnly));
    } else if (source?.type === Volume_Source_Type.SANDBOX_PATH && source.sandboxPath) {
      if (source.sandboxPath.type !== Volume_Source_SandboxPath_Type.SELF)
        throw new VolumeError('SANDBOX_PATH volumes of type PARENT need a nested container');
      const rel = normalize(source.sandboxPath.path);
      if (isAbsolute(rel) || rel === '..' || rel.startsWith('../'))
        throw new VolumeError(`sandbox path '${source.sandboxPath.path}' must stay inside the sandbox`);
      mounts.push(bind(join(config.sandbox, rel), target, readOnly));
    } else if (!source && volume.hostPath !== '') {
      // The legacy form: host_path + container_path.
      const host = isAbsolute(volume.hostPath) ? volume.hostPath : join(config.sandbox, volume.hostPath);
      mounts.push(bind(host, target, readOnly));
    } else if (source) {
      throw new VolumeError(
        `volume source type ${Volume_Source_Type[source.type] ?? source.type} is not supported here`,
      );
    }
  }
  if (config.rootfs) {
    for (const pv of config.persistentVolumes ?? []) {
      mounts.push(bind(pv.hostPath, containerPathOf(pv.containerPath, sandboxInContainer), pv.readOnly));
    }
  }
  return mounts;
}

export class FilesystemPosixIsolator implements Isolator {
  readonly name: string = 'filesystem/posix';
  constructor(protected readonly hostRoot: () => string) {}
  async prepare(config: ContainerConfig): Promise<LaunchInfo> {
    if (config.rootfs)
      throw new VolumeError(
        'filesystem/posix cannot run images: start the agent with --isolation including filesystem/linux',
      );
    return { root: { path: this.hostRoot(), readonly: false }, mounts: volumeMounts(config, config.sandbox) };
  }
  async cleanup(): Promise<void> {}
}

/** The executor's runtime, made visible inside an image: Node's loader, libraries, binary and the app. */
export interface Toolbox {
  loader: string;
  libraries: string[];
  node: string;
  /** The agent's install root (holds dist/ and node_modules/). */
  appRoot: string;
}

/** `ldd` of the Node binary → its loader and libraries (computed once). */
export function discoverToolbox(nodePath = process.execPath, appRoot = findAppRoot()): Toolbox | undefined {
  let text: string;
  try {
    text = execFileSync('ldd', [nodePath], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
  const libraries: string[] = [];
  let loader: string | undefined;
  for (const line of text.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    if (arrow?.[1]) libraries.push(arrow[1]);
    else {
      const bare = /^\s*(\/\S+)\s+\(/.exec(line);
      if (bare?.[1]) loader = bare[1];
    }
  }
  if (!loader) return undefined;
  return {
    loader: realpathSync(loader),
    // As ldd names them (sonames, often symlinks): the loader looks them up by that name, and the
    // bind mount follows the link (libstdc++.so.6 → libstdc++.so.6.0.30).
    libraries,
    node: realpathSync(nodePath),
    appRoot,
  };
}

function findAppRoot(): string {
  let dir = dirname(new URL(import.meta.url).pathname);
  while (dir !== '/' && !existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  // dist/ holds a package.json-less tree; the install root is the first with package.json.
  return dir;
}

/** Pure: the mounts and argv that run `args` (node + a script under appRoot) inside a rootfs. */
export function toolboxLaunch(
  toolbox: Toolbox,
  args: readonly string[],
): { mounts: OciMount[]; args: string[] } | undefined {
  const [program, ...rest] = args;
  if (program === undefined) return undefined;
  let resolved = program;
  try {
    resolved = realpathSync(program);
  } catch {
    // compare as given
  }
  if (resolved !== toolbox.node && program !== process.execPath) return undefined;
  const lib = `${TOOLBOX_DIR}/lib`;
  const app = `${TOOLBOX_DIR}/app`;
  const mounts: OciMount[] = [
    bind(toolbox.loader, `${lib}/${basename(toolbox.loader)}`, true),
    ...toolbox.libraries.map((l) => bind(l, `${lib}/${basename(l)}`, true)),
    bind(toolbox.node, `${TOOLBOX_DIR}/bin/node`, true),
    bind(toolbox.appRoot, app, true),
  ];
  const mapped = rest.map((a) => {
    const rel = relative(toolbox.appRoot, a);
    return isAbsolute(a) && !rel.startsWith('..') ? join(app, rel) : a;
  });
  // argv[0] of our executors repeats the node path: drop it (the loader takes the binary next).
  const tail = mapped[0] === program || mapped[0] === process.execPath ? mapped.slice(1) : mapped;
  return {
    mounts,
    args: [`${lib}/${basename(toolbox.loader)}`, '--library-path', lib, `${TOOLBOX_DIR}/bin/node`, ...tail],
  };
}

export class FilesystemLinuxIsolator extends FilesystemPosixIsolator {
  override readonly name = 'filesystem/linux';
  constructor(
    hostRoot: () => string,
    private readonly sandboxDirectory: string,
    private readonly toolbox: () => Toolbox | undefined,
  ) {
    super(hostRoot);
  }

  override async prepare(config: ContainerConfig): Promise<LaunchInfo> {
    if (!config.rootfs) {
      return {
        root: { path: this.hostRoot(), readonly: false },
        mounts: volumeMounts(config, config.sandbox),
      };
    }
    return rootfsLaunch(config, this.sandboxDirectory, this.toolbox());
  }
}

/** Pure: the launch info of a container with its own rootfs. */
export function rootfsLaunch(
  config: ContainerConfig,
  sandboxDirectory: string,
  toolbox: Toolbox | undefined,
): LaunchInfo {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    bind(config.sandbox, sandboxDirectory, false),
    ...volumeMounts(config, sandboxDirectory),
  ];
  const info: LaunchInfo = {
    root: { path: config.rootfs!, readonly: false },
    mounts,
    env: { ...(config.image?.env ?? {}), MESOS_SANDBOX: sandboxDirectory },
    cwd: config.image?.workingDir || sandboxDirectory,
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
  };
  const tool = toolbox ? toolboxLaunch(toolbox, config.args) : undefined;
  if (tool) {
    info.mounts!.push(...tool.mounts);
    info.args = tool.args;
  }
  return info;
}
