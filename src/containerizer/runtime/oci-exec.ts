/**
 * Running a process inside a live container with the OCI runtime's `exec` (nested containers of
 * an isolating agent: LAUNCH_NESTED_CONTAINER[_SESSION], the default executor's tasks). The new
 * process joins the container's namespaces (pid, mount = its rootfs), cgroups and security
 * settings, as Mesos starts nested containers inside their parent.
 *
 * The process spec starts from the container's own `config.json` process (user, capabilities,
 * rlimits, no_new_privileges) with the nested container's args, env and cwd. Host paths (the
 * nested sandbox) become container paths through the container's bind mounts (the sandbox is bound
 * at --sandbox_directory); a container on the host root sees host paths as they are.
 *
 * `<runtime> exec` runs in the foreground and exits with the process' status (128 + n when it was
 * killed by signal n, crun and runc alike); `--pid-file` gives the process' host pid, which is
 * what KILL signals. A TTY needs the runtime's stdin to be a terminal (the IO switchboard's pty
 * relay gives it one); runc passes later window sizes on, crun 1.8 keeps the first one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { OciRuntime } from './oci-runtime.js';
import { readPid } from './oci-runtime.js';

interface BundleMount {
  source: string;
  destination: string;
}

/** A live container that nested processes can be started in. */
export interface ExecTarget {
  containerId: string;
  runtimePath: string;
  runtimeName: string;
  /** The runtime's state root (`--root`). */
  stateRoot: string;
  /** Where per-exec files (process.json, pid) are written (the container's state directory). */
  stateDir: string;
  /** The container's process as its config.json has it. */
  process: Record<string, unknown>;
  /** The container's root is the host's (no image): host paths are seen unchanged. */
  hostRoot: boolean;
  binds: BundleMount[];
  /** The container's `linux.cgroupsPath` (its cgroups below each hierarchy's root), if any. */
  cgroupsPath?: string;
  /** The container's root filesystem as a host path (config.json `root.path`), if any. */
  rootPath?: string;
}

/**
 * The exec target of the container whose bundle (config.json) is in `bundleDir`, or undefined
 * when there is no readable bundle.
 */
export function readExecTarget(
  runtime: OciRuntime,
  containerId: string,
  bundleDir: string,
  hostRoot: string | undefined,
): ExecTarget | undefined {
  let spec: {
    process?: Record<string, unknown>;
    root?: { path?: string };
    linux?: { cgroupsPath?: string };
    mounts?: { source?: string; destination?: string; type?: string; options?: string[] }[];
  };
  try {
    spec = JSON.parse(readFileSync(join(bundleDir, 'config.json'), 'utf8')) as typeof spec;
  } catch {
    return undefined;
  }
  const binds: BundleMount[] = [];
  for (const m of spec.mounts ?? []) {
    const isBind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (isBind && m.source && m.destination) binds.push({ source: m.source, destination: m.destination });
  }
  return {
    containerId,
    runtimePath: runtime.info.path,
    runtimeName: runtime.info.name,
    stateRoot: runtime.stateRoot,
    stateDir: bundleDir,
    process: spec.process ?? {},
    hostRoot: hostRoot !== undefined && spec.root?.path === hostRoot,
    binds,
    ...(typeof spec.linux?.cgroupsPath === 'string' ? { cgroupsPath: spec.linux.cgroupsPath } : {}),
    ...(typeof spec.root?.path === 'string' ? { rootPath: resolve(bundleDir, spec.root.path) } : {}),
  };
}

function within(path: string, base: string): string | undefined {
  const rel = relative(base, path);
  if (rel === '') return '';
  if (rel.startsWith('..') || rel.startsWith(sep)) return undefined;
  return rel;
}

/**
 * Where the container sees host path `hostPath`: below the bind mount whose source holds it (the
 * deepest one; the last mounted wins among equals), else the path itself on a host-root container,
 * else undefined (not visible inside).
 */
export function containerPath(target: ExecTarget, hostPath: string): string | undefined {
  let best: { destination: string; rel: string; depth: number } | undefined;
  for (const bind of target.binds) {
    const rel = within(hostPath, bind.source);
    if (rel === undefined) continue;
    const depth = bind.source.split('/').length;
    if (!best || depth >= best.depth) best = { destination: bind.destination, rel, depth };
  }
  if (best) return best.rel === '' ? best.destination : join(best.destination, best.rel);
  return target.hostRoot ? hostPath : undefined;
}

export interface ExecSpec {
  /** argv; args[0] is looked up on the container's PATH. */
  args: string[];
  env: Record<string, string>;
  /** The working directory inside the container. */
  cwd: string;
  tty?: boolean;
  /** Names this exec's files (one directory per nested container). */
  name: string;
}

export interface PreparedExec {
  file: string;
  args: string[];
  pidFile: string;
  dir: string;
}

/** Writes the process spec and returns the runtime's command line for it. */
export function prepareExec(target: ExecTarget, spec: ExecSpec): PreparedExec {
  const dir = join(target.stateDir, 'exec', spec.name);
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'pid');
  const processSpec = {
    ...target.process,
    terminal: spec.tty === true,
    args: spec.args,
    env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    cwd: spec.cwd,
  };
  delete (processSpec as { consoleSize?: unknown }).consoleSize;
  writeFileSync(join(dir, 'process.json'), JSON.stringify(processSpec));
  return {
    file: target.runtimePath,
    args: [
      '--root',
      target.stateRoot,
      'exec',
      ...(spec.tty ? ['--tty'] : []),
      '--process',
      join(dir, 'process.json'),
      '--pid-file',
      pidFile,
      target.containerId,
    ],
    pidFile,
    dir,
  };
}

/** The exec'd process' host pid once the runtime has written it; undefined when `gone()` first. */
export async function waitForExecPid(
  pidFile: string,
  gone: () => boolean,
  timeoutMs = 10_000,
): Promise<number | undefined> {
  const started = Date.now();
  for (;;) {
    const pid = existsSync(pidFile) ? readPid(pidFile) : undefined;
    if (pid !== undefined) return pid;
    if (gone() || Date.now() - started > timeoutMs) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The wait status of the process from the runtime's own raw wait status (128 + n: signal n). */
export function execWaitStatus(runtimeStatus: number): number {
  if ((runtimeStatus & 0x7f) !== 0) return runtimeStatus;
  const code = (runtimeStatus >> 8) & 0xff;
  if (code > 128 && code < 128 + 65) return code - 128;
  return runtimeStatus;
}
