/**
 * Task state rules shared by master and agent (reference mesos-v1-api.md section 2.9).
 */
import { type FrameworkInfo, FrameworkInfo_Capability_Type, TaskState } from './gen/mesos/v1/mesos_pb.js';

const TERMINAL = new Set<TaskState>([
  TaskState.TASK_FINISHED,
  TaskState.TASK_FAILED,
  TaskState.TASK_KILLED,
  TaskState.TASK_ERROR,
  TaskState.TASK_LOST,
  TaskState.TASK_DROPPED,
  TaskState.TASK_GONE,
  TaskState.TASK_GONE_BY_OPERATOR,
]);

/** States only PARTITION_AWARE frameworks may see; everyone else gets TASK_LOST instead. */
const PARTITION_AWARE_ONLY = new Set<TaskState>([
  TaskState.TASK_DROPPED,
  TaskState.TASK_UNREACHABLE,
  TaskState.TASK_GONE,
  TaskState.TASK_GONE_BY_OPERATOR,
  TaskState.TASK_UNKNOWN,
]);

export function isTerminalState(state: TaskState): boolean {
  return TERMINAL.has(state);
}

export function hasCapability(info: FrameworkInfo, capability: FrameworkInfo_Capability_Type): boolean {
  return info.capabilities.some((c) => c.type === capability);
}

export function isPartitionAware(info: FrameworkInfo): boolean {
  return hasCapability(info, FrameworkInfo_Capability_Type.PARTITION_AWARE);
}

/** The state a framework may be told about: partition-aware states become TASK_LOST for others. */
export function stateForFramework(info: FrameworkInfo, state: TaskState): TaskState {
  return PARTITION_AWARE_ONLY.has(state) && !isPartitionAware(info) ? TaskState.TASK_LOST : state;
}

/** Mesos' enum name for a state (`TASK_RUNNING`), for logs and legacy JSON. */
export function taskStateName(state: TaskState): string {
  return TaskState[state] ?? `TASK_STATE_${state}`;
}
