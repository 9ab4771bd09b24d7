/**
 * Agent operator Call decoding and validation with Mesos' texts (reference sections 1.7, 4.3),
 * and the pure parts of nested containers: ids in their printed form, the environment, signals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AGENT_VALIDATION_PREFIX,
  agentCallProblem,
  commandInfoProblem,
  containerIdProblem,
  containerIdText,
  decodeAgentCall,
  validateAgentCall,
} from '../../../src/agent/agent-calls.js';
import { DEFAULT_PATH } from '../../../src/agent/executor-launch.js';
import { nestedEnvironment, signalName } from '../../../src/agent/nested-containers.js';
import { StrataError } from '../../../src/common/errors.js';
import { Call_Type, CallSchema } from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import {
  CommandInfoSchema,
  ContainerIDSchema,
  Environment_Variable_Type,
  Secret_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const call = (init: MessageInitShape<typeof CallSchema>) => create(CallSchema, init);
const id = (value: string, parent?: string) =>
  create(ContainerIDSchema, { value, ...(parent === undefined ? {} : { parent: { value: parent } }) });

function badRequestText(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StrataError);
    assert.equal(err.status, 400);
    return err.message;
  }
  assert.fail('expected a 400');
}

describe('agent Call decoding', () => {
  it('uses the texts of the other v1 endpoints for bodies that do not decode', () => {
    const json = 'application/json';
    assert.equal(
      badRequestText(() => decodeAgentCall(new TextEncoder().encode('{'), json)).startsWith(
        'Failed to parse body into JSON: ',
      ),
      true,
    );
    assert.match(
      badRequestText(() =>
        decodeAgentCall(new TextEncoder().encode('{"type":"GET_HEALTH","get_metrics":1}'), json),
      ),
      /^Failed to convert JSON into Call protobuf: /,
    );
    assert.equal(
      badRequestText(() => decodeAgentCall(new Uint8Array([0xff, 0xff, 0xff]), 'application/x-protobuf')),
      'Failed to parse body into Call protobuf',
    );
  });

  it('insists on required container ids while decoding', () => {
    const body = new TextEncoder().encode('{"type":"WAIT_NESTED_CONTAINER","wait_nested_container":{}}');
    assert.match(
      badRequestText(() => decodeAgentCall(body, 'application/json')),
      /^Failed to convert JSON into Call protobuf: .*container_id/,
    );
  });
});

describe('agent Call validation', () => {
  it('needs a type; UNKNOWN and the plain getters pass', () => {
    assert.equal(agentCallProblem(call({})), "Expecting 'type' to be present");
    assert.equal(agentCallProblem(call({ type: Call_Type.UNKNOWN })), undefined);
    assert.equal(agentCallProblem(call({ type: Call_Type.GET_HEALTH })), undefined);
    assert.equal(agentCallProblem(call({ type: Call_Type.GET_STATE })), undefined);
    assert.equal(
      badRequestText(() => validateAgentCall(call({}))),
      `${AGENT_VALIDATION_PREFIX}Expecting 'type' to be present`,
    );
  });

  it('needs the payload of calls that carry one', () => {
    assert.equal(
      agentCallProblem(call({ type: Call_Type.GET_METRICS })),
      "Expecting 'get_metrics' to be present",
    );
    for (const [type, field] of [
      [Call_Type.LAUNCH_NESTED_CONTAINER, 'launch_nested_container'],
      [Call_Type.WAIT_NESTED_CONTAINER, 'wait_nested_container'],
      [Call_Type.KILL_NESTED_CONTAINER, 'kill_nested_container'],
      [Call_Type.REMOVE_NESTED_CONTAINER, 'remove_nested_container'],
      [Call_Type.LAUNCH_CONTAINER, 'launch_container'],
      [Call_Type.WAIT_CONTAINER, 'wait_container'],
      [Call_Type.KILL_CONTAINER, 'kill_container'],
      [Call_Type.REMOVE_CONTAINER, 'remove_container'],
      [Call_Type.ATTACH_CONTAINER_OUTPUT, 'attach_container_output'],
    ] as const) {
      assert.equal(agentCallProblem(call({ type })), `Expecting '${field}' to be present`, field);
    }
  });

  it('needs a parent for the *_NESTED_CONTAINER calls', () => {
    assert.equal(
      agentCallProblem(
        call({ type: Call_Type.LAUNCH_NESTED_CONTAINER, launchNestedContainer: { containerId: id('c') } }),
      ),
      "Expecting 'launch_nested_container.container_id.parent' to be present",
    );
    assert.equal(
      agentCallProblem(
        call({ type: Call_Type.KILL_NESTED_CONTAINER, killNestedContainer: { containerId: id('c') } }),
      ),
      "Expecting 'kill_nested_container.container_id.parent' to be present",
    );
    assert.equal(
      agentCallProblem(
        call({ type: Call_Type.WAIT_NESTED_CONTAINER, waitNestedContainer: { containerId: id('c', 'p') } }),
      ),
      undefined,
    );
    // The *_CONTAINER forms also name top-level containers.
    assert.equal(
      agentCallProblem(call({ type: Call_Type.WAIT_CONTAINER, waitContainer: { containerId: id('c') } })),
      undefined,
    );
  });

  it('checks container ids and their parents with Mesos texts', () => {
    assert.equal(containerIdProblem(id('ok', 'parent')), undefined);
    assert.equal(containerIdProblem(id('')), 'ID must not be empty');
    assert.equal(containerIdProblem(id('..')), "'..' is disallowed");
    assert.equal(containerIdProblem(id('a/b')), "'a/b' contains invalid characters");
    assert.equal(containerIdProblem(id('a\\b')), "'a\\b' contains invalid characters");
    assert.equal(containerIdProblem(id('x'.repeat(256))), 'ID must not be greater than 255 characters');
    assert.equal(containerIdProblem(id('a.b')), "'ContainerID.value' 'a.b' contains invalid characters");
    assert.equal(containerIdProblem(id('a b')), "'ContainerID.value' 'a b' contains invalid characters");
    assert.equal(
      containerIdProblem(id('child', 'p.q')),
      "'ContainerID.parent' is invalid: 'ContainerID.value' 'p.q' contains invalid characters",
    );
    assert.equal(
      agentCallProblem(
        call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: { containerId: id('a.b', 'p') },
        }),
      ),
      "'launch_nested_container.container_id' is invalid: 'ContainerID.value' 'a.b' contains invalid characters",
    );
  });

  it('prints nested ids ancestors first, joined with dots', () => {
    const grandchild = create(ContainerIDSchema, {
      value: 'g',
      parent: { value: 'c', parent: { value: 'root' } },
    });
    assert.equal(containerIdText(grandchild), 'root.c.g');
    assert.equal(containerIdText(id('solo')), 'solo');
  });

  it('validates the command environment', () => {
    const command = (variables: MessageInitShape<typeof CommandInfoSchema>['environment']) =>
      create(CommandInfoSchema, { value: 'true', environment: variables });
    assert.equal(commandInfoProblem(command({ variables: [{ name: 'A', value: '1' }] })), undefined);
    assert.equal(
      commandInfoProblem(command({ variables: [{ name: 'A' }] })),
      "Environment variable 'A' of type 'VALUE' must have a value set",
    );
    assert.equal(
      commandInfoProblem(command({ variables: [{ name: 'S', type: Environment_Variable_Type.SECRET }] })),
      "Environment variable 'S' of type 'SECRET' must have a secret set",
    );
    assert.equal(
      commandInfoProblem(
        command({
          variables: [
            { name: 'S', type: Environment_Variable_Type.SECRET, secret: { type: Secret_Type.VALUE } },
          ],
        }),
      ),
      "Environment variable 'S' specifies an invalid secret: Secret of type VALUE must have the 'value' field set",
    );
    assert.equal(
      commandInfoProblem(command({ variables: [{ name: 'U', type: Environment_Variable_Type.UNKNOWN }] })),
      "Environment variable of type 'UNKNOWN' is not allowed",
    );
    assert.equal(
      agentCallProblem(
        call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: {
            containerId: id('c', 'p'),
            command: { environment: { variables: [{ name: 'A' }] } },
          },
        }),
      ),
      "'launch_nested_container.command' is invalid: Environment variable 'A' of type 'VALUE' must have a value set",
    );
  });

  it('LAUNCH_CONTAINER: nested ones take no resources, standalone ones need them', () => {
    const resources = [{ name: 'cpus', type: 0, scalar: { value: 1 } }];
    assert.equal(
      agentCallProblem(
        call({ type: Call_Type.LAUNCH_CONTAINER, launchContainer: { containerId: id('c', 'p'), resources } }),
      ),
      "Resources may not be specified when using 'launch_container' to launch nested containers",
    );
    assert.equal(
      agentCallProblem(call({ type: Call_Type.LAUNCH_CONTAINER, launchContainer: { containerId: id('c') } })),
      "Resources must be specified when using 'launch_container' to launch standalone containers",
    );
    assert.equal(
      agentCallProblem(
        call({ type: Call_Type.LAUNCH_CONTAINER, launchContainer: { containerId: id('c', 'p') } }),
      ),
      undefined,
    );
  });
});

describe('nested container helpers', () => {
  it('gives a nested container MESOS_SANDBOX, its own variables and a default PATH, nothing else', () => {
    const env = nestedEnvironment(
      '/sb',
      create(CommandInfoSchema, {
        value: 'true',
        environment: {
          variables: [
            { name: 'A', value: '1' },
            { name: 'S', type: Environment_Variable_Type.SECRET, secret: { type: Secret_Type.VALUE } },
          ],
        },
      }),
    );
    assert.deepEqual(env, { MESOS_SANDBOX: '/sb', A: '1', PATH: DEFAULT_PATH });
    const withPath = nestedEnvironment(
      '/sb',
      create(CommandInfoSchema, { environment: { variables: [{ name: 'PATH', value: '/x' }] } }),
    );
    assert.equal(withPath.PATH, '/x');
  });

  it('maps signal numbers to names', () => {
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName(15), 'SIGTERM');
    assert.equal(signalName(4242), undefined);
  });
});
