import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  checkInfoProblem,
  healthCheckProblem,
  taskCheckProblem,
} from '../../../src/master/check-validation.js';
import {
  CheckInfo_Type,
  CheckInfoSchema,
  Environment_Variable_Type,
  HealthCheck_Type,
  HealthCheckSchema,
  TaskInfoSchema,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const health = (init: MessageInitShape<typeof HealthCheckSchema>) =>
  healthCheckProblem(create(HealthCheckSchema, init));
const check = (init: MessageInitShape<typeof CheckInfoSchema>) =>
  checkInfoProblem(create(CheckInfoSchema, init));

describe('health check validation (common::validation::validateHealthCheck)', () => {
  it('accepts valid COMMAND, HTTP and TCP health checks, defaults or explicit zeros', () => {
    assert.equal(health({ type: HealthCheck_Type.COMMAND, command: { value: 'true' } }), undefined);
    assert.equal(
      health({ type: HealthCheck_Type.HTTP, http: { port: 80, path: '/health', scheme: 'https' } }),
      undefined,
    );
    assert.equal(
      health({
        type: HealthCheck_Type.TCP,
        tcp: { port: 80 },
        delaySeconds: 0,
        intervalSeconds: 0,
        timeoutSeconds: 0,
        gracePeriodSeconds: 0,
      }),
      undefined,
    );
  });

  it('names each problem as Mesos does', () => {
    assert.equal(health({}), "HealthCheck must specify 'type'");
    assert.equal(health({ type: HealthCheck_Type.UNKNOWN }), "'UNKNOWN' is not a valid health check type");
    assert.equal(
      health({ type: HealthCheck_Type.COMMAND }),
      "Expecting 'command' to be set for COMMAND health check",
    );
    assert.equal(
      health({ type: HealthCheck_Type.COMMAND, command: {} }),
      "Command health check must contain 'shell command'",
    );
    assert.equal(
      health({ type: HealthCheck_Type.COMMAND, command: { shell: false } }),
      "Command health check must contain 'executable path'",
    );
    assert.equal(
      health({
        type: HealthCheck_Type.COMMAND,
        command: {
          value: 'true',
          environment: { variables: [{ name: 'X', type: Environment_Variable_Type.VALUE }] },
        },
      }),
      "Health check's `CommandInfo` is invalid: Environment variable 'X' of type 'VALUE' must have a value set",
    );
    assert.equal(health({ type: HealthCheck_Type.HTTP }), "Expecting 'http' to be set for HTTP health check");
    assert.equal(
      health({ type: HealthCheck_Type.HTTP, http: { port: 80, scheme: 'ftp' } }),
      "Unsupported HTTP health check scheme: 'ftp'",
    );
    assert.equal(
      health({ type: HealthCheck_Type.HTTP, http: { port: 80, path: 'health' } }),
      "The path 'health' of HTTP health check must start with '/'",
    );
    assert.equal(health({ type: HealthCheck_Type.TCP }), "Expecting 'tcp' to be set for TCP health check");
    const tcp = { type: HealthCheck_Type.TCP, tcp: { port: 1 } } as const;
    assert.equal(health({ ...tcp, delaySeconds: -1 }), "Expecting 'delay_seconds' to be non-negative");
    assert.equal(
      health({ ...tcp, gracePeriodSeconds: -0.5 }),
      "Expecting 'grace_period_seconds' to be non-negative",
    );
    assert.equal(health({ ...tcp, intervalSeconds: -1 }), "Expecting 'interval_seconds' to be non-negative");
    assert.equal(
      health({ ...tcp, timeoutSeconds: Number.NaN }),
      "Expecting 'timeout_seconds' to be non-negative",
    );
  });
});

describe('check validation (common::validation::validateCheckInfo)', () => {
  it('accepts valid COMMAND, HTTP and TCP checks', () => {
    assert.equal(check({ type: CheckInfo_Type.COMMAND, command: { command: { value: 'true' } } }), undefined);
    assert.equal(check({ type: CheckInfo_Type.HTTP, http: { port: 80 } }), undefined);
    assert.equal(check({ type: CheckInfo_Type.TCP, tcp: { port: 80 } }), undefined);
  });

  it('names each problem as Mesos does', () => {
    assert.equal(check({}), "CheckInfo must specify 'type'");
    assert.equal(check({ type: CheckInfo_Type.UNKNOWN }), "'UNKNOWN' is not a valid check type");
    assert.equal(check({ type: CheckInfo_Type.COMMAND }), "Expecting 'command' to be set for COMMAND check");
    assert.equal(
      check({ type: CheckInfo_Type.COMMAND, command: { command: {} } }),
      "Command check must contain 'shell command'",
    );
    assert.equal(check({ type: CheckInfo_Type.HTTP }), "Expecting 'http' to be set for HTTP check");
    assert.equal(
      check({ type: CheckInfo_Type.HTTP, http: { port: 80, path: 'x' } }),
      "The path 'x' of HTTP check must start with '/'",
    );
    assert.equal(check({ type: CheckInfo_Type.TCP }), "Expecting 'tcp' to be set for TCP check");
    assert.equal(
      check({ type: CheckInfo_Type.TCP, tcp: { port: 1 }, timeoutSeconds: -1 }),
      "Expecting 'timeout_seconds' to be non-negative",
    );
  });
});

describe('task check validation', () => {
  it('prefixes the problem with what it is about, the check first', () => {
    const task = (init: MessageInitShape<typeof TaskInfoSchema>) =>
      taskCheckProblem(create(TaskInfoSchema, init));
    assert.equal(task({}), undefined);
    assert.equal(
      task({ healthCheck: { type: HealthCheck_Type.TCP } }),
      "Task uses invalid health check: Expecting 'tcp' to be set for TCP health check",
    );
    assert.equal(
      task({ healthCheck: { type: HealthCheck_Type.TCP }, check: {} }),
      "Task uses invalid check: CheckInfo must specify 'type'",
    );
  });
});
