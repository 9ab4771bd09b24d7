/**
 * The master's validation of a task's `health_check` and `check` on LAUNCH / LAUNCH_GROUP
 * (reference §2.4 "valid check/health_check"): Mesos' `common::validation::validateHealthCheck`
 * and `validateCheckInfo`, with their texts, prefixed as the master prefixes them
 * (`Task uses invalid health check: …`). A problem makes the task TASK_ERROR.
 */
import { isFieldSet } from '@bufbuild/protobuf';
// The agent validates CommandInfo environments for its operator calls with Mesos' rules; the
// master applies the same rules to check commands rather than keep a second copy of them.
import { commandInfoProblem } from '../agent/agent-calls.js';
import {
  type CheckInfo,
  CheckInfo_HttpSchema,
  CheckInfo_Type,
  CheckInfoSchema,
  type CommandInfo,
  CommandInfoSchema,
  type HealthCheck,
  HealthCheck_HTTPCheckInfoSchema,
  HealthCheck_Type,
  HealthCheckSchema,
  type TaskInfo,
} from '../wire/gen/mesos/v1/mesos_pb.js';

function commandProblem(
  command: CommandInfo,
  what: 'Command health check' | 'Command check',
): string | undefined {
  if (!isFieldSet(command, CommandInfoSchema.field.value)) {
    return `${what} must contain ${command.shell ? "'shell command'" : "'executable path'"}`;
  }
  const problem = commandInfoProblem(command);
  if (problem === undefined) return undefined;
  return what === 'Command health check'
    ? `Health check's \`CommandInfo\` is invalid: ${problem}`
    : `Check's \`CommandInfo\` is invalid: ${problem}`;
}

function negativeProblem(fields: [name: string, set: boolean, value: number][]): string | undefined {
  for (const [name, set, value] of fields) {
    // NaN is no duration either.
    if (set && !(value >= 0)) return `Expecting '${name}' to be non-negative`;
  }
  return undefined;
}

/** `common::validation::validateHealthCheck`. */
export function healthCheckProblem(check: HealthCheck): string | undefined {
  if (!isFieldSet(check, HealthCheckSchema.field.type)) return "HealthCheck must specify 'type'";
  switch (check.type) {
    case HealthCheck_Type.COMMAND: {
      if (check.command === undefined) return "Expecting 'command' to be set for COMMAND health check";
      const problem = commandProblem(check.command, 'Command health check');
      if (problem !== undefined) return problem;
      break;
    }
    case HealthCheck_Type.HTTP: {
      const http = check.http;
      if (http === undefined) return "Expecting 'http' to be set for HTTP health check";
      const field = HealthCheck_HTTPCheckInfoSchema.field;
      if (isFieldSet(http, field.scheme) && http.scheme !== 'http' && http.scheme !== 'https') {
        return `Unsupported HTTP health check scheme: '${http.scheme}'`;
      }
      if (isFieldSet(http, field.path) && !http.path.startsWith('/')) {
        return `The path '${http.path}' of HTTP health check must start with '/'`;
      }
      break;
    }
    case HealthCheck_Type.TCP:
      if (check.tcp === undefined) return "Expecting 'tcp' to be set for TCP health check";
      break;
    default:
      return `'${HealthCheck_Type[check.type] ?? check.type}' is not a valid health check type`;
  }
  const field = HealthCheckSchema.field;
  return negativeProblem([
    ['delay_seconds', isFieldSet(check, field.delaySeconds), check.delaySeconds],
    ['grace_period_seconds', isFieldSet(check, field.gracePeriodSeconds), check.gracePeriodSeconds],
    ['interval_seconds', isFieldSet(check, field.intervalSeconds), check.intervalSeconds],
    ['timeout_seconds', isFieldSet(check, field.timeoutSeconds), check.timeoutSeconds],
  ]);
}

/** `common::validation::validateCheckInfo`. */
export function checkInfoProblem(check: CheckInfo): string | undefined {
  if (!isFieldSet(check, CheckInfoSchema.field.type)) return "CheckInfo must specify 'type'";
  switch (check.type) {
    case CheckInfo_Type.COMMAND: {
      const command = check.command?.command;
      if (command === undefined) return "Expecting 'command' to be set for COMMAND check";
      const problem = commandProblem(command, 'Command check');
      if (problem !== undefined) return problem;
      break;
    }
    case CheckInfo_Type.HTTP: {
      const http = check.http;
      if (http === undefined) return "Expecting 'http' to be set for HTTP check";
      if (isFieldSet(http, CheckInfo_HttpSchema.field.path) && !http.path.startsWith('/')) {
        return `The path '${http.path}' of HTTP check must start with '/'`;
      }
      break;
    }
    case CheckInfo_Type.TCP:
      if (check.tcp === undefined) return "Expecting 'tcp' to be set for TCP check";
      break;
    default:
      return `'${CheckInfo_Type[check.type] ?? check.type}' is not a valid check type`;
  }
  const field = CheckInfoSchema.field;
  return negativeProblem([
    ['delay_seconds', isFieldSet(check, field.delaySeconds), check.delaySeconds],
    ['interval_seconds', isFieldSet(check, field.intervalSeconds), check.intervalSeconds],
    ['timeout_seconds', isFieldSet(check, field.timeoutSeconds), check.timeoutSeconds],
  ]);
}

/**
 * The TASK_ERROR message for a task whose check or health check is invalid (in Mesos' order: the
 * check first), or undefined.
 */
export function taskCheckProblem(task: TaskInfo): string | undefined {
  if (task.check !== undefined) {
    const problem = checkInfoProblem(task.check);
    if (problem !== undefined) return `Task uses invalid check: ${problem}`;
  }
  if (task.healthCheck !== undefined) {
    const problem = healthCheckProblem(task.healthCheck);
    if (problem !== undefined) return `Task uses invalid health check: ${problem}`;
  }
  return undefined;
}
