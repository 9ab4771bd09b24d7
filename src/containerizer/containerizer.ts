/**
 * The Mesos containerizer of this agent (mesos-internals.md 1.3-1.7): launches executors through
 * the isolators and, with the linux launcher, the OCI runtime under a shim; finds them again after
 * an agent restart; destroys them (isolator cleanup in reverse order, idempotent).
 *
 * Per container it keeps `<runtime_dir>/containerizer/<id>/`: `config.json` (the bundle),
 * `meta.json` (what recovery needs), `pid` (the init's host pid), `exit` (the runtime's exit code,
 * written by the shim). The agent sees an `ExecutorProcess` like the posix launcher's, plus the
 * container's limitation (OOM...) and usage.
 */
import {
  existsSync,
  type FSWatcher,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ContainerLogger } from '../agent/container-logger.js';
import {
  type ExecutorProcess,
  type LaunchSpec,
  type LocalLinkFactory,
  launchExecutor,
} from '../agent/launcher.js';
import { isProcessAlive } from '../agent/recovered-process.js';
import { volumePath, volumeRef } from '../agent/volumes.js';
import type { Logger } from '../common/log.js';
import { resourcesFromMessages } from '../resources/messages.js';
import type { CommandInfo, ContainerInfo, Image, Resource } from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  findTini,
  HOSTED_TERMINAL_MARKER,
  HostedCommandExecutor,
  type HostedContainerOps,
  type HostedMeta,
  type HostedTaskContainer,
  hostingProblem,
  readHostedMeta,
  TINI_IN_IMAGE,
} from './hosted-executor.js';
import type { IsolationPlan } from './isolators/catalogue.js';
import { CgroupsIsolator, detectCgroupLayout } from './isolators/cgroups.js';
import {
  bind as bindMount,
  DEFAULT_SANDBOX_DIRECTORY,
  discoverToolbox,
  FilesystemLinuxIsolator,
  FilesystemPosixIsolator,
  rootfsLaunch,
  type Toolbox,
} from './isolators/filesystem.js';
import {
  type ContainerConfig,
  type ContainerResources,
  cleanupAll,
  type Isolator,
  type Limitation,
  mergeUsage,
  prepareAll,
  type UsageStats,
} from './isolators/isolator.js';
import { CapabilitiesIsolator, RlimitsIsolator } from './isolators/linux.js';
import { IpcNamespaceIsolator, PidNamespaceIsolator, UtsNamespaceIsolator } from './isolators/namespaces.js';
import { DiskDuIsolator, PosixCpuIsolator, PosixMemIsolator } from './isolators/posix.js';
import { launchFromImage, mergeEnvironment } from './provisioner/launch.js';
import { createMountPoints, imageEnv, imageName, progressReporter, type RootfsProvider } from './rootfs.js';
import { ensureHostRoot } from './runtime/host-root.js';
import { type ExecTarget, readExecTarget } from './runtime/oci-exec.js';
import {
  OciRuntime,
  probeRuntime,
  readExitCode,
  readPid,
  type Shim,
  waitStatusFromRunExit,
} from './runtime/oci-runtime.js';
import {
  ALL_CAPABILITIES,
  composeSpec,
  joinedNamespaces,
  type OciCapabilities,
  type OciRlimit,
  type OciSpec,
} from './runtime/oci-spec.js';

/**
 * The command an image gives a command task (JSON CommandInfo: shell false, value, arguments with
 * argv[0]); the command executor runs it instead of its task's empty one.
 */
export const TASK_COMMAND_VARIABLE = 'STRATA_TASK_COMMAND';

export interface ContainerizerOptions {
  plan: IsolationPlan;
  workDir: string;
  runtimeDir: string;
  sandboxDirectory?: string;
  cgroupsRoot: string;
  enableCfs: boolean;
  defaultContainerInfo?: ContainerInfo | undefined;
  rootfsProvider?: RootfsProvider | undefined;
  logger: ContainerLogger;
  log: Logger;
  /** Poll interval for containers found again after a restart. */
  recoveredPollMs?: number;
  /**
   * Run command executors inside the agent process, the container running the task itself
   * (hosted-executor.ts); false keeps the Node executor in every container.
   */
  hostCommandExecutors?: boolean;
}

/** What the agent sees of a container: the launcher's process, plus limitation and usage. */
export interface ContainerProcess extends ExecutorProcess {
  readonly containerId: string;
  /** Settles when an isolator requires the container to be killed (it is killed already). */
  readonly limitation: Promise<Limitation>;
  /** A limitation already hit, looked up synchronously. */
  limited(): Limitation | undefined;
  usage(): Promise<UsageStats>;
}

interface Meta {
  id: string;
  sandbox: string;
  resources: ContainerResources;
  rootfs?: string;
  shimPid: number;
  pid: number;
  runtime: string;
  /** An agent-hosted command executor's task container (hosted-executor.ts). */
  hosted?: HostedMeta;
}

/** A container whose isolators are prepared and whose config.json is composed, not started. */
interface PreparedContainer {
  config: ContainerConfig;
  dir: string;
  spec: OciSpec;
}

/** A nested container with an image of its own (LAUNCH_NESTED_CONTAINER with `mesos.image`). */
export interface NestedImageLaunch {
  /** Its id chain: the executor's container, then its own id. */
  chain: readonly string[];
  /** Its host sandbox (`<parent sandbox>/containers/<id>`), bound at --sandbox_directory. */
  sandbox: string;
  image: Image;
  command: CommandInfo;
  /** The command's own environment variables (they win over the image's Env). */
  env: Record<string, string>;
  /** Its ContainerInfo (volumes). */
  containerInfo?: ContainerInfo | undefined;
  /** Limits of its own, in a cgroup below the parent's; none: only the parent's limits bound it. */
  resources?: readonly Resource[] | undefined;
}

/** What recovery needs of a nested image container (`<root state dir>/containers/<id>/meta.json`). */
interface NestedMeta {
  chain: string[];
  sandbox: string;
  shimPid: number;
  pid: number;
}

function resourcesOf(
  list: readonly Resource[],
  workDir: string,
): { resources: ContainerResources; volumes: ContainerConfig['persistentVolumes'] } {
  const res = resourcesFromMessages(list, { invalid: 'skip' });
  const volumes: NonNullable<ContainerConfig['persistentVolumes']> = [];
  for (const item of res) {
    const ref = volumeRef(item);
    if (ref && ref.containerPath !== '') {
      volumes.push({
        hostPath: volumePath(workDir, ref),
        containerPath: ref.containerPath,
        readOnly: String(item.disk?.volume?.mode) === 'RO' || Number(item.disk?.volume?.mode) === 2,
      });
    }
  }
  return {
    resources: { cpus: res.scalar('cpus'), memMb: res.scalar('mem'), diskMb: res.scalar('disk') },
    volumes,
  };
}

export class Containerizer {
  private readonly isolators: Isolator[];
  private readonly cgroups: CgroupsIsolator | undefined;
  private readonly stateDir: string;
  private readonly live = new Map<string, ContainerProcess>();
  private readonly claimed = new Set<string>();
  private toolboxCache: Toolbox | undefined | null = null;
  private tiniCache: string | undefined | null = null;
  /** Nested image containers started or found again by this agent → their shim's end. */
  private readonly nestedShims = new Map<string, Promise<void>>();
  private readonly nestedDestroys = new Map<string, Promise<void>>();

  private constructor(
    private readonly options: ContainerizerOptions,
    private readonly runtime: OciRuntime | undefined,
    private readonly hostRoot: string | undefined,
  ) {
    this.stateDir = join(options.runtimeDir, 'containerizer');
    const names = new Set(options.plan.isolators);
    const subsystems = new Set<'cpu' | 'mem' | 'pids' | 'devices'>();
    for (const s of ['cpu', 'mem', 'pids', 'devices'] as const)
      if (names.has(`cgroups/${s}`)) subsystems.add(s);
    const isolators: Isolator[] = [];
    const root = () => this.hostRoot ?? '/';
    const sandboxDir = options.sandboxDirectory ?? DEFAULT_SANDBOX_DIRECTORY;
    for (const name of options.plan.isolators) {
      switch (name) {
        case 'filesystem/posix':
          if (this.runtime) isolators.push(new FilesystemPosixIsolator(root));
          break;
        case 'filesystem/linux':
          isolators.push(new FilesystemLinuxIsolator(root, sandboxDir, () => this.toolbox()));
          break;
        case 'posix/cpu':
          isolators.push(new PosixCpuIsolator());
          break;
        case 'posix/mem':
          isolators.push(new PosixMemIsolator());
          break;
        case 'posix/rlimits':
          isolators.push(new RlimitsIsolator());
          break;
        case 'linux/capabilities':
          isolators.push(new CapabilitiesIsolator());
          break;
        case 'namespaces/ipc':
          isolators.push(new IpcNamespaceIsolator());
          break;
        case 'namespaces/pid':
          isolators.push(new PidNamespaceIsolator());
          break;
        case 'namespaces/uts':
          isolators.push(new UtsNamespaceIsolator());
          break;
        case 'disk/du':
          isolators.push(new DiskDuIsolator());
          break;
        default:
          // cgroups/* (one isolator, below), docker/runtime (image config, applied at launch),
          // volume/* (mounts made by the filesystem isolator).
          break;
      }
    }
    // With the linux launcher the cgroups isolator always exists (it owns the freezer kill).
    if (this.runtime) {
      this.cgroups = new CgroupsIsolator({
        layout: detectCgroupLayout(),
        root: options.cgroupsRoot,
        enableCfs: options.enableCfs,
        subsystems,
      });
      const firstVolume = isolators.findIndex((i) => i.name === 'disk/du');
      isolators.splice(firstVolume < 0 ? isolators.length : firstVolume, 0, this.cgroups);
    }
    this.isolators = isolators;
  }

  /** Probes the runtime (linux launcher) and builds the isolators; throws with a clear reason. */
  static async create(options: ContainerizerOptions): Promise<Containerizer> {
    let runtime: OciRuntime | undefined;
    let hostRoot: string | undefined;
    if (options.plan.runtime) {
      hostRoot = ensureHostRoot();
      const scratch = join(options.runtimeDir, 'containerizer', '.probe');
      mkdirSync(scratch, { recursive: true });
      const info = await probeRuntime(hostRoot, scratch);
      rmSync(scratch, { recursive: true, force: true });
      runtime = new OciRuntime(info, join(options.runtimeDir, 'containerizer', `.${info.name}`));
      options.log.info(
        { runtime: info.name, version: info.version, isolation: options.plan.isolators.join(',') },
        'containerizer ready',
      );
    }
    return new Containerizer(options, runtime, hostRoot);
  }

  get runtimeName(): string | undefined {
    return this.runtime?.info.name;
  }

  private toolbox(): Toolbox | undefined {
    if (this.toolboxCache === null) this.toolboxCache = discoverToolbox();
    return this.toolboxCache;
  }

  private async containerConfig(spec: LaunchSpec): Promise<ContainerConfig> {
    const c = spec.container!;
    const info = c.info.container ?? this.options.defaultContainerInfo;
    const { resources, volumes } = resourcesOf(c.resources, this.options.workDir);
    const config: ContainerConfig = {
      containerId: c.id,
      sandbox: spec.sandbox,
      args: [spec.program.file, ...spec.program.args],
      env: { ...spec.env },
      resources,
      containerInfo: info,
      labels: c.info.labels,
      persistentVolumes: volumes,
    };
    const image = info?.mesos?.image;
    if (image) {
      if (!this.options.plan.isolators.includes('filesystem/linux'))
        throw new Error('a container image needs --isolation with filesystem/linux');
      const provider = this.options.rootfsProvider;
      if (!provider) throw new Error('no image provisioner is configured on this agent');
      const provisioned = await provider.provision(
        c.id,
        image,
        spec.progress ? { onProgress: progressReporter(spec.progress) } : {},
      );
      config.rootfs = provisioned.rootfs;
      if (this.usesImageConfig && provisioned.config) {
        config.image = {
          env: imageEnv(provisioned.config),
          ...(provisioned.config.workingDir ? { workingDir: provisioned.config.workingDir } : {}),
        };
        // A command task with `shell: false` and no value runs the image's Entrypoint/Cmd (Mesos'
        // docker/runtime hands the command executor `--task_command`; here an environment variable).
        const command = c.taskCommand;
        if (command && !command.shell && command.value === '') {
          try {
            const launch = launchFromImage(
              {
                entrypoint: provisioned.config.entrypoint,
                cmd: provisioned.config.cmd,
                env: [],
                workingDir: provisioned.config.workingDir,
                user: undefined,
              },
              { shell: false, value: '', arguments: command.arguments },
              { image: imageName(image) },
            );
            config.env[TASK_COMMAND_VARIABLE] = JSON.stringify({
              shell: false,
              value: launch.executable,
              arguments: launch.argv,
            });
          } catch (err) {
            await provider.destroy?.(c.id).catch(() => undefined);
            throw err;
          }
        }
      }
    }
    return config;
  }

  /** Starts an executor (isolated as planned). */
  async launch(spec: LaunchSpec): Promise<ExecutorProcess> {
    if (!spec.container) return launchExecutor(spec, this.options.logger);
    if (!this.runtime) return this.launchPosix(spec);
    return this.launchContainer(spec);
  }

  /** An image's Env, WorkingDir, Entrypoint and Cmd shape its containers (docker/ or appc/runtime). */
  private get usesImageConfig(): boolean {
    return this.options.plan.isolators.some((n) => n === 'docker/runtime' || n === 'appc/runtime');
  }

  /** The pid namespace isolator is on: hosted task containers need an init (tini) then. */
  private get pidNamespace(): boolean {
    return this.options.plan.isolators.includes('namespaces/pid');
  }

  /** posix launcher with posix isolators: a plain process, measured and limited from /proc. */
  private async launchPosix(spec: LaunchSpec): Promise<ExecutorProcess> {
    const config = await this.containerConfig(spec);
    await prepareAll(this.isolators, config);
    let child: ExecutorProcess;
    try {
      await spec.admit?.();
      child = await launchExecutor(spec, this.options.logger);
    } catch (err) {
      await cleanupAll(this.isolators, config.containerId).catch(() => undefined);
      throw err;
    }
    for (const i of this.isolators) await i.isolate?.(config.containerId, child.pid);
    const limitation = this.watchAll(config.containerId, () => child.signal('SIGKILL'));
    const exited = child.exited.then(async (status) => {
      await cleanupAll(this.isolators, config.containerId).catch((err: unknown) =>
        this.options.log.warn({ err, containerId: config.containerId }, 'isolator cleanup failed'),
      );
      return status;
    });
    return this.wrap(
      config.containerId,
      child.pid,
      exited,
      (s) => child.signal(s),
      () => child.hasExited,
      limitation,
    );
  }

  private watchAll(containerId: string, kill: () => void): Promise<Limitation> {
    const watches = this.isolators
      .map((i) => i.watch?.(containerId))
      .filter((p): p is Promise<Limitation> => p !== undefined);
    const limitation =
      watches.length === 0 ? new Promise<Limitation>(() => undefined) : Promise.race(watches);
    void limitation.then((l) => {
      this.options.log.warn(
        { containerId, reason: l.reason, message: l.message },
        'container limitation: killing it',
      );
      kill();
    });
    return limitation;
  }

  private wrap(
    containerId: string,
    pid: number,
    exited: Promise<number | undefined>,
    signal: (s: NodeJS.Signals) => void,
    hasExited: () => boolean,
    limitation: Promise<Limitation>,
    limitedAtExit: () => Limitation | undefined = () => undefined,
  ): ContainerProcess {
    const proc: ContainerProcess = {
      containerId,
      pid,
      exited,
      get hasExited() {
        return hasExited();
      },
      signal,
      limitation,
      limited: () => limitedAtExit() ?? this.limitedNow(containerId),
      usage: async () =>
        mergeUsage(
          await Promise.all(this.isolators.map((i) => i.usage?.(containerId) ?? Promise.resolve({}))),
        ),
    };
    this.live.set(containerId, proc);
    void exited.finally(() => this.live.delete(containerId));
    return proc;
  }

  private containerDir(id: string): string {
    return join(this.stateDir, id);
  }

  private async launchContainer(spec: LaunchSpec): Promise<ExecutorProcess> {
    const begun = performance.now();
    const config = await this.containerConfig(spec);
    this.options.log.debug(
      { containerId: config.containerId, provisionMs: +(performance.now() - begun).toFixed(1) },
      'container configured (image provisioned)',
    );
    const task = spec.container?.commandTask;
    const link = spec.container?.executorLink;
    if (task && link && this.options.hostCommandExecutors) {
      const problem = hostingProblem(task, config.env, this.pidNamespace, this.tini);
      if (problem === undefined) return this.launchHosted(spec, config, link);
      this.options.log.debug({ containerId: config.containerId, problem }, 'command executor not hosted');
    }
    const prepared = await this.prepareContainer(config);
    if (spec.user) prepared.spec.process.user = { uid: spec.user.uid, gid: spec.user.gid };
    try {
      await spec.admit?.();
    } catch (err) {
      await this.destroy(config.containerId, config).catch(() => undefined);
      throw err;
    }
    const started = await this.runContainer(spec, prepared);
    return this.watchStarted(prepared, started);
  }

  /** Isolators prepared, config.json composed (not written); undone on failure. */
  private async prepareContainer(config: ContainerConfig): Promise<PreparedContainer> {
    const id = config.containerId;
    const dir = this.containerDir(id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      const contributions = await prepareAll(this.isolators, config);
      const spec = composeSpec(
        {
          args: config.args,
          env: config.env,
          cwd: config.sandbox,
          cgroupsPath: this.cgroups!.cgroupsPath(id),
          capabilities: ALL_CAPABILITIES,
        },
        contributions,
      );
      return { config, dir, spec };
    } catch (err) {
      await this.destroy(id, config).catch(() => undefined);
      throw err;
    }
  }

  /** Writes config.json and starts the container under its shim; destroys it on failure. */
  private async runContainer(
    spec: LaunchSpec,
    prepared: PreparedContainer,
    hosted?: HostedMeta,
  ): Promise<Shim> {
    const runtime = this.runtime!;
    const { config, dir } = prepared;
    const id = config.containerId;
    let shim: Shim;
    const begun = performance.now();
    try {
      if (config.rootfs) createMountPoints(config.rootfs, prepared.spec.mounts);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(prepared.spec));
      const io = await this.options.logger(spec);
      try {
        shim = await runtime.runShim(id, dir, dir, io);
      } finally {
        io.release();
      }
    } catch (err) {
      await this.destroy(id, config).catch(() => undefined);
      throw err;
    }
    const meta: Meta = {
      id,
      sandbox: config.sandbox,
      resources: config.resources,
      ...(config.rootfs ? { rootfs: config.rootfs } : {}),
      shimPid: shim.shimPid,
      pid: shim.pid,
      runtime: runtime.info.name,
      ...(hosted ? { hosted } : {}),
    };
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    this.options.log.debug(
      { containerId: id, pid: shim.pid, startMs: +(performance.now() - begun).toFixed(1) },
      'container started',
    );
    for (const i of this.isolators) await i.isolate?.(id, shim.pid).catch(() => undefined);
    if (config.rootfs) this.options.rootfsProvider?.containerStarted?.(id);
    return shim;
  }

  /** The agent's view of a started container: exit (then destroy), signals, limitation. */
  private watchStarted(prepared: PreparedContainer, shim: Shim): ContainerProcess {
    const { config, dir } = prepared;
    const id = config.containerId;
    let exitedFlag = false;
    // A limitation (the OOM kill) is read before the teardown removes the cgroup that tells it.
    let atExit: Limitation | undefined;
    const exited = new Promise<number | undefined>((resolve) => {
      void shim.exited.then(() => {
        exitedFlag = true;
        atExit = this.limitedNow(id);
        const code = readExitCode(dir);
        void this.destroy(id, config).finally(() =>
          resolve(code === undefined ? undefined : waitStatusFromRunExit(code)),
        );
      });
    });
    const pid = shim.pid;
    const signal = (s: NodeJS.Signals) => {
      if (exitedFlag) return;
      if (s === 'SIGKILL') void this.cgroups!.killAll(id);
      try {
        process.kill(pid, s);
      } catch {
        // gone
      }
    };
    const limitation = this.watchAll(id, () => signal('SIGKILL'));
    return this.wrap(
      id,
      pid,
      exited,
      signal,
      () => exitedFlag,
      limitation,
      () => atExit,
    );
  }

  /**
   * A command task whose executor runs in this process (hosted-executor.ts): the container is
   * prepared now (the image is provisioned, so pull progress and failures come before the
   * executor subscribes) and started when the executor starts the task.
   */
  private async launchHosted(
    spec: LaunchSpec,
    config: ContainerConfig,
    link: LocalLinkFactory,
  ): Promise<ExecutorProcess> {
    const id = config.containerId;
    const init = this.pidNamespace ? (config.rootfs ? TINI_IN_IMAGE : this.tini) : undefined;
    // No executor program in the container: the toolbox (Node) is not mounted.
    config.args = ['/bin/sh'];
    const prepared = await this.prepareContainer(config);
    if (config.rootfs && init) prepared.spec.mounts.push(bindMount(this.tini!, TINI_IN_IMAGE, true));
    const env = envRecord(prepared.spec.process.env);
    const cwd = prepared.spec.process.cwd;
    let release: Promise<void> | undefined;
    const limitation = deferred<Limitation>();
    const ops: HostedContainerOps = {
      passwdPath: join(config.rootfs ?? '/', 'etc', 'passwd'),
      terminalMarker: join(prepared.dir, HOSTED_TERMINAL_MARKER),
      limitation: limitation.promise,
      limited: () => this.limitedNow(id),
      release: () => {
        release ??= this.destroy(id, config);
        return release;
      },
      start: async (processSpec, meta) => {
        Object.assign(prepared.spec.process, {
          args: processSpec.args,
          env: Object.entries(processSpec.env).map(([k, v]) => `${k}=${v}`),
          cwd: processSpec.cwd,
          user: processSpec.user ?? { uid: 0, gid: 0 },
        });
        const shim = await this.runContainer(spec, prepared, meta);
        const started = this.watchStarted(prepared, shim);
        void started.limitation.then((l) => limitation.resolve(l));
        return hostedContainer(started, shim.pid, prepared.dir);
      },
    };
    try {
      return new HostedCommandExecutor({
        ops,
        env,
        cwd,
        init,
        log: this.options.log.child({ component: 'hosted-executor', containerId: id }),
        link,
        user: spec.user,
      });
    } catch (err) {
      await ops.release().catch(() => undefined);
      throw err;
    }
  }

  private limitedNow(containerId: string): Limitation | undefined {
    for (const i of this.isolators) {
      const l = i.limited?.(containerId);
      if (l) return l;
    }
    return undefined;
  }

  private get tini(): string | undefined {
    if (this.tiniCache === null) this.tiniCache = findTini();
    return this.tiniCache;
  }

  /** Kills what is left, cleans the isolators up (reverse), releases the rootfs, removes the state. */
  private async destroy(id: string, config?: ContainerConfig): Promise<void> {
    const errors: unknown[] = [];
    // Its nested image containers first: their cgroups are below its own, their rootfses below its.
    for (const child of this.nestedChildren(id))
      await this.destroyNested([id, child]).catch((e: unknown) => errors.push(e));
    if (this.cgroups) await this.cgroups.killAll(id).catch((e: unknown) => errors.push(e));
    // `run` deletes its container when it ends: after a clean end (the shim wrote the exit code)
    // there is nothing left for the runtime to delete, and sparing that process matters at
    // dozens of launches a second.
    if (this.runtime && readExitCode(this.containerDir(id)) === undefined)
      await this.runtime.delete(id, true).catch((e: unknown) => errors.push(e));
    await cleanupAll(this.isolators, id).catch((e: unknown) => errors.push(e));
    if (config?.rootfs || existsSync(join(this.containerDir(id), 'meta.json'))) {
      await this.options.rootfsProvider?.destroy?.(id).catch((e: unknown) => errors.push(e));
    }
    await rm(this.containerDir(id), { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    if (errors.length > 0)
      this.options.log.warn(
        { containerId: id, errors: errors.map(String) },
        'container cleanup was not clean',
      );
  }

  /**
   * After an agent restart: the container of `sandbox` (its run directory is the container id),
   * or undefined when this containerizer never started it or it is gone with nothing to report.
   */
  attach(sandbox: string, link?: LocalLinkFactory): ExecutorProcess | undefined {
    if (!this.runtime) return undefined;
    // A nested container's sandbox is `<root sandbox>/containers/<id>`.
    if (basename(dirname(sandbox)) === 'containers')
      return this.attachNested([basename(dirname(dirname(sandbox))), basename(sandbox)]);
    const id = basename(sandbox);
    const dir = this.containerDir(id);
    let meta: Meta;
    try {
      meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      return undefined;
    }
    this.claimed.add(id);
    const config: ContainerConfig = {
      containerId: id,
      sandbox: meta.sandbox,
      args: [],
      env: {},
      resources: meta.resources,
      ...(meta.rootfs ? { rootfs: meta.rootfs } : {}),
    };
    for (const i of this.isolators) void i.recover?.([config], []).then(() => i.isolate?.(id, meta.pid));
    let done = false;
    const exited = new Promise<number | undefined>((resolve) => {
      const check = () => {
        const code = readExitCode(dir);
        const shimAlive = isProcessAlive(meta.shimPid);
        if (code === undefined && shimAlive) return false;
        done = true;
        void this.destroy(id, config).finally(() =>
          resolve(code === undefined ? undefined : waitStatusFromRunExit(code)),
        );
        return true;
      };
      if (check()) return;
      const timer = setInterval(() => {
        if (check()) clearInterval(timer);
      }, this.options.recoveredPollMs ?? 250);
      timer.unref();
    });
    const signal = (s: NodeJS.Signals) => {
      if (done) return;
      if (s === 'SIGKILL') void this.cgroups?.killAll(id);
      if (isProcessAlive(meta.pid)) {
        try {
          process.kill(meta.pid, s);
        } catch {
          // gone
        }
      }
    };
    const limitation = this.watchAll(id, () => signal('SIGKILL'));
    this.options.log.info({ containerId: id, pid: meta.pid }, 'container found again after a restart');
    const proc = this.wrap(id, meta.pid, exited, signal, () => done, limitation);
    const hosted = readHostedMeta(meta);
    // Without the agent's link nobody could host its executor: the container is watched only.
    return hosted && link ? this.rehost(proc, dir, hosted, link) : proc;
  }

  /** A hosted executor's task container after an agent restart: a new executor takes it over. */
  private rehost(
    proc: ContainerProcess,
    dir: string,
    hosted: NonNullable<ReturnType<typeof readHostedMeta>>,
    link: LocalLinkFactory,
  ): ExecutorProcess {
    if (existsSync(join(dir, HOSTED_TERMINAL_MARKER))) {
      // Its end was reported before the restart: what is left is the container's teardown.
      return {
        pid: proc.pid,
        exited: proc.exited.then(() => 0),
        signal: (s) => proc.signal(s),
        get hasExited() {
          return proc.hasExited;
        },
        limitation: proc.limitation,
        limited: () => proc.limited(),
      };
    }
    const container: HostedTaskContainer = {
      pid: proc.pid,
      exited: proc.exited,
      destroyed: proc.exited.then(() => undefined),
      signal: (s) => proc.signal(s),
      limited: () => proc.limited(),
    };
    return new HostedCommandExecutor({
      ops: {
        passwdPath: '/nonexistent',
        terminalMarker: join(dir, HOSTED_TERMINAL_MARKER),
        limitation: proc.limitation,
        limited: () => proc.limited(),
        release: async () => undefined,
        start: () => Promise.reject(new Error('the task already runs')),
      },
      env: hosted.meta.env,
      cwd: hosted.meta.cwd,
      init: hosted.meta.init,
      log: this.options.log.child({ component: 'hosted-executor', containerId: proc.containerId }),
      resume: { task: hosted.task, container, user: hosted.meta.user, startedAt: hosted.meta.startedAt },
      link,
    });
  }

  /** Destroys the containers of an earlier run that the agent did not claim (orphans). */
  async destroyUnclaimed(): Promise<string[]> {
    const orphans = await this.destroyUnclaimedContainers();
    const roots = [...this.claimed, ...this.live.keys()].filter((id) => !orphans.includes(id));
    // Nested image containers of live roots that nobody found again (ended while the agent was down).
    const nested: string[][] = [];
    for (const root of roots) {
      for (const child of this.nestedChildren(root)) {
        if (this.nestedShims.has(`${root}.${child}`)) nested.push([root, child]);
        else await this.destroyNested([root, child]).catch(() => undefined);
      }
    }
    // Rootfses of containers nobody runs any more (an agent that died mid-launch) go too.
    await this.options.rootfsProvider
      ?.recover?.([...roots, ...nested])
      .catch((err: unknown) => this.options.log.warn({ err }, 'image rootfs recovery failed'));
    return orphans;
  }

  private async destroyUnclaimedContainers(): Promise<string[]> {
    if (!this.runtime || !existsSync(this.stateDir)) return [];
    const orphans = readdirSync(this.stateDir).filter(
      (d) => !d.startsWith('.') && !this.claimed.has(d) && !this.live.has(d),
    );
    for (const id of orphans) {
      const pid = readPid(join(this.containerDir(id), 'pid'));
      this.options.log.warn({ containerId: id, pid }, 'destroying an orphan container');
      await this.destroy(id);
    }
    return orphans;
  }

  /**
   * The OCI container of a live executor container, for starting its nested containers inside it
   * (runtime exec); undefined without the linux launcher or when the container is not running.
   */
  execTarget(containerId: string): ExecTarget | undefined {
    if (!this.runtime || (!this.live.has(containerId) && !this.claimed.has(containerId))) return undefined;
    return readExecTarget(this.runtime, containerId, this.containerDir(containerId), this.hostRoot);
  }

  /** Whether `launchNestedWithImage` can work: the linux launcher, filesystem/linux and a provisioner. */
  get runsNestedImages(): boolean {
    return (
      this.runtime !== undefined &&
      this.cgroups !== undefined &&
      this.options.plan.isolators.includes('filesystem/linux') &&
      this.options.rootfsProvider !== undefined
    );
  }

  /**
   * Starts a nested container in a rootfs of its own image (a task of a task group with
   * `container.mesos.image`): a separate OCI container (runtime id `<root>.<id>`) that joins the
   * pid, ipc and uts namespaces of its executor container's init (and shares the host network),
   * pivots into its own rootfs with its sandbox at --sandbox_directory, and has its cgroups below
   * its parent's (`/<cgroups_root>/<root>/<id>`: the parent's limits bound it). It runs under a
   * shim like its parent (it outlives an agent restart; its exit code is recorded); its state
   * lives in the parent's state directory and goes with it. Throws with the reason when it cannot.
   */
  async launchNestedWithImage(request: NestedImageLaunch): Promise<ExecutorProcess> {
    const { runtime, cgroups } = this;
    const provider = this.options.rootfsProvider;
    if (!runtime || !cgroups)
      throw new Error(
        'a container image needs the linux launcher (--isolation with filesystem/linux, as root)',
      );
    if (!this.options.plan.isolators.includes('filesystem/linux'))
      throw new Error('a container image needs --isolation with filesystem/linux');
    if (!provider) throw new Error('no image provisioner is configured on this agent (--image_providers)');
    const chain = [...request.chain];
    const [root, child, ...deeper] = chain;
    if (root === undefined || child === undefined || deeper.length > 0)
      throw new Error("an image is supported for a nested container of an executor's container only");
    const parentPid = this.initPid(root);
    if (parentPid === undefined) throw new Error(`the parent container ${root} is not running`);
    const id = chain.join('.');
    const dir = this.nestedDir(chain);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      const provisioned = await provider.provision(chain, request.image);
      const sandboxDirectory = this.options.sandboxDirectory ?? DEFAULT_SANDBOX_DIRECTORY;
      const image = this.usesImageConfig ? provisioned.config : undefined;
      // Mesos' rules (provisioner/launch.ts): a shell command, an executable, or the image's
      // Entrypoint/Cmd for `shell: false` without a value. The image's User is not honoured.
      const launch = launchFromImage(
        {
          entrypoint: image?.entrypoint,
          cmd: image?.cmd,
          env: [],
          workingDir: image?.workingDir,
          user: undefined,
        },
        { shell: request.command.shell, value: request.command.value, arguments: request.command.arguments },
        { image: imageName(request.image), sandboxDirectory },
      );
      const config: ContainerConfig = {
        containerId: id,
        sandbox: request.sandbox,
        args: [...launch.argv],
        env: {},
        resources: resourcesOf(request.resources ?? [], this.options.workDir).resources,
        containerInfo: request.containerInfo,
        rootfs: provisioned.rootfs,
        ...(image
          ? { image: { env: imageEnv(image), ...(image.workingDir ? { workingDir: image.workingDir } : {}) } }
          : {}),
      };
      const cgroupId = chain.join('/');
      const spec = composeSpec(
        {
          args: config.args,
          env: {},
          cwd: sandboxDirectory,
          cgroupsPath: cgroups.cgroupsPath(cgroupId),
          capabilities: ALL_CAPABILITIES,
        },
        [
          { name: 'filesystem/linux', info: rootfsLaunch(config, sandboxDirectory, undefined) },
          { name: 'cgroups', info: await cgroups.prepare({ ...config, containerId: cgroupId }) },
        ],
      );
      spec.process.env = Object.entries(
        mergeEnvironment(config.image?.env, { MESOS_SANDBOX: sandboxDirectory }, request.env),
      ).map(([k, v]) => `${k}=${v}`);
      spec.linux.namespaces = joinedNamespaces(parentPid, ['pid', 'ipc', 'uts']);
      // As a nested container run inside its parent: the parent's user and security settings.
      Object.assign(spec.process, this.parentProcessSettings(root));
      createMountPoints(provisioned.rootfs, spec.mounts);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
      const io = await this.options.logger({
        program: {
          file: launch.executable,
          args: launch.argv.slice(1),
          argv0: launch.argv[0] ?? launch.executable,
        },
        sandbox: request.sandbox,
        env: {},
      });
      let shim: Shim;
      try {
        shim = await runtime.runShim(id, dir, dir, io);
      } finally {
        io.release();
      }
      const meta: NestedMeta = { chain, sandbox: request.sandbox, shimPid: shim.shimPid, pid: shim.pid };
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
      this.nestedShims.set(id, shim.exited);
      provider.containerStarted?.(chain);
      this.options.log.debug({ containerId: id, pid: shim.pid }, 'nested image container started');
      return this.nestedProcess(chain, shim.pid, shim.exited);
    } catch (err) {
      await this.destroyNested(chain).catch(() => undefined);
      throw err;
    }
  }

  /** The state directory of a nested image container: below its root's, so it goes with it. */
  private nestedDir(chain: readonly string[]): string {
    const [root = '', ...rest] = chain;
    return join(this.containerDir(root), ...rest.flatMap((c) => ['containers', c]));
  }

  /** The nested image containers recorded below executor container `root`. */
  private nestedChildren(root: string): string[] {
    try {
      return readdirSync(join(this.containerDir(root), 'containers'));
    } catch {
      return [];
    }
  }

  /** The host pid of a live container's init, or undefined. */
  private initPid(containerId: string): number | undefined {
    if (!this.live.has(containerId) && !this.claimed.has(containerId)) return undefined;
    const pid = readPid(join(this.containerDir(containerId), 'pid'));
    return pid !== undefined && isProcessAlive(pid) ? pid : undefined;
  }

  /** user, capabilities, rlimits and noNewPrivileges of a container's process (its config.json). */
  private parentProcessSettings(containerId: string): Partial<OciSpec['process']> {
    let parent: Partial<OciSpec['process']> | undefined;
    try {
      parent = (
        JSON.parse(readFileSync(join(this.containerDir(containerId), 'config.json'), 'utf8')) as OciSpec
      ).process;
    } catch {
      return {};
    }
    const out: Partial<OciSpec['process']> = {};
    if (parent?.user) out.user = parent.user;
    if (parent?.capabilities) out.capabilities = parent.capabilities as OciCapabilities;
    if (parent?.rlimits) out.rlimits = parent.rlimits as OciRlimit[];
    if (parent?.noNewPrivileges !== undefined) out.noNewPrivileges = parent.noNewPrivileges;
    return out;
  }

  /** The agent's view of a nested image container: its end (once destroyed) and signals. */
  private nestedProcess(chain: readonly string[], pid: number, ended: Promise<void>): ExecutorProcess {
    const dir = this.nestedDir(chain);
    const cgroupId = chain.join('/');
    let done = false;
    const exited = ended.then(async () => {
      done = true;
      const code = readExitCode(dir);
      await this.destroyNested(chain).catch((err: unknown) =>
        this.options.log.warn({ err, containerId: chain.join('.') }, 'nested container cleanup failed'),
      );
      return code === undefined ? undefined : waitStatusFromRunExit(code);
    });
    return {
      pid,
      exited,
      get hasExited() {
        return done;
      },
      signal: (s) => {
        if (done) return;
        if (s === 'SIGKILL') void this.cgroups?.killAll(cgroupId);
        try {
          process.kill(pid, s);
        } catch {
          // gone
        }
      },
    };
  }

  /** After an agent restart: a nested image container found again by its state, or undefined. */
  private attachNested(chain: string[]): ExecutorProcess | undefined {
    const dir = this.nestedDir(chain);
    let meta: NestedMeta;
    try {
      meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as NestedMeta;
    } catch {
      return undefined; // not an image container (those run inside their parent)
    }
    const ended = new Promise<void>((resolve) => {
      const check = () => readExitCode(dir) !== undefined || !isProcessAlive(meta.shimPid);
      if (check()) return resolve();
      const timer = setInterval(() => {
        if (!check()) return;
        clearInterval(timer);
        resolve();
      }, this.options.recoveredPollMs ?? 250);
      timer.unref();
    });
    this.nestedShims.set(chain.join('.'), ended);
    this.options.log.info({ containerId: chain.join('.'), pid: meta.pid }, 'nested container found again');
    return this.nestedProcess(chain, meta.pid, ended);
  }

  /** Kills a nested image container, waits for its shim, removes its cgroups, rootfs and state. */
  private destroyNested(chain: readonly string[]): Promise<void> {
    const id = chain.join('.');
    const running = this.nestedDestroys.get(id);
    if (running) return running;
    const done = this.destroyNestedNow(chain).finally(() => {
      this.nestedDestroys.delete(id);
      this.nestedShims.delete(id);
    });
    this.nestedDestroys.set(id, done);
    return done;
  }

  private async destroyNestedNow(chain: readonly string[]): Promise<void> {
    const id = chain.join('.');
    const dir = this.nestedDir(chain);
    const cgroupId = chain.join('/');
    const errors: unknown[] = [];
    if (this.cgroups) await this.cgroups.killAll(cgroupId).catch((e: unknown) => errors.push(e));
    // Its init is gone now: the runtime ends (and deletes the container), then the shim.
    const shim = this.nestedShims.get(id);
    if (shim) await Promise.race([shim, new Promise((r) => setTimeout(r, 5_000).unref())]);
    if (this.runtime && existsSync(join(dir, 'config.json')) && readExitCode(dir) === undefined)
      await this.runtime.delete(id, true).catch((e: unknown) => errors.push(e));
    if (this.cgroups) await this.cgroups.cleanup(cgroupId).catch((e: unknown) => errors.push(e));
    await this.options.rootfsProvider?.destroy?.(chain).catch((e: unknown) => errors.push(e));
    await rm(dir, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    if (errors.length > 0)
      this.options.log.warn(
        { containerId: id, errors: errors.map(String) },
        'nested container cleanup was not clean',
      );
  }

  /** The agent stops: what the rootfs provider keeps for later launches goes (spare rootfses). */
  async close(): Promise<void> {
    await this.options.rootfsProvider?.close?.();
  }

  /** Whether containers get cgroups of their own (a `cgroups/*` isolator with the linux launcher). */
  get managesCgroups(): boolean {
    return this.cgroups !== undefined && this.runtime !== undefined;
  }

  /**
   * Resizes a live container to `resources` (Mesos' `update`: cpu shares and quota follow; the
   * memory limit only grows). Unknown or finished containers are left alone.
   */
  async update(containerId: string, resources: readonly Resource[]): Promise<void> {
    if (!this.live.has(containerId)) return;
    const { resources: sized } = resourcesOf(resources, this.options.workDir);
    try {
      for (const isolator of this.isolators) await isolator.update?.(containerId, sized);
    } catch (err) {
      // Ended meanwhile (the runtime removed its cgroups): nothing left to resize.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
  }

  /** Usage of a live container (isolators merged), or undefined. */
  async usage(containerId: string): Promise<UsageStats | undefined> {
    return this.live.get(containerId)?.usage();
  }
}

/** `K=V` strings (OCI process.env) → a record; the first `=` splits. */
function envRecord(list: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list) {
    const at = item.indexOf('=');
    if (at > 0) env[item.slice(0, at)] = item.slice(at + 1);
  }
  return env;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A started container as a hosted executor's task: the raw status comes as soon as the shim
 * wrote it, before the container is destroyed, so the task's end is reported without waiting
 * for the teardown.
 */
function hostedContainer(started: ContainerProcess, pid: number, dir: string): HostedTaskContainer {
  const destroyed = started.exited.then(() => undefined);
  let atExit: Limitation | undefined;
  const exited = new Promise<number | undefined>((resolve) => {
    void started.exited.then(resolve);
    const status = () => {
      const code = readExitCode(dir);
      if (code === undefined) return undefined;
      atExit ??= started.limited();
      return waitStatusFromRunExit(code);
    };
    // The shim writes `exit` before it ends; watching for it saves the destroy's time.
    const early = status();
    if (early !== undefined) {
      resolve(early);
      return;
    }
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== 'exit') return;
        const code = status();
        if (code !== undefined) {
          watcher?.close();
          resolve(code);
        }
      });
      watcher.on('error', () => undefined);
      void started.exited.then(() => watcher?.close());
    } catch {
      // no inotify: the destroy's end tells
    }
  });
  return {
    pid,
    exited,
    destroyed,
    signal: (s) => started.signal(s),
    limited: () => atExit ?? started.limited(),
  };
}
