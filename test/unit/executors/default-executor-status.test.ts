import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { agentOperatorUrl, nestedContainerTermination } from '../../../src/executors/agent-api-client.js';
import {
  describeWaitStatus,
  nestedContainerOutcome,
  signalName,
  waitStatusToExit,
} from '../../../src/executors/status.js';
import { Response_WaitNestedContainerSchema } from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import { TaskState, TaskStatus_Reason } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

describe('wait statuses of nested containers', () => {
  it('decodes raw wait(2) statuses', () => {
    assert.deepEqual(waitStatusToExit(0), { code: 0 });
    assert.deepEqual(waitStatusToExit(3 << 8), { code: 3 });
    assert.deepEqual(waitStatusToExit(9), { signal: 'SIGKILL' });
    assert.deepEqual(waitStatusToExit(15 | 0x80), { signal: 'SIGTERM' }, 'core dump bit ignored');
    assert.equal(waitStatusToExit(0x137f), undefined, 'stopped is not an end');
    assert.equal(signalName(15), 'SIGTERM');
    assert.equal(signalName(1000), undefined);
  });

  it("describes them in stout's words", () => {
    assert.equal(describeWaitStatus(1 << 8), 'exited with status 1');
    assert.equal(describeWaitStatus(15), 'terminated with signal Terminated');
    assert.equal(describeWaitStatus(9), 'terminated with signal Killed');
    assert.equal(describeWaitStatus(100), 'terminated with signal Unknown signal 100');
  });
});

describe('nestedContainerOutcome', () => {
  it('exit 0 ⇒ FINISHED, killed ⇒ KILLED, otherwise FAILED, in that order', () => {
    assert.deepEqual(nestedContainerOutcome({ exitStatus: 0 }, undefined), {
      state: TaskState.TASK_FINISHED,
      message: 'Command exited with status 0',
    });
    assert.equal(nestedContainerOutcome({ exitStatus: 0 }, 'kill').state, TaskState.TASK_FINISHED);
    assert.deepEqual(nestedContainerOutcome({ exitStatus: 15 }, 'kill'), {
      state: TaskState.TASK_KILLED,
      message: 'Command terminated with signal Terminated',
    });
    assert.equal(nestedContainerOutcome({ exitStatus: 1 << 8 }, 'shutdown').state, TaskState.TASK_KILLED);
    assert.equal(nestedContainerOutcome({ exitStatus: 1 << 8 }, undefined).state, TaskState.TASK_FAILED);
    assert.equal(nestedContainerOutcome({ exitStatus: 9 }, undefined).state, TaskState.TASK_FAILED);
    assert.deepEqual(nestedContainerOutcome({ exitStatus: 9 }, 'max-completion-time'), {
      state: TaskState.TASK_FAILED,
      message: 'Command terminated with signal Killed',
      reason: TaskStatus_Reason.MAX_COMPLETION_TIME_REACHED,
    });
  });

  it('an unknown status is FAILED (KILLED when killing); the agent state, reason and message win', () => {
    assert.deepEqual(nestedContainerOutcome({}, undefined), {
      state: TaskState.TASK_FAILED,
      message: 'Command terminated with unknown status',
    });
    assert.equal(nestedContainerOutcome({}, 'kill').state, TaskState.TASK_KILLED);
    assert.deepEqual(
      nestedContainerOutcome(
        {
          exitStatus: 9,
          state: TaskState.TASK_FAILED,
          reason: TaskStatus_Reason.CONTAINER_LIMITATION_DISK,
          message: 'Disk usage exceeds quota',
        },
        'kill',
      ),
      {
        state: TaskState.TASK_FAILED,
        message: 'Command terminated with signal Killed: Disk usage exceeds quota',
        reason: TaskStatus_Reason.CONTAINER_LIMITATION_DISK,
      },
    );
    // A non-terminal state from the agent is no reason to change the decision.
    assert.equal(
      nestedContainerOutcome({ exitStatus: 0, state: TaskState.TASK_RUNNING }, undefined).state,
      TaskState.TASK_FINISHED,
    );
  });

  it('reads only the fields WAIT_NESTED_CONTAINER set (proto2 presence, not defaults)', () => {
    assert.deepEqual(nestedContainerTermination(create(Response_WaitNestedContainerSchema, {})), {});
    const zero = create(Response_WaitNestedContainerSchema, { exitStatus: 0 });
    assert.deepEqual(nestedContainerTermination(zero), { exitStatus: 0 });
    const full = create(Response_WaitNestedContainerSchema, {
      exitStatus: 9,
      state: TaskState.TASK_FAILED,
      reason: TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY,
      message: 'oom',
    });
    assert.deepEqual(nestedContainerTermination(full), {
      exitStatus: 9,
      state: TaskState.TASK_FAILED,
      reason: TaskStatus_Reason.CONTAINER_LIMITATION_MEMORY,
      message: 'oom',
    });
  });

  it('derives the operator API URL from the executor API URL', () => {
    assert.equal(
      agentOperatorUrl('http://10.0.0.1:5051/slave(1)/api/v1/executor'),
      'http://10.0.0.1:5051/slave(1)/api/v1',
    );
  });
});
