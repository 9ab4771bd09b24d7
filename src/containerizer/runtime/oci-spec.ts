/**
 * The OCI runtime spec (config.json) subset Strata writes, and its composition from what the
 * isolators contribute (mesos-internals.md 1.4.1 merge rules, adapted): namespaces are a union,
 * mounts concatenate in isolator order, `linux.resources` merge field by field (two isolators
 * setting the same field is an error), capabilities / rlimits / cwd may come from one isolator
 * only, environment entries later win. Pure: no I/O, unit-tested.
 */

export type NamespaceType = 'pid' | 'mount' | 'ipc' | 'uts' | 'network' | 'cgroup' | 'user';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

export interface OciResources {
  cpu?: { shares?: number; quota?: number; period?: number };
  memory?: { limit?: number; reservation?: number; swap?: number; disableOOMKiller?: boolean };
  pids?: { limit: number };
  devices?: OciDeviceRule[];
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: OciCapabilities;
    rlimits?: OciRlimit[];
    noNewPrivileges?: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: NamespaceType; path?: string }[];
    cgroupsPath?: string;
    resources?: OciResources;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    rootfsPropagation?: string;
  };
}

/** What one isolator adds to a container's launch (Mesos' ContainerLaunchInfo, OCI-shaped). */
export interface LaunchInfo {
  namespaces?: NamespaceType[];
  mounts?: OciMount[];
  resources?: OciResources;
  /** The capability set of the process (at most one isolator). */
  capabilities?: string[];
  /** At most one isolator. */
  rlimits?: OciRlimit[];
  /** At most one isolator; only honoured for containers with a rootfs of their own. */
  cwd?: string;
  env?: Record<string, string>;
  hostname?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** The container's root (at most one isolator: the filesystem one). */
  root?: { path: string; readonly: boolean };
  /** Rewrites the program (the filesystem isolator bringing the executor's runtime along). */
  args?: string[];
}

export interface SpecBase {
  args: string[];
  env: Record<string, string>;
  /** Working directory when no isolator sets one. */
  cwd: string;
  user?: { uid: number; gid: number };
  cgroupsPath?: string;
  /** The capability set when no isolator sets one. */
  capabilities?: readonly string[];
}

export class SpecConflictError extends Error {}

function single<K extends keyof LaunchInfo>(
  field: K,
  infos: readonly { name: string; info: LaunchInfo }[],
): { name: string; value: NonNullable<LaunchInfo[K]> } | undefined {
  const setters = infos.filter((i) => i.info[field] !== undefined);
  if (setters.length > 1) {
    throw new SpecConflictError(
      `isolators ${setters.map((s) => s.name).join(' and ')} both set '${String(field)}'`,
    );
  }
  const first = setters[0];
  return first ? { name: first.name, value: first.info[field] as NonNullable<LaunchInfo[K]> } : undefined;
}

/** Merges `linux.resources` parts; a field set twice is a conflict. */
export function mergeResources(parts: readonly { name: string; resources: OciResources }[]): OciResources {
  const out: OciResources = {};
  const owner = new Map<string, string>();
  const claim = (key: string, name: string) => {
    const prev = owner.get(key);
    if (prev !== undefined)
      throw new SpecConflictError(`isolators ${prev} and ${name} both set resources.${key}`);
    owner.set(key, name);
  };
  for (const { name, resources } of parts) {
    for (const group of ['cpu', 'memory'] as const) {
      const src = resources[group];
      if (!src) continue;
      if (!out[group]) out[group] = {};
      const dst = out[group] as Record<string, number | boolean>;
      for (const [k, v] of Object.entries(src)) {
        if (v === undefined) continue;
        claim(`${group}.${k}`, name);
        dst[k] = v as number | boolean;
      }
    }
    if (resources.pids) {
      claim('pids', name);
      out.pids = { ...resources.pids };
    }
    if (resources.devices) {
      claim('devices', name);
      out.devices = resources.devices.map((d) => ({ ...d }));
    }
  }
  return out;
}

/** Composes config.json from the base and the isolators' launch infos, in isolator order. */
export function composeSpec(base: SpecBase, infos: readonly { name: string; info: LaunchInfo }[]): OciSpec {
  const root = single('root', infos);
  if (!root) throw new SpecConflictError('no isolator provides the root filesystem');
  const namespaces: NamespaceType[] = ['mount'];
  for (const { info } of infos) {
    for (const ns of info.namespaces ?? []) if (!namespaces.includes(ns)) namespaces.push(ns);
  }
  const mounts: OciMount[] = [];
  for (const { info } of infos) mounts.push(...(info.mounts ?? []));
  const env: Record<string, string> = { ...base.env };
  for (const { info } of infos) Object.assign(env, info.env ?? {});
  const resources = mergeResources(
    infos.filter((i) => i.info.resources).map((i) => ({ name: i.name, resources: i.info.resources! })),
  );
  const caps = single('capabilities', infos)?.value ?? base.capabilities;
  const rlimits = single('rlimits', infos)?.value;
  const cwd = single('cwd', infos)?.value ?? base.cwd;
  const hostname = single('hostname', infos)?.value;
  const args = single('args', infos)?.value ?? base.args;
  const masked = infos.flatMap((i) => i.info.maskedPaths ?? []);
  const readonly = infos.flatMap((i) => i.info.readonlyPaths ?? []);
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: base.user ?? { uid: 0, gid: 0 },
      args: [...args],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd,
      ...(caps
        ? {
            capabilities: {
              bounding: [...caps],
              effective: [...caps],
              permitted: [...caps],
              inheritable: [],
              ambient: [],
            },
          }
        : {}),
      ...(rlimits ? { rlimits: rlimits.map((r) => ({ ...r })) } : {}),
    },
    root: { ...root.value },
    mounts,
    linux: {
      namespaces: namespaces.map((type) => ({ type })),
      ...(base.cgroupsPath ? { cgroupsPath: base.cgroupsPath } : {}),
      ...(Object.keys(resources).length > 0 ? { resources } : {}),
      ...(masked.length > 0 ? { maskedPaths: masked } : {}),
      ...(readonly.length > 0 ? { readonlyPaths: readonly } : {}),
      rootfsPropagation: 'rslave',
    },
  };
  if (hostname !== undefined && namespaces.includes('uts')) spec.hostname = hostname;
  return spec;
}

/** Every capability a root process has (the set a container gets without linux/capabilities). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
] as const;

/** Docker's default set: what linux/capabilities grants when the task asks for nothing. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

/**
 * A nested container's namespaces: a mount namespace of its own (it pivots into its own rootfs)
 * and the listed ones of process `pid` (its parent container's init) joined by path.
 */
export function joinedNamespaces(
  pid: number,
  join: readonly Exclude<NamespaceType, 'mount'>[],
): { type: NamespaceType; path?: string }[] {
  return [{ type: 'mount' }, ...join.map((type) => ({ type, path: `/proc/${pid}/ns/${type}` }))];
}
