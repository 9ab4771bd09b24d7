/**
 * Finding a task and its sandbox through public APIs only: the master's GET_STATE gives the task,
 * its framework, executor, agent and (from its latest status) its container; the agent serves the
 * sandbox at `/frameworks/<fid>/executors/<eid>/runs/latest` (a task of a task group: its nested
 * container's `containers/<id>` below that) through the agent operator API's READ_FILE.
 */

import { Call_Type as AgentCallType } from '../wire/gen/mesos/v1/agent/agent_pb.js';
import type { ContainerID, Task } from '../wire/gen/mesos/v1/mesos_pb.js';
import { TaskState } from '../wire/gen/mesos/v1/mesos_pb.js';
import { isTerminalState } from '../wire/task-states.js';
import { AgentApi, agentUrlFromPid, CliError, type MasterApi } from './api.js';

/** The terminal task states (the wire's rules), as the CLI's commands test them. */
export const TERMINAL_STATES: { has(state: TaskState): boolean } = { has: isTerminalState };

export interface LocatedTask {
  task: Task;
  taskId: string;
  frameworkId: string;
  agentId: string;
  agent: AgentApi;
  executorId: string;
  /** The task's own container (from its latest status), when the agent reported one. */
  containerId: ContainerID | undefined;
  /** The sandbox directory in the agent's files tree. */
  sandbox: string;
  terminal: boolean;
}

/** The task with this id (any framework; `framework` narrows it). Several: prefer live, then newest. */
export async function locateTask(api: MasterApi, id: string, framework?: string): Promise<LocatedTask> {
  const state = await api.state();
  const t = state.getTasks;
  const candidates = [
    ...(t?.tasks ?? []),
    ...(t?.unreachableTasks ?? []),
    ...(t?.completedTasks ?? []),
  ].filter(
    (task) => task.taskId?.value === id && (framework === undefined || task.frameworkId?.value === framework),
  );
  if (candidates.length === 0)
    throw new CliError(`no task '${id}' is known to the master (see 'strata tasks --all')`, 3);
  const live = candidates.filter((task) => !TERMINAL_STATES.has(task.state ?? TaskState.TASK_STAGING));
  if (live.length > 1)
    throw new CliError(
      `task id '${id}' is running in ${live.length} frameworks (${live.map((x) => x.frameworkId?.value).join(', ')}); name one with --framework`,
    );
  const started = (task: Task) => task.statuses[0]?.timestamp ?? 0;
  const task = live[0] ?? candidates.sort((a, b) => started(b) - started(a))[0]!;
  const agentId = task.agentId?.value ?? '';
  const agentRecord = state.getAgents?.agents.find((a) => a.agentInfo?.id?.value === agentId);
  if (!agentRecord) throw new CliError(`task '${id}' ran on agent ${agentId}, which is no longer registered`);
  const info = agentRecord.agentInfo;
  const agent = new AgentApi(agentUrlFromPid(agentRecord.pid, info?.hostname ?? '', info?.port ?? 5051));
  const frameworkId = task.frameworkId?.value ?? '';
  const executorId = task.executorId?.value || id;
  let containerId: ContainerID | undefined;
  for (const status of task.statuses)
    if (status.containerStatus?.containerId) containerId = status.containerStatus.containerId;
  let sandbox = `/frameworks/${frameworkId}/executors/${executorId}/runs/latest`;
  if (containerId?.parent) sandbox += `/containers/${containerId.value}`;
  return {
    task,
    taskId: id,
    frameworkId,
    agentId,
    agent,
    executorId,
    containerId,
    sandbox,
    terminal: TERMINAL_STATES.has(task.state ?? TaskState.TASK_STAGING),
  };
}

/** Reads `path` from `offset` on the agent (READ_FILE); undefined when the file does not exist (yet). */
export async function readChunk(
  agent: AgentApi,
  path: string,
  offset: number,
  length = 1 << 20,
): Promise<{ size: number; data: Uint8Array } | undefined> {
  try {
    const response = await agent.call(
      { type: AgentCallType.READ_FILE, readFile: { path, offset: BigInt(offset), length: BigInt(length) } },
      `cannot read ${path}`,
    );
    const read = response?.readFile;
    return { size: Number(read?.size ?? 0n), data: read?.data ?? new Uint8Array() };
  } catch (err) {
    if (err instanceof CliError && err.exitCode === 3) return undefined;
    throw err;
  }
}

/**
 * Copies a sandbox file to `out` from `offset`, then (with `follow`) keeps polling until `stop()`
 * says to; after `stop()` turns true, one last read catches what was written before the end.
 */
export async function tail(
  agent: AgentApi,
  path: string,
  out: NodeJS.WritableStream,
  options: { follow: boolean; stop?: () => boolean; intervalMs?: number; fromEnd?: number },
): Promise<void> {
  let offset = 0;
  let started = false;
  for (;;) {
    const stopping = options.stop?.() ?? false;
    for (;;) {
      const chunk = await readChunk(agent, path, offset);
      if (!chunk) break;
      if (!started && options.fromEnd !== undefined) {
        offset = Math.max(0, chunk.size - options.fromEnd);
        started = true;
        continue;
      }
      started = true;
      if (chunk.data.byteLength === 0) break;
      out.write(chunk.data);
      offset += chunk.data.byteLength;
    }
    if (!options.follow || stopping) return;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
