import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { hostingProblem, processExit } from '../../../src/containerizer/hosted-executor.js';
import { TaskInfoSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const task = (init: Omit<MessageInitShape<typeof TaskInfoSchema>, '$typeName'>) =>
  create(TaskInfoSchema, { taskId: { value: 't' }, ...(init as object) });

describe('hostingProblem: which command tasks the agent hosts', () => {
  it('hosts shell commands and execs whose argv[0] is the program', () => {
    assert.equal(hostingProblem(task({ command: { value: 'echo hi' } }), {}, true, '/tini'), undefined);
    assert.equal(
      hostingProblem(
        task({ command: { shell: false, value: '/bin/echo', arguments: ['echo', 'hi'] } }),
        {},
        false,
        undefined,
      ),
      undefined,
    );
    assert.equal(
      hostingProblem(
        task({ command: { shell: false, value: '/bin/echo', arguments: ['/bin/echo'] } }),
        {},
        false,
        undefined,
      ),
      undefined,
    );
  });
  it('keeps the Node executor for COMMAND checks, an own argv[0], or a pid namespace without tini', () => {
    assert.equal(
      hostingProblem(
        task({ command: { value: 'x' }, healthCheck: { type: 1, command: { value: 'true' } } }),
        {},
        false,
        undefined,
      ),
      'a COMMAND health check',
    );
    assert.equal(
      hostingProblem(
        task({ command: { value: 'x' }, check: { type: 1, command: { command: { value: 'true' } } } }),
        {},
        false,
        undefined,
      ),
      'a COMMAND check',
    );
    // HTTP and TCP probes run from the agent, which shares the host network with the task.
    assert.equal(
      hostingProblem(
        task({ command: { value: 'x' }, healthCheck: { type: 2, http: { port: 80 } } }),
        {},
        false,
        undefined,
      ),
      undefined,
    );
    assert.equal(
      hostingProblem(
        task({ command: { shell: false, value: '/bin/busybox', arguments: ['ls', '-l'] } }),
        {},
        false,
        undefined,
      ),
      'an argv[0] of its own',
    );
    assert.equal(
      hostingProblem(task({ command: { value: 'x' } }), {}, true, undefined),
      'a pid namespace and no tini on this host',
    );
  });
  it("looks at the image's Entrypoint/Cmd when the task runs it", () => {
    const imageTask = task({ command: { shell: false, value: '' } });
    const env = {
      STRATA_TASK_COMMAND: JSON.stringify({
        shell: false,
        value: '/bin/busybox',
        arguments: ['httpd', '-f'],
      }),
    };
    assert.equal(hostingProblem(imageTask, env, false, undefined), 'an argv[0] of its own');
    const plain = {
      STRATA_TASK_COMMAND: JSON.stringify({
        shell: false,
        value: '/bin/sh',
        arguments: ['/bin/sh', '-c', 'x'],
      }),
    };
    assert.equal(hostingProblem(imageTask, plain, false, undefined), undefined);
  });
});

describe('processExit: a wait status as the command executor reports it', () => {
  it('exit codes, signals, and an unknown end', () => {
    assert.deepEqual(processExit(0), { code: 0 });
    assert.deepEqual(processExit(3 << 8), { code: 3 });
    assert.deepEqual(processExit(15), { signal: 'SIGTERM' });
    assert.deepEqual(processExit(9), { signal: 'SIGKILL' });
    assert.deepEqual(processExit(undefined), { signal: 'SIGKILL' });
  });
});
