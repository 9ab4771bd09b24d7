/**
 * The agent operator API's read-only views (reference section 4.3): GET_FRAMEWORKS,
 * GET_EXECUTORS, GET_TASKS, GET_STATE, GET_AGENT and GET_CONTAINERS, built from the Agent's records
 * the way Mesos' `Http::_getFrameworks` / `_getExecutors` / `_getTasks` / `__containers` build them.
 *
 * - Frameworks: live ones in `frameworks`, completed ones in `completed_frameworks`.
 * - Executors and tasks are collected over live *and* completed frameworks; an executor's live
 *   record goes to `executors`, its completed ones to `completed_executors`.
 * - Tasks by stage: `queued_tasks` wait for their executor to subscribe (TASK_STAGING, as Mesos
 *   creates them from the TaskInfo), `launched_tasks` were sent to it, `terminated_tasks` have a
 *   terminal update not yet acknowledged, `completed_tasks` are done. `pending_tasks` (tasks
 *   waiting for an executor to be created) is always empty: this agent creates executors at once.
 * - GET_CONTAINERS: one entry per live executor container (framework, executor, name, status,
 *   usage); nested containers only with `show_nested`; standalone containers do not exist here.
 *   Usage comes from /proc as `/monitor/statistics` computes it (monitor.ts).
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Clock } from '../common/clock.js';
import {
  type Response_GetContainers_ContainerSchema,
  type Response_GetExecutorsSchema,
  type Response_GetFrameworksSchema,
  type Response_GetTasksSchema,
  Response_Type,
  type ResponseSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type ContainerID,
  ContainerIDSchema,
  ContainerStatusSchema,
  type FrameworkInfo,
  FrameworkInfoSchema,
  ResourceStatisticsSchema,
  type Task,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import type { Agent, ExecutorRecord, FrameworkRecord } from './agent.js';
import { containerMembers, executorUsages, procConstants, readProcessTable, sumUsage } from './monitor.js';

type ResponseInit = MessageInitShape<typeof ResponseSchema>;

/** The FrameworkInfo as the agent holds it, with its id (the master assigns it after SUBSCRIBE). */
function frameworkInfo(framework: FrameworkRecord): FrameworkInfo {
  const info = create(FrameworkInfoSchema, framework.info);
  if (!info.id) info.id = { $typeName: 'mesos.v1.FrameworkID', value: framework.id };
  return info;
}

function allFrameworks(agent: Agent): FrameworkRecord[] {
  return [...agent.frameworks.values(), ...agent.completedFrameworks];
}

export function getFrameworks(agent: Agent): MessageInitShape<typeof Response_GetFrameworksSchema> {
  return {
    frameworks: [...agent.frameworks.values()].map((f) => ({ frameworkInfo: frameworkInfo(f) })),
    completedFrameworks: agent.completedFrameworks.map((f) => ({ frameworkInfo: frameworkInfo(f) })),
  };
}

export function getExecutors(agent: Agent): MessageInitShape<typeof Response_GetExecutorsSchema> {
  const executors: { executorInfo: ExecutorRecord['info'] }[] = [];
  const completed: { executorInfo: ExecutorRecord['info'] }[] = [];
  for (const framework of allFrameworks(agent)) {
    for (const executor of framework.executors.values()) executors.push({ executorInfo: executor.info });
    for (const executor of framework.completedExecutors) completed.push({ executorInfo: executor.info });
  }
  return { executors, completedExecutors: completed };
}

export function getTasks(agent: Agent): MessageInitShape<typeof Response_GetTasksSchema> {
  const queued: Task[] = [];
  const launched: Task[] = [];
  const terminated: Task[] = [];
  const completed: Task[] = [];
  for (const framework of allFrameworks(agent)) {
    for (const executor of [...framework.executors.values(), ...framework.completedExecutors]) {
      for (const entry of executor.tasks.values()) {
        if (entry.phase === 'queued') queued.push(entry.task);
        else if (entry.phase === 'launched') launched.push(entry.task);
        else terminated.push(entry.task);
      }
      completed.push(...executor.completedTasks);
    }
  }
  return {
    pendingTasks: [],
    queuedTasks: queued,
    launchedTasks: launched,
    terminatedTasks: terminated,
    completedTasks: completed,
  };
}

export function getStateResponse(agent: Agent): ResponseInit {
  return {
    type: Response_Type.GET_STATE,
    getState: {
      getTasks: getTasks(agent),
      getExecutors: getExecutors(agent),
      getFrameworks: getFrameworks(agent),
    },
  };
}

export function getAgentResponse(agent: Agent): ResponseInit {
  return { type: Response_Type.GET_AGENT, getAgent: { agentInfo: agent.agentInfo() } };
}

export interface ContainersOptions {
  showNested: boolean;
  showStandalone: boolean;
}

type ContainerEntry = MessageInitShape<typeof Response_GetContainers_ContainerSchema>;

/** GET_CONTAINERS: every live executor container, and with `showNested` the nested ones. */
export async function getContainersResponse(
  agent: Agent,
  clock: Clock,
  options: ContainersOptions,
): Promise<ResponseInit> {
  const ip = agent.config.ip;
  const status = (containerId: ContainerID, pid: number | undefined) =>
    create(ContainerStatusSchema, {
      containerId,
      networkInfos: [{ ipAddresses: [{ ipAddress: ip }] }],
      ...(pid === undefined ? {} : { executorPid: pid }),
    });
  const containers: ContainerEntry[] = [];
  const usages = new Map((await executorUsages(agent, clock)).map((u) => [u.executor, u.statistics]));
  const live: ExecutorRecord[] = [];
  for (const framework of agent.frameworks.values()) {
    for (const executor of framework.executors.values()) {
      if (executor.phase === 'terminated') continue;
      live.push(executor);
      const containerId = create(ContainerIDSchema, { value: executor.containerId });
      const statistics = usages.get(executor);
      containers.push({
        frameworkId: { value: executor.frameworkId },
        executorId: { value: executor.id },
        executorName: executor.info.name,
        containerId,
        containerStatus: status(containerId, executor.process?.pid),
        ...(statistics ? { resourceStatistics: statistics } : {}),
      });
    }
  }
  // There are no standalone containers on this agent, so `show_standalone` adds nothing.
  if (options.showNested) {
    const liveRoots = new Set(live.map((e) => e.containerId));
    const nested = agent.containers.running().filter((c) => {
      let root = c.id;
      while (root.parent) root = root.parent;
      return liveRoots.has(root.value);
    });
    if (nested.length > 0) {
      const table = await readProcessTable();
      const { ticksPerSecond, pageSize } = procConstants();
      for (const container of nested) {
        // The container's own process tree and session; containers below it are entries of their own.
        const usage = sumUsage(containerMembers([container.pid], table), table, ticksPerSecond, pageSize);
        const statistics = table.has(container.pid)
          ? create(ResourceStatisticsSchema, {
              timestamp: clock.now() / 1000,
              processes: usage.processes,
              threads: usage.threads,
              cpusUserTimeSecs: usage.cpusUserTimeSecs,
              cpusSystemTimeSecs: usage.cpusSystemTimeSecs,
              memRssBytes: BigInt(usage.memRssBytes),
            })
          : undefined;
        containers.push({
          containerId: container.id,
          containerStatus: status(container.id, container.pid),
          ...(statistics ? { resourceStatistics: statistics } : {}),
        });
      }
    }
  }
  return { type: Response_Type.GET_CONTAINERS, getContainers: { containers } };
}
