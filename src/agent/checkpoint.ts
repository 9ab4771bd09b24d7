/**
 * The agent's checkpoint (mesos-internals.md sections 4.3 and 1.13): what a restarted agent
 * needs to find its executors again and to finish delivering their status updates.
 *
 * Layout, as Mesos lays it out under `<work_dir>/meta` (only frameworks with `checkpoint: true`
 * get framework, executor, task and update files; `slave.info` and `boot_id` are always written):
 *
 *     boot_id
 *     slaves/latest -> <agent id>
 *     slaves/<agent>/slave.info                                  AgentInfo
 *     slaves/<agent>/frameworks/<fw>/framework.info              FrameworkInfo
 *     .../frameworks/<fw>/executors/<ex>/executor.info           ExecutorInfo
 *     .../executors/<ex>/runs/latest -> <container id>
 *     .../runs/<container>/pids/forked.pid                       the executor's pid, as text
 *     .../runs/<container>/executor.sentinel                     the run is over (executor gone)
 *     .../runs/<container>/tasks/<task>/task.info                Task
 *     .../runs/<container>/tasks/<task>/task.updates             append-only update/ack log
 *
 * and, for every container whatever its framework, a runtime entry the restarted agent uses to
 * find processes it no longer knows (orphans) and nested containers to re-attach:
 *
 *     <runtime_dir>/containers/<container>/{pid,directory}
 *     <runtime_dir>/containers/<container>/containers/<child>/{pid,directory}   (nested)
 *
 * Messages are protobuf binary. Every file is written atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory), so a crash leaves the old or the new file,
 * never half of one. `task.updates` is the exception: records are appended (and fsynced) one at a
 * time, and a crash in the middle of an append leaves a torn last record, which recovery cuts off.
 *
 * The record format and the replay of a log are pure (top of the file); the rest is file I/O.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { invalidIdReason } from '../common/ids.js';
import {
  type AgentInfo,
  AgentInfoSchema,
  type ExecutorInfo,
  ExecutorInfoSchema,
  type FrameworkInfo,
  FrameworkInfoSchema,
  type Resource,
  type Task,
  TaskSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { CheckpointResourcesSchema, StatusUpdateSchema } from '../wire/gen/strata/internal/v1/link_pb.js';
import type { StatusUpdate } from './status-updates.js';
import { isTerminalState, uuidText } from './task-states.js';

// ================================================================== the task.updates record format

/** One entry of a `task.updates` log: an update taken into custody, or its acknowledgement. */
export type UpdateRecord = { type: 'update'; update: StatusUpdate } | { type: 'ack'; uuid: Uint8Array };

const RECORD_UPDATE = 1;
const RECORD_ACK = 2;
/** Payload length (u32 LE) and CRC-32 of the payload (u32 LE). */
export const RECORD_HEADER_BYTES = 8;
/** No sane status update comes near this; a larger length is a damaged header. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib): tells a record whose bytes never all reached the disk. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A record as it goes on disk: header, then a type byte and the body (for an update the
 * strata-link `StatusUpdate` message, for an acknowledgement the 16 uuid bytes).
 */
export function encodeUpdateRecord(record: UpdateRecord): Uint8Array {
  let body: Uint8Array;
  let type: number;
  if (record.type === 'update') {
    type = RECORD_UPDATE;
    const { frameworkId, executorId, status } = record.update;
    body = toBinary(
      StatusUpdateSchema,
      create(StatusUpdateSchema, {
        frameworkId: { value: frameworkId },
        ...(executorId === undefined ? {} : { executorId: { value: executorId } }),
        status,
      }),
    );
  } else {
    type = RECORD_ACK;
    body = record.uuid;
  }
  const out = new Uint8Array(RECORD_HEADER_BYTES + 1 + body.length);
  const payload = out.subarray(RECORD_HEADER_BYTES);
  payload[0] = type;
  payload.set(body, 1);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32(payload), true);
  return out;
}

function decodePayload(payload: Uint8Array): UpdateRecord | string {
  const body = payload.subarray(1);
  switch (payload[0]) {
    case RECORD_UPDATE: {
      let message: ReturnType<typeof fromBinary<typeof StatusUpdateSchema>>;
      try {
        message = fromBinary(StatusUpdateSchema, body);
      } catch (err) {
        return `undecodable update: ${(err as Error).message}`;
      }
      if (!message.status || !message.frameworkId) return 'update without status or framework id';
      return {
        type: 'update',
        update: {
          frameworkId: message.frameworkId.value,
          executorId: message.executorId?.value,
          status: message.status,
        },
      };
    }
    case RECORD_ACK:
      return { type: 'ack', uuid: new Uint8Array(body) };
    default:
      return `unknown record type ${payload[0] ?? '(none)'}`;
  }
}

/**
 * What a log holds: the whole records in order, and how many bytes they take. `tail` says what
 * follows them: nothing (`clean`), the remains of an append a crash cut short (`torn`: a record
 * running past the end, a last record whose checksum fails, zero fill), or damage with more data
 * after it (`corrupt`, which `problem` describes). Either way the log is good up to `validBytes`.
 */
export interface DecodedUpdateLog {
  records: UpdateRecord[];
  validBytes: number;
  tail: 'clean' | 'torn' | 'corrupt';
  problem?: string;
}

export function decodeUpdateLog(bytes: Uint8Array): DecodedUpdateLog {
  const records: UpdateRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const stop = (problem: string, last: boolean): DecodedUpdateLog => {
    const rest = bytes.subarray(offset);
    const torn = last || rest.every((b) => b === 0);
    return { records, validBytes: offset, tail: torn ? 'torn' : 'corrupt', problem };
  };
  while (offset < bytes.length) {
    if (bytes.length - offset < RECORD_HEADER_BYTES) return stop('partial record header', true);
    const length = view.getUint32(offset, true);
    const checksum = view.getUint32(offset + 4, true);
    const end = offset + RECORD_HEADER_BYTES + length;
    if (length === 0 || length > MAX_RECORD_BYTES) return stop(`bad record length ${length}`, false);
    if (end > bytes.length) return stop('record runs past the end of the log', true);
    const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, end);
    const last = end === bytes.length;
    if (crc32(payload) !== checksum) return stop(`checksum mismatch at byte ${offset}`, last);
    const record = decodePayload(payload);
    if (typeof record === 'string') return stop(`${record} at byte ${offset}`, last);
    records.push(record);
    offset = end;
  }
  return { records, validBytes: offset, tail: 'clean' };
}

/** A task's update stream rebuilt from its log. */
export interface ReplayedUpdates {
  /** Every update taken, oldest first (they give the task its states). */
  updates: StatusUpdate[];
  /** Updates not yet acknowledged, head first. */
  pending: StatusUpdate[];
  /** Uuids (canonical text) of acknowledged updates. */
  acknowledged: string[];
  /** A terminal update was acknowledged: the stream is closed. */
  closed: boolean;
  /** Acknowledgements that do not match the head (a log that lies). */
  problems: string[];
}

/** Replays a log as the status update manager lived it: UPDATE appends, ACK pops the head. */
export function replayUpdates(records: readonly UpdateRecord[]): ReplayedUpdates {
  const result: ReplayedUpdates = { updates: [], pending: [], acknowledged: [], closed: false, problems: [] };
  for (const record of records) {
    if (record.type === 'update') {
      if (result.closed) {
        result.problems.push('update after the stream was closed');
        continue;
      }
      result.updates.push(record.update);
      result.pending.push(record.update);
      continue;
    }
    const head = result.pending[0];
    const uuid = uuidText(record.uuid);
    if (!head || uuidText(head.status.uuid) !== uuid) {
      result.problems.push(`acknowledgement ${uuid} does not match the head`);
      continue;
    }
    result.pending.shift();
    result.acknowledged.push(uuid);
    if (isTerminalState(head.status.state)) {
      result.closed = true;
      result.pending = [];
    }
  }
  return result;
}

// ================================================================== paths

/** Why a checkpoint cannot be used; with `--strict` any of these stops the agent. */
export class CheckpointError extends Error {}

function component(kind: string, id: string): string {
  const problem = invalidIdReason(id);
  if (problem !== undefined)
    throw new CheckpointError(`invalid ${kind} '${id}' for a checkpoint path: ${problem}`);
  return id;
}

/** Where a run (one container of one executor) keeps its checkpoint. */
export interface RunKey {
  agentId: string;
  frameworkId: string;
  executorId: string;
  containerId: string;
}

export const metaDir = (workDir: string): string => join(workDir, 'meta');
export const bootIdPath = (workDir: string): string => join(metaDir(workDir), 'boot_id');
/** Dynamic reservations and persistent volumes: not tied to an agent id, so they outlive reboots. */
export const resourcesInfoPath = (workDir: string): string =>
  join(metaDir(workDir), 'resources', 'resources.info');
const slavesDir = (workDir: string): string => join(metaDir(workDir), 'slaves');
export const agentDir = (workDir: string, agentId: string): string =>
  join(slavesDir(workDir), component('agent ID', agentId));
export const frameworkDir = (workDir: string, agentId: string, frameworkId: string): string =>
  join(agentDir(workDir, agentId), 'frameworks', component('framework ID', frameworkId));
export const executorDir = (
  workDir: string,
  agentId: string,
  frameworkId: string,
  executorId: string,
): string =>
  join(frameworkDir(workDir, agentId, frameworkId), 'executors', component('executor ID', executorId));
export const runDir = (workDir: string, run: RunKey): string =>
  join(
    executorDir(workDir, run.agentId, run.frameworkId, run.executorId),
    'runs',
    component('container ID', run.containerId),
  );
export const taskDir = (workDir: string, run: RunKey, taskId: string): string =>
  join(runDir(workDir, run), 'tasks', component('task ID', taskId));
export const taskUpdatesPath = (workDir: string, run: RunKey, taskId: string): string =>
  join(taskDir(workDir, run, taskId), 'task.updates');

// ================================================================== writing

let tempCounter = 0;

function fsyncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(directory, 'r');
    fsyncSync(fd);
  } catch {
    // Not every filesystem lets a directory be fsynced; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

/** Temporary file next to `path`, fsync, rename over `path`, fsync the directory. */
/**
 * Writes `path` by rename of a temp file. `durable` (the default) also fsyncs file and directory;
 * files under the runtime directory skip that: they matter only until the next reboot, and a
 * crash of the agent alone loses nothing the kernel already holds.
 */
export function writeFileAtomically(path: string, data: Uint8Array | string, durable = true): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true });
  const temp = `${path}.tmp-${process.pid}-${tempCounter++}-${randomBytes(4).toString('hex')}`;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeAll(fd, bytes);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
  if (durable) fsyncDirectory(directory);
}

/** `link -> target`, replacing whatever `link` was, atomically (a rename of a fresh link). */
function linkAtomically(link: string, target: string): void {
  const directory = dirname(link);
  mkdirSync(directory, { recursive: true });
  const temp = `${link}.tmp-${process.pid}-${tempCounter++}`;
  rmSync(temp, { force: true });
  symlinkSync(target, temp);
  renameSync(temp, link);
  fsyncDirectory(directory);
}

function writeMessage<D extends DescMessage>(path: string, schema: D, message: MessageShape<D>): void {
  writeFileAtomically(path, toBinary(schema, message));
}

/** Appends one record and fsyncs: once this returns the record survives a crash. */
export function appendRecord(path: string, record: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a', 0o644);
  try {
    writeAll(fd, record);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The writes the agent makes as things happen (`work_dir` for meta, `runtime_dir` for pids). */
export class Checkpointer {
  constructor(
    readonly workDir: string,
    readonly runtimeDir: string,
  ) {}

  writeResources(resources: readonly Resource[]): void {
    writeMessage(
      resourcesInfoPath(this.workDir),
      CheckpointResourcesSchema,
      create(CheckpointResourcesSchema, { resources: [...resources] }),
    );
  }

  writeBootId(bootId: string): void {
    writeFileAtomically(bootIdPath(this.workDir), `${bootId}\n`);
  }

  /** `slave.info` and `slaves/latest`: the agent this work directory belongs to now. */
  writeAgentInfo(info: AgentInfo): void {
    const agentId = info.id?.value ?? '';
    writeMessage(join(agentDir(this.workDir, agentId), 'slave.info'), AgentInfoSchema, info);
    linkAtomically(join(slavesDir(this.workDir), 'latest'), agentId);
  }

  /** Forgets which agent was here (after a reboot the next registration makes a new one). */
  dropLatestAgent(): void {
    rmSync(join(slavesDir(this.workDir), 'latest'), { force: true });
  }

  writeFrameworkInfo(agentId: string, info: FrameworkInfo): void {
    const dir = frameworkDir(this.workDir, agentId, info.id?.value ?? '');
    writeMessage(join(dir, 'framework.info'), FrameworkInfoSchema, info);
  }

  /** `executor.info` and `runs/latest` for a new run of the executor. */
  writeExecutorRun(run: RunKey, info: ExecutorInfo): void {
    const dir = executorDir(this.workDir, run.agentId, run.frameworkId, run.executorId);
    writeMessage(join(dir, 'executor.info'), ExecutorInfoSchema, info);
    mkdirSync(runDir(this.workDir, run), { recursive: true });
    linkAtomically(join(dir, 'runs', 'latest'), run.containerId);
  }

  writeForkedPid(run: RunKey, pid: number): void {
    writeFileAtomically(join(runDir(this.workDir, run), 'pids', 'forked.pid'), String(pid));
  }

  /** The run is over: a restarted agent must not look for its process. */
  writeSentinel(run: RunKey): void {
    writeFileAtomically(join(runDir(this.workDir, run), 'executor.sentinel'), '');
  }

  writeTask(run: RunKey, task: Task): void {
    const dir = taskDir(this.workDir, run, task.taskId?.value ?? '');
    writeMessage(join(dir, 'task.info'), TaskSchema, task);
  }

  appendUpdate(run: RunKey, taskId: string, record: UpdateRecord): void {
    appendRecord(taskUpdatesPath(this.workDir, run, taskId), encodeUpdateRecord(record));
  }

  /** An executor whose every update was acknowledged has nothing left to recover. */
  removeExecutor(agentId: string, frameworkId: string, executorId: string): void {
    removeAtomically(executorDir(this.workDir, agentId, frameworkId, executorId));
  }

  removeFramework(agentId: string, frameworkId: string): void {
    removeAtomically(frameworkDir(this.workDir, agentId, frameworkId));
  }

  /** `<runtime_dir>/containers/<root>[/containers/<child>...]` for a container id chain. */
  runtimeContainerDir(chain: readonly string[]): string {
    let dir = this.runtimeDir;
    for (const id of chain) dir = join(dir, 'containers', component('container ID', id));
    return dir;
  }

  /** Records a container's process, whatever its framework (orphans are found through this). */
  writeRuntimeContainer(chain: readonly string[], pid: number, directory: string): void {
    const dir = this.runtimeContainerDir(chain);
    writeFileAtomically(join(dir, 'directory'), directory, false);
    writeFileAtomically(join(dir, 'pid'), String(pid), false);
  }

  /** The container is gone (with every container below it). */
  removeRuntimeContainer(chain: readonly string[]): void {
    // Off the agent's thread: a container ends dozens of times a second under load, and a
    // synchronous recursive removal cost ≈ 1.5 ms of it each time. Renamed aside first, the
    // record is gone for recovery at once (which also finishes a removal a crash interrupted).
    removeAtomically(this.runtimeContainerDir(chain), true);
  }
}

// ================================================================== reading

export interface RecoveredTask {
  id: string;
  task: Task;
  updates: ReplayedUpdates;
}

export interface RecoveredRun {
  containerId: string;
  /** Unset when the agent died before the executor's process was started or recorded. */
  forkedPid: number | undefined;
  /** `executor.sentinel` exists: the executor was already gone. */
  completed: boolean;
  tasks: RecoveredTask[];
}

export interface RecoveredExecutor {
  id: string;
  info: ExecutorInfo;
  /** The latest run; older runs are history and are not recovered. */
  run: RecoveredRun | undefined;
}

export interface RecoveredFramework {
  id: string;
  info: FrameworkInfo;
  executors: RecoveredExecutor[];
}

export interface RecoveredAgent {
  id: string;
  info: AgentInfo;
  frameworks: RecoveredFramework[];
}

/** A container found in the runtime directory, with the containers below it. */
export interface RuntimeContainer {
  id: string;
  pid: number | undefined;
  directory: string | undefined;
  children: RuntimeContainer[];
}

export interface RecoveredCheckpoint {
  /** The boot id the last run of the agent recorded. */
  bootId: string | undefined;
  /** What `slaves/latest` points at, if anything. */
  agent: RecoveredAgent | undefined;
  runtime: RuntimeContainer[];
  /** What was skipped (non-strict recovery only). */
  errors: string[];
  /** Update logs whose torn tail was cut off. */
  truncated: string[];
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function readPid(path: string): number | undefined {
  const text = readText(path)?.trim();
  if (text === undefined) return undefined;
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 1) throw new CheckpointError(`${path}: '${text}' is not a pid`);
  return pid;
}

function readMessage<D extends DescMessage>(path: string, schema: D): MessageShape<D> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw new CheckpointError(`cannot decode ${path}: ${(err as Error).message}`);
  }
}

/**
 * Removes a checkpoint directory so that a crash midway leaves either all of it or nothing that
 * recovery reads: renamed to a dot-name first (recovery skips those, and removes them), then
 * deleted.
 */
function removeAtomically(dir: string, inBackground = false): void {
  const doomed = join(dirname(dir), `.removing-${basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(dir, doomed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (inBackground) void rm(doomed, { recursive: true, force: true }).catch(() => undefined);
  else rmSync(doomed, { recursive: true, force: true });
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).filter((name) => {
      if (name.startsWith('.removing-')) {
        // A removal a crash interrupted: finish it.
        rmSync(join(path, name), { recursive: true, force: true });
        return false;
      }
      return !name.includes('.tmp-');
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new CheckpointError(`cannot read the link ${path}: ${(err as Error).message}`);
  }
}

class Reader {
  readonly errors: string[] = [];
  readonly truncated: string[] = [];

  constructor(private readonly strict: boolean) {}

  /** Runs `read`; a CheckpointError is fatal when strict, else recorded and `undefined`. */
  attempt<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof CheckpointError) || this.strict) throw err;
      this.errors.push(err.message);
      return undefined;
    }
  }

  problem(message: string): void {
    if (this.strict) throw new CheckpointError(message);
    this.errors.push(message);
  }

  agent(workDir: string): RecoveredAgent | undefined {
    const latest = readLink(join(slavesDir(workDir), 'latest'));
    if (latest === undefined) return undefined;
    const dir = agentDir(workDir, latest);
    const info = readMessage(join(dir, 'slave.info'), AgentInfoSchema);
    const frameworks: RecoveredFramework[] = [];
    for (const frameworkId of listDir(join(dir, 'frameworks'))) {
      const framework = this.attempt(() => this.framework(workDir, latest, frameworkId));
      if (framework) frameworks.push(framework);
    }
    return { id: latest, info, frameworks };
  }

  private framework(workDir: string, agentId: string, frameworkId: string): RecoveredFramework {
    const dir = frameworkDir(workDir, agentId, frameworkId);
    const info = readMessage(join(dir, 'framework.info'), FrameworkInfoSchema);
    const executors: RecoveredExecutor[] = [];
    for (const executorId of listDir(join(dir, 'executors'))) {
      // As Mesos: a directory without its info is an executor the agent died creating; skip it.
      if (!existsSync(join(dir, 'executors', executorId, 'executor.info'))) continue;
      const executor = this.attempt(() => this.executor(workDir, agentId, frameworkId, executorId));
      if (executor) executors.push(executor);
    }
    return { id: frameworkId, info, executors };
  }

  private executor(
    workDir: string,
    agentId: string,
    frameworkId: string,
    executorId: string,
  ): RecoveredExecutor {
    const dir = executorDir(workDir, agentId, frameworkId, executorId);
    const info = readMessage(join(dir, 'executor.info'), ExecutorInfoSchema);
    const latest = readLink(join(dir, 'runs', 'latest'));
    if (latest === undefined) return { id: executorId, info, run: undefined };
    const key: RunKey = { agentId, frameworkId, executorId, containerId: latest };
    const run = runDir(workDir, key);
    // A dangling `latest` (the run's directory never made it): nothing ran.
    if (!existsSync(run)) return { id: executorId, info, run: undefined };
    const tasks: RecoveredTask[] = [];
    for (const taskId of listDir(join(run, 'tasks'))) {
      const task = this.attempt(() => this.task(workDir, key, taskId));
      if (task) tasks.push(task);
    }
    return {
      id: executorId,
      info,
      run: {
        containerId: latest,
        forkedPid: readPid(join(run, 'pids', 'forked.pid')),
        completed: existsSync(join(run, 'executor.sentinel')),
        tasks,
      },
    };
  }

  private task(workDir: string, run: RunKey, taskId: string): RecoveredTask {
    const dir = taskDir(workDir, run, taskId);
    const task = readMessage(join(dir, 'task.info'), TaskSchema);
    const path = join(dir, 'task.updates');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      bytes = new Uint8Array(0);
    }
    const log = decodeUpdateLog(bytes);
    if (log.tail === 'corrupt') this.problem(`${path}: ${log.problem ?? 'damaged'}`);
    if (log.tail !== 'clean') {
      // Cut back to the last whole record so the next append continues a well-formed log.
      truncateSync(path, log.validBytes);
      this.truncated.push(path);
    }
    const updates = replayUpdates(log.records);
    for (const problem of updates.problems) this.problem(`${path}: ${problem}`);
    return { id: taskId, task, updates };
  }

  runtime(dir: string): RuntimeContainer[] {
    const found: RuntimeContainer[] = [];
    for (const id of listDir(join(dir, 'containers'))) {
      const container = this.attempt(() => {
        const here = join(dir, 'containers', id);
        return {
          id,
          pid: readPid(join(here, 'pid')),
          directory: readText(join(here, 'directory')),
          children: this.runtime(here),
        };
      });
      if (container) found.push(container);
    }
    return found;
  }
}

/**
 * Reads everything a restarted agent needs. Torn update logs are truncated to their last whole
 * record. With `strict`, anything unreadable or inconsistent throws a CheckpointError; without,
 * it is skipped and listed in `errors`.
 */
export function readCheckpoint(
  workDir: string,
  runtimeDir: string,
  options: { strict: boolean },
): RecoveredCheckpoint {
  const reader = new Reader(options.strict);
  const bootId = readText(bootIdPath(workDir))?.trim() || undefined;
  const agent = reader.attempt(() => reader.agent(workDir));
  const runtime = reader.runtime(runtimeDir);
  return { bootId, agent, runtime, errors: reader.errors, truncated: reader.truncated };
}

/** The checkpointed reservations and volumes; none when never written. */
export function readCheckpointedResources(workDir: string): Resource[] {
  const path = resourcesInfoPath(workDir);
  if (!existsSync(path)) return [];
  return readMessage(path, CheckpointResourcesSchema).resources;
}

/** The host's boot id (`/proc/sys/kernel/random/boot_id` unless told otherwise); undefined if unreadable. */
export function readBootId(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

export const DEFAULT_BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
