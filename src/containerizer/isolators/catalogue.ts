/**
 * `--isolation`, `--launcher`, `--containerizers`: parsing, Mesos' aliases, the combinations that
 * are refused at start, and the fixed isolator order (mesos-internals.md 1.9): filesystem →
 * runtime (posix/cpu, posix/mem, posix/rlimits, cgroups/*, docker/runtime, appc/runtime, linux/capabilities,
 * namespaces/ipc, namespaces/pid, namespaces/uts) → volumes → disk. Pure.
 */

export const KNOWN_ISOLATORS = [
  'filesystem/posix',
  'filesystem/linux',
  'posix/cpu',
  'posix/mem',
  'posix/rlimits',
  'cgroups/cpu',
  'cgroups/mem',
  'cgroups/pids',
  'cgroups/devices',
  'docker/runtime',
  'appc/runtime',
  'linux/capabilities',
  'namespaces/ipc',
  'namespaces/pid',
  'namespaces/uts',
  'volume/sandbox_path',
  'volume/host_path',
  'disk/du',
] as const;
export type IsolatorName = (typeof KNOWN_ISOLATORS)[number];

const ALIASES: Record<string, IsolatorName[]> = {
  process: ['posix/cpu', 'posix/mem'],
  cgroups: ['cgroups/cpu', 'cgroups/mem'],
  'cgroups/all': ['cgroups/cpu', 'cgroups/mem', 'cgroups/pids', 'cgroups/devices'],
  'posix/disk': ['disk/du'],
  'linux/rlimits': ['posix/rlimits'],
};

/** Isolators that exist only through the OCI runtime (the linux launcher). */
const NEEDS_LINUX_LAUNCHER = (name: IsolatorName) =>
  name.startsWith('cgroups/') ||
  name.startsWith('namespaces/') ||
  name.startsWith('volume/') ||
  name === 'filesystem/linux' ||
  name === 'linux/capabilities' ||
  name === 'posix/rlimits' ||
  name === 'docker/runtime' ||
  name === 'appc/runtime';

export interface IsolationPlan {
  /** In prepare order. */
  isolators: IsolatorName[];
  launcher: 'posix' | 'linux';
  /** Whether executors run through the OCI runtime. */
  runtime: boolean;
}

export class IsolationFlagError extends Error {}

/**
 * The plan for `--isolation`/`--launcher`/`--containerizers`, or an IsolationFlagError with the
 * reason. `isolation` empty = today's plain process launch (no isolator at all).
 */
export function planIsolation(input: {
  isolation: string;
  launcher: string | undefined;
  containerizers: string;
  root: boolean;
}): IsolationPlan {
  const containerizers = input.containerizers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const c of containerizers) {
    if (c !== 'mesos') {
      throw new IsolationFlagError(
        `--containerizers=${input.containerizers}: only the 'mesos' containerizer exists here ('${c}' is not supported)`,
      );
    }
  }
  const names: IsolatorName[] = [];
  for (const raw of input.isolation
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const expanded = ALIASES[raw] ?? [raw];
    for (const name of expanded) {
      if (!(KNOWN_ISOLATORS as readonly string[]).includes(name)) {
        throw new IsolationFlagError(
          `--isolation: unknown isolator '${name}' (known: ${KNOWN_ISOLATORS.join(', ')})`,
        );
      }
      if (names.includes(name as IsolatorName))
        throw new IsolationFlagError(`--isolation: '${name}' is given twice`);
      names.push(name as IsolatorName);
    }
  }
  const filesystems = names.filter((n) => n.startsWith('filesystem/'));
  if (filesystems.length > 1)
    throw new IsolationFlagError(
      `--isolation: only one filesystem isolator may be given (${filesystems.join(', ')})`,
    );
  if (names.length > 0 && filesystems.length === 0) names.unshift('filesystem/posix');
  if (names.includes('filesystem/linux') && !input.root) {
    throw new IsolationFlagError(
      '--isolation=filesystem/linux needs the agent to run as root (mounts, pivot_root)',
    );
  }
  for (const runtime of ['docker/runtime', 'appc/runtime'] as const)
    if (names.includes(runtime) && !names.includes('filesystem/linux')) {
      throw new IsolationFlagError(
        `--isolation=${runtime} needs filesystem/linux (images run in their own root filesystem)`,
      );
    }
  const wantsLinux = names.filter(NEEDS_LINUX_LAUNCHER);
  const launcher =
    input.launcher === undefined || input.launcher === ''
      ? names.length > 0 && input.root
        ? 'linux'
        : 'posix'
      : input.launcher;
  if (launcher !== 'posix' && launcher !== 'linux')
    throw new IsolationFlagError(`--launcher=${launcher}: use posix or linux`);
  if (launcher === 'linux' && !input.root)
    throw new IsolationFlagError('--launcher=linux needs the agent to run as root');
  if (launcher === 'posix' && wantsLinux.length > 0) {
    throw new IsolationFlagError(
      `--isolation=${wantsLinux.join(',')} needs --launcher=linux (and root); the posix launcher runs plain processes`,
    );
  }
  const order = (n: IsolatorName) => KNOWN_ISOLATORS.indexOf(n);
  const isolators = [...names].sort((a, b) => order(a) - order(b));
  return { isolators, launcher, runtime: launcher === 'linux' && names.length > 0 };
}
