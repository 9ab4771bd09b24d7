/**
 * Nested containers (mesos-internals.md section 1.12): children of an executor's container that
 * an executor (the default executor runs every task of a group this way) or an operator launches
 * through the agent operator API. With the posix launcher each one is a plain process in its own
 * process group, with its sandbox at `<parent sandbox>/containers/<child id>`, stdout/stderr
 * files there and an environment of its own (section 1.4.2: nothing inherited from the agent).
 * On an isolating agent a nested container runs inside its executor's container (nested-exec.ts),
 * or, with an image of its own, as a container of its own in that image's rootfs that shares the
 * executor container's namespaces (`launchWithImage`); other agents refuse images with the reason.
 *
 * A container's termination stays available to WAIT after it exited, until it is removed or its
 * root (the executor's container) is gone, as Mesos keeps the checkpointed `termination` file.
 * When the executor's container is destroyed every container below it is killed (section 1.6).
 *
 * Each running container is recorded in the runtime directory (`runtime` hooks, section 1.13), so
 * that an agent restarted while its executor lives finds the container again (`recover`) and can
 * still WAIT for it, KILL it or destroy it with its root.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { create, isFieldSet } from '@bufbuild/protobuf';
import type { Logger } from '../common/log.js';
import type { NestedImageLaunch } from '../containerizer/containerizer.js';
import type { ExecTarget } from '../containerizer/runtime/oci-exec.js';
import {
  type CommandInfo,
  type ContainerID,
  ContainerIDSchema,
  type ContainerInfo,
  ContainerInfo_Type,
  Environment_Variable_Type,
  Environment_VariableSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { containerIdText } from './agent-calls.js';
import { DEFAULT_PATH, executorProgram } from './executor-launch.js';
import {
  type AttachedLaunchSpec,
  type AttachedProcess,
  type ContainerIO,
  DEFAULT_TTY_SIZE,
  spawnAttached,
} from './io-switchboard.js';
import { describeWaitStatus, type ExecutorProcess, type LaunchSpec } from './launcher.js';
import { adoptExecProcess, execNested, releaseLeftExecCgroup, withExecCgroup } from './nested-exec.js';
import type { ProcessIdentity } from './recovered-process.js';

/** What WAIT reports once a container has ended (`ContainerTermination`). */
export interface ContainerTermination {
  /** Raw wait status; unset when no process ever ran (a failed launch). */
  status?: number;
  message?: string;
}

/** A live executor container, the root of a tree of nested containers. */
export interface RootContainer {
  directory: string;
}

export interface NestedContainerDeps {
  launch(spec: LaunchSpec): Promise<ExecutorProcess>;
  /** Starts a container whose stdio the IO switchboard holds (default: `spawnAttached`). */
  launchAttached?(spec: AttachedLaunchSpec): Promise<AttachedProcess>;
  log: Logger;
  /** The executor container with this id while its process lives, else undefined. */
  root(containerId: string): RootContainer | undefined;
  /**
   * An isolating agent: the OCI container of executor container `containerId`, which its nested
   * containers are started in (runtime exec); undefined runs them as plain processes.
   */
  execTarget?(containerId: string): ExecTarget | undefined;
  /**
   * An isolating agent with an image provisioner: starts a nested container with an image of its
   * own as a separate OCI container (containerizer.ts `launchNestedWithImage`); without it a
   * nested container with an image is refused.
   */
  launchWithImage?(request: NestedImageLaunch): Promise<ExecutorProcess>;
  /** Records a running container's process (chain: root id first), and forgets it once ended. */
  runtime?: {
    launched(chain: readonly string[], pid: number, directory: string): void;
    gone(chain: readonly string[]): void;
  };
}

/** A nested container as the runtime directory describes it (checkpoint.ts `RuntimeContainer`). */
export interface RecordedContainer {
  id: string;
  pid: number | undefined;
  directory: string | undefined;
  children: readonly RecordedContainer[];
}

/** The values of a container id from its root down to itself. */
export function containerChain(id: ContainerID): string[] {
  const chain: string[] = [];
  for (let level: ContainerID | undefined = id; level; level = level.parent) chain.unshift(level.value);
  return chain;
}

export type LaunchOutcome = 'launched' | 'already-launched';

/** How a container is launched beyond its command and ContainerInfo. */
export interface NestedLaunchOptions {
  /**
   * A LAUNCH_NESTED_CONTAINER_SESSION container (Mesos' DEBUG class): its stdio goes to the IO
   * switchboard, it works in its parent's sandbox, and its environment is `inheritedEnvironment`
   * (the parent's) under the command's own variables.
   */
  session?: boolean;
  inheritedEnvironment?: Record<string, string>;
}

/** A nested container whose process runs (GET_CONTAINERS). */
export interface RunningNestedContainer {
  id: ContainerID;
  pid: number;
  directory: string;
}

/** What ATTACH_CONTAINER_INPUT/OUTPUT find for a container id. */
export type AttachTarget =
  | { kind: 'attachable'; io: ContainerIO }
  | { kind: 'unknown' }
  | { kind: 'no-switchboard' };

/** A launch the containerizer refused or could not carry out; the text is the 400 body. */
export class ContainerLaunchError extends Error {}

/** A REMOVE that cannot be done; the text is the 500 body, as Mesos answers a failed remove. */
export class ContainerRemoveError extends Error {}

type NestedPhase = 'launching' | 'running' | 'destroying' | 'terminated';

interface NestedContainer {
  id: ContainerID;
  key: string;
  rootKey: string;
  directory: string;
  phase: NestedPhase;
  process: ExecutorProcess | undefined;
  /** Set for containers whose stdio the IO switchboard holds (sessions, TTYs). */
  io?: ContainerIO;
  termination: ContainerTermination | undefined;
  terminated: Promise<ContainerTermination>;
  settle: (termination: ContainerTermination) => void;
}

/** The signal name for a number (`9` → SIGKILL), or undefined when there is none. */
export function signalName(signal: number): NodeJS.Signals | undefined {
  for (const [name, value] of Object.entries(constants.signals)) {
    if (value === signal) return name as NodeJS.Signals;
  }
  return undefined;
}

/**
 * The nested container's environment (section 1.4.2, without isolators): MESOS_SANDBOX, then the
 * command's own variables (SECRET-typed ones are skipped: there is no secret resolver), and PATH
 * defaulting to the usual system path. The agent's and the executor's own variables stay out.
 */
export function nestedEnvironment(sandbox: string, command: CommandInfo): Record<string, string> {
  const env: Record<string, string> = { MESOS_SANDBOX: sandbox, ...commandVariables(command) };
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
  return env;
}

/** The command's own environment variables (SECRET-typed ones skipped: no secret resolver). */
export function commandVariables(command: CommandInfo): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of command.environment?.variables ?? []) {
    const secret =
      isFieldSet(variable, Environment_VariableSchema.field.type) &&
      variable.type === Environment_Variable_Type.SECRET;
    if (secret || variable.secret) continue;
    env[variable.name] = variable.value;
  }
  return env;
}

/**
 * A session's environment: the parent's (as its process was started; Mesos' DEBUG containers
 * inherit the parent's launch environment), else the nested default, then the command's own
 * variables on top.
 */
export function sessionEnvironment(
  inherited: Record<string, string> | undefined,
  parentSandbox: string,
  command: CommandInfo,
): Record<string, string> {
  if (!inherited) return nestedEnvironment(parentSandbox, command);
  // The command's variables (nestedEnvironment without its defaults) win over the parent's.
  const own = nestedEnvironment(parentSandbox, command);
  const env: Record<string, string> = { ...inherited };
  for (const [name, value] of Object.entries(own)) {
    const isDefault =
      (name === 'MESOS_SANDBOX' || name === 'PATH') &&
      !(command.environment?.variables ?? []).some((variable) => variable.name === name);
    if (isDefault && env[name] !== undefined) continue;
    env[name] = value;
  }
  return env;
}

/** The environment of an OCI container's process (`NAME=value` entries of its config.json). */
function processEnvironment(target: ExecTarget): Record<string, string> | undefined {
  const list = target.process.env;
  if (!Array.isArray(list)) return undefined;
  const env: Record<string, string> = {};
  for (const entry of list) {
    if (typeof entry !== 'string') continue;
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

export class NestedContainers {
  private readonly containers = new Map<string, NestedContainer>();

  constructor(private readonly deps: NestedContainerDeps) {}

  /** Containers still known (running or with a termination WAIT can read). */
  get size(): number {
    return this.containers.size;
  }

  /** Whether `key` (`<root>.<child>...`) is a nested container whose process has not ended. */
  isRunning(key: string): boolean {
    const container = this.containers.get(key);
    return container !== undefined && container.phase !== 'terminated';
  }

  /**
   * Launches `id` (which has a parent) running `command`. Resolves `already-launched` for an id
   * that is already running; throws ContainerLaunchError when the launch is refused or fails.
   */
  async launch(
    id: ContainerID,
    command: CommandInfo | undefined,
    container: ContainerInfo | undefined,
    options: NestedLaunchOptions = {},
  ): Promise<LaunchOutcome> {
    const key = containerIdText(id);
    const existing = this.containers.get(key);
    if (existing && existing.phase !== 'terminated') return 'already-launched';
    const parent = id.parent;
    if (!parent) throw new ContainerLaunchError(`Container ${key} has no parent`);
    const parentKey = containerIdText(parent);
    let parentDirectory: string;
    let rootKey: string;
    if (parent.parent) {
      const nestedParent = this.containers.get(parentKey);
      if (!nestedParent || nestedParent.phase === 'terminated') {
        throw new ContainerLaunchError(`Parent container ${parentKey} does not exist`);
      }
      if (nestedParent.phase === 'destroying') {
        throw new ContainerLaunchError(`Parent container ${parentKey} is in 'DESTROYING' state`);
      }
      parentDirectory = nestedParent.directory;
      rootKey = nestedParent.rootKey;
    } else {
      const root = this.deps.root(parentKey);
      if (!root) throw new ContainerLaunchError(`Parent container ${parentKey} does not exist`);
      parentDirectory = root.directory;
      rootKey = parentKey;
    }
    // The Mesos containerizer answers NOT_SUPPORTED for anything but a MESOS container.
    if (container && container.type !== ContainerInfo_Type.MESOS) {
      throw new ContainerLaunchError('The provided ContainerInfo is not supported');
    }
    const image = container?.mesos?.image;
    if (image) {
      if (!this.deps.launchWithImage) {
        throw new ContainerLaunchError(
          'Container images are not supported by this agent: a nested container with an image needs ' +
            'an isolating agent with an image provisioner (--isolation with filesystem/linux, ' +
            '--image_providers=docker)',
        );
      }
      if (parent.parent) {
        throw new ContainerLaunchError(
          `Container images are supported for nested containers of an executor's container only (${parentKey} is nested)`,
        );
      }
      if (options.session || container?.ttyInfo) {
        throw new ContainerLaunchError(
          'Container images are not supported for LAUNCH_NESTED_CONTAINER_SESSION or TTY containers by this agent',
        );
      }
    }
    if (!command) throw new ContainerLaunchError(`No command given for container ${key}`);

    const directory = join(parentDirectory, 'containers', id.value);
    let settle!: (termination: ContainerTermination) => void;
    const terminated = new Promise<ContainerTermination>((resolve) => {
      settle = resolve;
    });
    const record: NestedContainer = {
      id,
      key,
      rootKey,
      directory,
      phase: 'launching',
      process: undefined,
      termination: undefined,
      terminated,
      settle,
    };
    // Registered before the process exists, so a second LAUNCH meanwhile is `already-launched`
    // and a destroy of the parent reaches this one too.
    this.containers.set(key, record);
    const log = this.deps.log.child({ containerId: key });
    let child: ExecutorProcess;
    try {
      mkdirSync(directory, { recursive: true, mode: 0o755 });
      const target = image ? undefined : this.deps.execTarget?.(rootKey);
      if (image && this.deps.launchWithImage) {
        // A container of its own in the image's rootfs, sharing its parent's pid/ipc/uts namespaces.
        child = await this.deps.launchWithImage({
          chain: containerChain(id),
          sandbox: directory,
          image,
          command,
          env: commandVariables(command),
          containerInfo: container,
        });
      } else if (target) {
        // Inside the executor's container: a session inherits the container's own environment.
        const size = container?.ttyInfo?.windowSize;
        const attached = options.session === true || container?.ttyInfo !== undefined;
        const started = await execNested(target, {
          program: executorProgram(command),
          cwd: options.session ? parentDirectory : directory,
          sandbox: directory,
          env: options.session
            ? sessionEnvironment(processEnvironment(target), parentDirectory, command)
            : nestedEnvironment(directory, command),
          attached,
          ...(container?.ttyInfo
            ? { tty: size ? { rows: size.rows, columns: size.columns } : DEFAULT_TTY_SIZE }
            : {}),
          name: key,
        });
        if (started.io) record.io = started.io;
        child = started.process;
      } else if (options.session || container?.ttyInfo) {
        // The IO switchboard holds its stdio; a session works in its parent's sandbox with the
        // parent's environment (Mesos' DEBUG class), under the command's own variables.
        const size = container?.ttyInfo?.windowSize;
        const attached = await (this.deps.launchAttached ?? spawnAttached)({
          program: executorProgram(command),
          cwd: options.session ? parentDirectory : directory,
          env: options.session
            ? sessionEnvironment(options.inheritedEnvironment, parentDirectory, command)
            : nestedEnvironment(directory, command),
          ...(container?.ttyInfo
            ? { tty: size ? { rows: size.rows, columns: size.columns } : DEFAULT_TTY_SIZE }
            : {}),
        });
        record.io = attached.io;
        child = attached.process;
      } else {
        child = await this.deps.launch({
          program: executorProgram(command),
          sandbox: directory,
          env: nestedEnvironment(directory, command),
        });
      }
    } catch (err) {
      const message = `Failed to launch container ${key}: ${(err as Error).message}`;
      log.warn({ err: (err as Error).message }, 'nested container launch failed');
      this.finish(record, { message });
      if (this.containers.get(key) === record) this.containers.delete(key);
      throw new ContainerLaunchError(message);
    }
    record.process = child;
    this.deps.runtime?.launched(containerChain(id), child.pid, directory);
    this.watch(record, child, log);
    if (record.phase === 'destroying') {
      // Its parent went away (or a kill came) while the process was being started.
      child.signal('SIGKILL');
    } else {
      record.phase = 'running';
    }
    log.info({ pid: child.pid, directory }, 'nested container launched');
    return 'launched';
  }

  private watch(record: NestedContainer, child: ExecutorProcess, log: Logger): void {
    child.exited
      .then((status) => {
        log.info(
          { status: status === undefined ? 'unknown' : describeWaitStatus(status) },
          'nested container exited',
        );
        this.finish(record, status === undefined ? {} : { status });
      })
      .catch((err: unknown) => log.error({ err }, 'handling a nested container exit failed'));
  }

  /**
   * After an agent restart: takes back the containers recorded below the live executor container
   * `rootKey`. A process that is still there (and still the one launched) is watched again; one
   * that is gone reads as ended, with no exit status (nobody could collect it).
   */
  recover(
    rootKey: string,
    rootDirectory: string,
    recorded: readonly RecordedContainer[],
    attach: (pid: number, identity: ProcessIdentity) => ExecutorProcess | undefined,
  ): void {
    const walk = (parent: ContainerID, parentDirectory: string, list: readonly RecordedContainer[]) => {
      for (const entry of list) {
        const id = create(ContainerIDSchema, { value: entry.id, parent });
        const key = containerIdText(id);
        const directory = entry.directory ?? join(parentDirectory, 'containers', entry.id);
        let settle!: (termination: ContainerTermination) => void;
        const terminated = new Promise<ContainerTermination>((resolve) => {
          settle = resolve;
        });
        const record: NestedContainer = {
          id,
          key,
          rootKey,
          directory,
          phase: 'running',
          process: undefined,
          termination: undefined,
          terminated,
          settle,
        };
        this.containers.set(key, record);
        const log = this.deps.log.child({ containerId: key });
        // One exec'd inside its executor's container has a cgroup of its own (nested-exec.ts),
        // which also tells its process (a session's) when sandbox and cwd do not.
        const target = this.deps.execTarget?.(rootKey);
        let found = entry.pid === undefined ? undefined : attach(entry.pid, { directory });
        if (!found && target && entry.pid !== undefined) found = adoptExecProcess(target, key, entry.pid);
        if (!found && target) releaseLeftExecCgroup(target, key);
        const child = found && target ? withExecCgroup(target, key, found) : found;
        if (child) {
          record.process = child;
          this.watch(record, child, log);
          log.info({ pid: child.pid }, 'nested container recovered');
        } else {
          log.info('nested container ended while the agent was down');
          this.finish(record, { message: 'Container terminated while the agent was not running' });
        }
        walk(id, directory, entry.children);
      }
    };
    walk(create(ContainerIDSchema, { value: rootKey }), rootDirectory, recorded);
  }

  /** Nested containers whose process runs now, for GET_CONTAINERS. */
  running(): RunningNestedContainer[] {
    const out: RunningNestedContainer[] = [];
    for (const container of this.containers.values()) {
      if (container.phase === 'terminated' || !container.process || container.process.hasExited) continue;
      out.push({ id: container.id, pid: container.process.pid, directory: container.directory });
    }
    return out;
  }

  /** The pid of a nested container's process while it runs. */
  pidOf(id: ContainerID): number | undefined {
    const container = this.containers.get(containerIdText(id));
    if (!container || container.phase === 'terminated') return undefined;
    return container.process?.pid;
  }

  /**
   * ATTACH_CONTAINER_INPUT/OUTPUT: the switchboard of a running nested container. Unknown (or
   * ended: Mesos' switchboard server is gone with the container) and containers whose stdio
   * goes to sandbox files are told apart.
   */
  attachTarget(id: ContainerID): AttachTarget {
    const container = this.containers.get(containerIdText(id));
    if (!container || container.phase === 'terminated') return { kind: 'unknown' };
    if (!container.io) return { kind: 'no-switchboard' };
    return { kind: 'attachable', io: container.io };
  }

  /** The termination of `id` once it has ended; undefined when no such container is known. */
  async wait(id: ContainerID): Promise<ContainerTermination | undefined> {
    const container = this.containers.get(containerIdText(id));
    return container ? container.terminated : undefined;
  }

  /**
   * Sends `signal` to the container's process group. False when no such container is running
   * (unknown, or already ended), which the API reports as 404.
   */
  kill(id: ContainerID, signal: NodeJS.Signals | 0): boolean {
    const container = this.containers.get(containerIdText(id));
    if (!container || container.phase === 'terminated') return false;
    if (!container.process) {
      // As Mesos: a container signalled before it has a pid is destroyed.
      container.phase = 'destroying';
      return true;
    }
    if (signal !== 0) container.process.signal(signal);
    return true;
  }

  /**
   * Forgets a terminated nested container and deletes its sandbox (REMOVE_NESTED_CONTAINER).
   * An unknown container under a live root is nothing to do.
   */
  remove(id: ContainerID): void {
    const key = containerIdText(id);
    const container = this.containers.get(key);
    if (container && container.phase !== 'terminated') {
      throw new ContainerRemoveError('Nested container has not terminated yet');
    }
    let root = id;
    while (root.parent) root = root.parent;
    const rootContainer = this.deps.root(root.value);
    if (!rootContainer) throw new ContainerRemoveError('Unknown root container');
    if (container) this.containers.delete(key);
    let directory = rootContainer.directory;
    const chain: string[] = [];
    for (let level: ContainerID | undefined = id; level?.parent; level = level.parent)
      chain.unshift(level.value);
    for (const value of chain) directory = join(directory, 'containers', value);
    rmSync(directory, { recursive: true, force: true });
  }

  /**
   * The executor's container is gone: SIGKILL every container below it. Resolves once they have
   * all ended; their records are dropped then, since the root's termination ends them all.
   */
  async destroyTree(rootKey: string): Promise<void> {
    const members = [...this.containers.values()].filter((c) => c.rootKey === rootKey);
    if (members.length === 0) return;
    for (const container of members) {
      if (container.phase === 'terminated') continue;
      const wasRunning = container.phase === 'running';
      container.phase = 'destroying';
      if (wasRunning) container.process?.signal('SIGKILL');
    }
    this.deps.log.info(
      { rootContainerId: rootKey, containers: members.length },
      'destroying the nested containers of an executor container',
    );
    await Promise.all(members.map((c) => c.terminated));
    for (const container of members) {
      if (this.containers.get(container.key) === container) this.containers.delete(container.key);
    }
  }

  /** Resolves once every container that is still running has ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.containers.values()].map((c) => c.terminated));
  }

  private finish(container: NestedContainer, termination: ContainerTermination): void {
    if (container.phase === 'terminated') return;
    container.phase = 'terminated';
    container.termination = termination;
    container.settle(termination);
    this.deps.runtime?.gone(containerChain(container.id));
    // A container that ends after its root is gone has nobody left to WAIT for it.
    if (!this.deps.root(container.rootKey) && this.containers.get(container.key) === container) {
      this.containers.delete(container.key);
    }
  }
}
