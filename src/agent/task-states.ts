/**
 * Task-state facts the agent needs (reference section 2.9), and how it mints the updates it
 * generates itself (executor gone, kill before launch, registration timeout).
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import {
  type FrameworkInfo,
  TaskState,
  type TaskStatus,
  type TaskStatus_Reason,
  TaskStatus_Source,
  TaskStatusSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';

import { isPartitionAware as isPartitionAwareFramework } from '../wire/task-states.js';

export { isPartitionAware, isTerminalState, taskStateName } from '../wire/task-states.js';

/** TASK_DROPPED for partition-aware frameworks, TASK_LOST for the others. */
export function droppedOrLost(info: FrameworkInfo): TaskState {
  return isPartitionAwareFramework(info) ? TaskState.TASK_DROPPED : TaskState.TASK_LOST;
}

/** TASK_GONE for partition-aware frameworks, TASK_LOST for the others (an executor lost in recovery). */
export function goneOrLost(info: FrameworkInfo): TaskState {
  return isPartitionAwareFramework(info) ? TaskState.TASK_GONE : TaskState.TASK_LOST;
}

/** A fresh random (version 4) UUID as the 16 bytes status updates carry. */
export function newUuidBytes(): Uint8Array {
  return new Uint8Array(Buffer.from(randomUUID().replace(/-/g, ''), 'hex'));
}

/** Canonical text of a 16-byte UUID (for logs and map keys); hex of whatever else it is given. */
export function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  if (bytes.length !== 16) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface AgentStatusSpec {
  taskId: string;
  state: TaskState;
  reason: TaskStatus_Reason;
  message: string;
  agentId: string | undefined;
  executorId: string | undefined;
  nowMs: number;
}

/** An update the agent generates itself: SOURCE_AGENT, with a uuid, so it is acknowledged. */
export function agentStatus(spec: AgentStatusSpec): TaskStatus {
  return create(TaskStatusSchema, {
    taskId: { value: spec.taskId },
    state: spec.state,
    message: spec.message,
    source: TaskStatus_Source.AGENT,
    reason: spec.reason,
    ...(spec.agentId ? { agentId: { value: spec.agentId } } : {}),
    ...(spec.executorId ? { executorId: { value: spec.executorId } } : {}),
    timestamp: spec.nowMs / 1000,
    uuid: newUuidBytes(),
  });
}
