/**
 * The default executor's COMMAND probe: the check command runs in a nested container of its own
 * under the task's container, launched, waited for and (on a timeout or a pause) SIGKILLed
 * through the agent operator API, then removed, as Mesos' default executor does with its check
 * containers (`check-<uuid>`, children of the task's container).
 *
 * Mesos launches them with LAUNCH_NESTED_CONTAINER_SESSION as DEBUG containers, which share the
 * task container's sandbox and namespaces. Strata's agent has no sessions; a plain nested launch
 * plus WAIT does the same job for a check, whose output nobody reads. The differences: the check
 * gets a directory of its own under the task's (its working directory), and the task's sandbox is
 * passed to it as MESOS_SANDBOX, where a DEBUG container would run.
 *
 * An agent that cannot be reached gives no result ('unavailable', nothing reported), as Mesos
 * reports nothing while its agent is away; an agent that refuses the launch, or a check that dies
 * of a signal, is an error (a failure for a health check, an empty result for a check).
 */
import { randomUUID } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { create } from '@bufbuild/protobuf';
import type { Logger } from '../../common/log.js';
import { type CommandInfo, type ContainerID, ContainerIDSchema } from '../../wire/gen/mesos/v1/mesos_pb.js';
import type { AgentCallOutcome, NestedContainerApi } from '../agent-api-client.js';
import { describeWaitStatus, waitStatusToExit } from '../status.js';
import type { Probe, ProbeOutcome } from './checker.js';

const SIGKILL = osConstants.signals.SIGKILL;

export interface NestedCommandProbeOptions {
  containers: NestedContainerApi;
  /** The task's container: the parent of every check container. */
  parent: ContainerID;
  /** The check's command, its environment already merged with the task's. */
  command: CommandInfo;
  logger: Logger;
  /** Value of a new check container id (without the `check-` prefix); a random UUID by default. */
  newContainerId?: () => string;
}

function describe(outcome: AgentCallOutcome<unknown>): string {
  switch (outcome.kind) {
    case 'ok':
      return 'ok';
    case 'rejected':
      return `agent answered ${outcome.httpStatus}: ${outcome.detail}`;
    default:
      return outcome.detail;
  }
}

export function nestedCommandProbe(options: NestedCommandProbeOptions): Probe {
  const { containers, logger } = options;
  const newId = options.newContainerId ?? randomUUID;
  return async (signal): Promise<ProbeOutcome> => {
    const containerId = create(ContainerIDSchema, { value: `check-${newId()}`, parent: options.parent });
    const launched = await containers.launch({ containerId, command: options.command });
    if (launched.kind === 'unreachable') {
      return { kind: 'unavailable', message: `Failed to launch the check container: ${launched.detail}` };
    }
    if (launched.kind === 'rejected') {
      return { kind: 'error', message: `Failed to launch the check container: ${describe(launched)}` };
    }
    const kill = () => {
      void containers.kill(containerId, SIGKILL).then((outcome) => {
        if (outcome.kind !== 'ok') {
          logger.warn(
            { containerId: containerId.value, detail: describe(outcome) },
            'executor: could not SIGKILL a check container',
          );
        }
      });
    };
    // A timeout or a pause while the check runs: it must not linger.
    if (signal.aborted) kill();
    else signal.addEventListener('abort', kill, { once: true });
    const waited = await containers.wait(containerId);
    signal.removeEventListener('abort', kill);
    // Each probe leaves nothing behind: the ended container and its directory go.
    if (waited.kind === 'ok' && containers.remove !== undefined) {
      void containers.remove(containerId).then((outcome) => {
        if (outcome.kind !== 'ok') {
          logger.info(
            { containerId: containerId.value, detail: describe(outcome) },
            'executor: could not remove a check container',
          );
        }
      });
    }
    if (waited.kind === 'unreachable') {
      return { kind: 'unavailable', message: `Failed to wait for the check container: ${waited.detail}` };
    }
    if (waited.kind === 'rejected') {
      return { kind: 'error', message: `Failed to wait for the check container: ${describe(waited)}` };
    }
    const status = waited.value.exitStatus;
    if (status === undefined) {
      return {
        kind: 'error',
        message: `The check container ended without an exit status: ${waited.value.message ?? ''}`,
      };
    }
    const exit = waitStatusToExit(status);
    if (exit !== undefined && exit.signal === undefined) return { kind: 'command', exitCode: exit.code };
    return { kind: 'error', message: `Command ${describeWaitStatus(status)}` };
  };
}
