import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  decodeExecutorCall,
  EXECUTOR_VALIDATION_PREFIX,
  executorCallProblem,
  validateExecutorCall,
} from '../../../src/agent/executor-calls.js';
import { isStrataError } from '../../../src/common/errors.js';
import { codec } from '../../../src/wire/codec.js';
import { Call_Type, CallSchema } from '../../../src/wire/gen/mesos/v1/executor/executor_pb.js';
import { CheckInfo_Type, TaskState, TaskStatus_Source } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const ids = { frameworkId: { value: 'f' }, executorId: { value: 'e' } };
const call = (init: Omit<MessageInitShape<typeof CallSchema>, 'frameworkId' | 'executorId'>) =>
  create(CallSchema, { ...ids, ...init } as MessageInitShape<typeof CallSchema>);
const status = (extra: Record<string, unknown> = {}) => ({
  taskId: { value: 't' },
  state: TaskState.TASK_RUNNING,
  source: TaskStatus_Source.EXECUTOR,
  uuid: new Uint8Array(16),
  ...extra,
});
const encoder = new TextEncoder();

function rejection(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (isStrataError(err)) return { status: err.status, message: err.message };
    throw err;
  }
  assert.fail('expected a rejection');
}

describe('executor call decoding', () => {
  it("uses Mesos' texts for unparsable bodies", () => {
    assert.deepEqual(
      rejection(() => decodeExecutorCall(new Uint8Array([0xff, 0x01]), 'application/x-protobuf')),
      { status: 400, message: 'Failed to parse body into Call protobuf' },
    );
    const json = rejection(() => decodeExecutorCall(encoder.encode('{not json'), 'application/json'));
    assert.equal(json.status, 400);
    assert.match(json.message, /^Failed to parse body into JSON: /);
    const shape = rejection(() =>
      decodeExecutorCall(encoder.encode('{"type":"SUBSCRIBE"}'), 'application/json'),
    );
    assert.match(shape.message, /^Failed to convert JSON into Call protobuf: /);
  });

  it('round-trips a valid call in both encodings', () => {
    const original = call({ type: Call_Type.UPDATE, update: { status: status() } });
    for (const mediaType of ['application/json', 'application/x-protobuf'] as const) {
      const decoded = decodeExecutorCall(codec.encode(CallSchema, original, mediaType), mediaType);
      assert.equal(executorCallProblem(decoded), undefined);
    }
  });
});

describe('executor call validation (reference 3.1)', () => {
  const cases: [string, ReturnType<typeof call>, string | undefined][] = [
    ['type absent', create(CallSchema, ids), "Expecting 'type' to be present"],
    [
      'SUBSCRIBE without subscribe',
      call({ type: Call_Type.SUBSCRIBE }),
      "Expecting 'subscribe' to be present",
    ],
    ['SUBSCRIBE', call({ type: Call_Type.SUBSCRIBE, subscribe: {} }), undefined],
    ['UPDATE without update', call({ type: Call_Type.UPDATE }), "Expecting 'update' to be present"],
    [
      'UPDATE without uuid',
      call({
        type: Call_Type.UPDATE,
        update: {
          status: {
            taskId: { value: 't' },
            state: TaskState.TASK_RUNNING,
            source: TaskStatus_Source.EXECUTOR,
          },
        },
      }),
      "Expecting 'uuid' to be present",
    ],
    [
      'UPDATE with a short uuid',
      call({ type: Call_Type.UPDATE, update: { status: status({ uuid: new Uint8Array(15) }) } }),
      'Not a valid UUID',
    ],
    [
      'UPDATE for another executor',
      call({ type: Call_Type.UPDATE, update: { status: status({ executorId: { value: 'x' } }) } }),
      'ExecutorID in Call: e does not match ExecutorID in TaskStatus: x',
    ],
    [
      'UPDATE from the wrong source',
      call({ type: Call_Type.UPDATE, update: { status: status({ source: TaskStatus_Source.AGENT }) } }),
      "Received Call from executor e of framework f with invalid source, expecting 'SOURCE_EXECUTOR'",
    ],
    [
      'UPDATE with TASK_STAGING',
      call({ type: Call_Type.UPDATE, update: { status: status({ state: TaskState.TASK_STAGING }) } }),
      'Received TASK_STAGING from executor e of framework f which is not allowed',
    ],
    [
      'UPDATE with a check status without its payload',
      call({
        type: Call_Type.UPDATE,
        update: { status: status({ checkStatus: { type: CheckInfo_Type.HTTP } }) },
      }),
      "Expecting 'http' to be set for HTTP check's status",
    ],
    [
      'UPDATE with an untyped check status',
      call({ type: Call_Type.UPDATE, update: { status: status({ checkStatus: {} }) } }),
      "CheckStatusInfo must specify 'type'",
    ],
    ['a valid UPDATE', call({ type: Call_Type.UPDATE, update: { status: status() } }), undefined],
    ['MESSAGE without message', call({ type: Call_Type.MESSAGE }), "Expecting 'message' to be present"],
    ['MESSAGE', call({ type: Call_Type.MESSAGE, message: { data: new Uint8Array([1]) } }), undefined],
    ['HEARTBEAT', call({ type: Call_Type.HEARTBEAT }), undefined],
    ['UNKNOWN (present, so it passes validation)', call({ type: Call_Type.UNKNOWN }), undefined],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      assert.equal(executorCallProblem(input), expected);
      if (expected === undefined) validateExecutorCall(input);
      else
        assert.deepEqual(
          rejection(() => validateExecutorCall(input)),
          { status: 400, message: EXECUTOR_VALIDATION_PREFIX + expected },
        );
    });
  }

  it('an unset source reads as SOURCE_MASTER and fails', () => {
    const unsourced = call({
      type: Call_Type.UPDATE,
      update: { status: { taskId: { value: 't' }, state: TaskState.TASK_RUNNING, uuid: new Uint8Array(16) } },
    });
    assert.match(executorCallProblem(unsourced) ?? '', /invalid source/);
  });
});
