import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStrataError } from '../../../src/common/errors.js';
import {
  DEFAULT_RECOVERY_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
  DEFAULT_SUBSCRIPTION_BACKOFF_MAX_MS,
  parseAgentPid,
  parseHostPort,
  readExecutorEnvironment,
} from '../../../src/executors/environment.js';

const base = {
  MESOS_FRAMEWORK_ID: 'fw-1',
  MESOS_EXECUTOR_ID: 'ex-1',
  MESOS_AGENT_ENDPOINT: '10.0.0.5:5051',
  MESOS_SLAVE_PID: 'slave(1)@10.0.0.5:5051',
  MESOS_DIRECTORY: '/var/lib/strata/sandbox',
  MESOS_SANDBOX: '/mnt/mesos/sandbox',
  MESOS_CHECKPOINT: '1',
  MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '5secs',
  MESOS_SUBSCRIPTION_BACKOFF_MAX: '2secs',
  MESOS_RECOVERY_TIMEOUT: '15mins',
  MESOS_HTTP_COMMAND_EXECUTOR: '1',
};

function rejects(env: Record<string, string | undefined>, code: string, pattern: RegExp): void {
  assert.throws(
    () => readExecutorEnvironment(env),
    (err: unknown) => isStrataError(err) && err.code === code && pattern.test(err.message),
  );
}

describe('readExecutorEnvironment', () => {
  it('reads everything the agent passes', () => {
    const env = readExecutorEnvironment(base);
    assert.deepEqual(env, {
      frameworkId: 'fw-1',
      executorId: 'ex-1',
      agent: { host: '10.0.0.5', port: 5051 },
      agentUrl: 'http://10.0.0.5:5051/slave(1)/api/v1/executor',
      sandbox: '/mnt/mesos/sandbox',
      directory: '/var/lib/strata/sandbox',
      checkpoint: true,
      shutdownGracePeriodMs: 5000,
      subscriptionBackoffMaxMs: 2000,
      recoveryTimeoutMs: 900_000,
      authenticationToken: undefined,
    });
  });

  it('falls back to MESOS_SLAVE_PID for the address, keeping its process id in the URL', () => {
    const env = readExecutorEnvironment({
      ...base,
      MESOS_AGENT_ENDPOINT: undefined,
      MESOS_SLAVE_PID: 'slave(2)@h:7',
    });
    assert.equal(env.agentUrl, 'http://h:7/slave(2)/api/v1/executor');
  });

  it('prefers MESOS_AGENT_ENDPOINT for the address', () => {
    const env = readExecutorEnvironment({ ...base, MESOS_SLAVE_PID: 'slave(1)@192.168.1.1:1' });
    assert.equal(env.agentUrl, 'http://10.0.0.5:5051/slave(1)/api/v1/executor');
  });

  it('brackets an IPv6 agent address in the URL', () => {
    const env = readExecutorEnvironment({
      ...base,
      MESOS_AGENT_ENDPOINT: '[::1]:5051',
      MESOS_SLAVE_PID: undefined,
    });
    assert.equal(env.agentUrl, 'http://[::1]:5051/slave(1)/api/v1/executor');
  });

  it('defaults the optional durations and checkpointing', () => {
    const env = readExecutorEnvironment({
      MESOS_FRAMEWORK_ID: 'f',
      MESOS_EXECUTOR_ID: 'e',
      MESOS_AGENT_ENDPOINT: '127.0.0.1:5051',
    });
    assert.equal(env.checkpoint, false);
    assert.equal(env.shutdownGracePeriodMs, DEFAULT_SHUTDOWN_GRACE_PERIOD_MS);
    assert.equal(env.subscriptionBackoffMaxMs, DEFAULT_SUBSCRIPTION_BACKOFF_MAX_MS);
    assert.equal(env.recoveryTimeoutMs, DEFAULT_RECOVERY_TIMEOUT_MS);
    assert.equal(env.sandbox, undefined);
  });

  it('uses MESOS_DIRECTORY as the sandbox when MESOS_SANDBOX is absent', () => {
    assert.equal(
      readExecutorEnvironment({ ...base, MESOS_SANDBOX: undefined }).sandbox,
      '/var/lib/strata/sandbox',
    );
  });

  it('keeps the authentication token', () => {
    const env = readExecutorEnvironment({ ...base, MESOS_EXECUTOR_AUTHENTICATION_TOKEN: 'jwt' });
    assert.equal(env.authenticationToken, 'jwt');
  });

  it('names a missing required variable in Mesos wording', () => {
    rejects(
      { ...base, MESOS_FRAMEWORK_ID: undefined },
      'EXECUTOR_ENV_MISSING',
      /^Expecting 'MESOS_FRAMEWORK_ID' to be set/,
    );
    rejects({ ...base, MESOS_EXECUTOR_ID: '' }, 'EXECUTOR_ENV_MISSING', /'MESOS_EXECUTOR_ID'/);
    rejects(
      { ...base, MESOS_AGENT_ENDPOINT: undefined, MESOS_SLAVE_PID: undefined },
      'EXECUTOR_ENV_MISSING',
      /'MESOS_AGENT_ENDPOINT'/,
    );
  });

  it('rejects malformed values instead of defaulting them', () => {
    rejects(
      { ...base, MESOS_AGENT_ENDPOINT: 'host' },
      'EXECUTOR_ENV_INVALID',
      /'host' of 'MESOS_AGENT_ENDPOINT'/,
    );
    rejects({ ...base, MESOS_AGENT_ENDPOINT: 'h:99999' }, 'EXECUTOR_ENV_INVALID', /out of range/);
    rejects({ ...base, MESOS_SLAVE_PID: 'nonsense' }, 'EXECUTOR_ENV_INVALID', /'MESOS_SLAVE_PID'/);
    rejects({ ...base, MESOS_CHECKPOINT: 'yes' }, 'EXECUTOR_ENV_INVALID', /'MESOS_CHECKPOINT'/);
    rejects({ ...base, MESOS_RECOVERY_TIMEOUT: '15' }, 'EXECUTOR_ENV_INVALID', /'MESOS_RECOVERY_TIMEOUT'/);
    rejects(
      { ...base, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '-1secs' },
      'EXECUTOR_ENV_INVALID',
      /must not be negative/,
    );
    rejects({ ...base, MESOS_SUBSCRIPTION_BACKOFF_MAX: 'fast' }, 'EXECUTOR_ENV_INVALID', /duration/);
  });

  it('parses fractional and small durations', () => {
    const env = readExecutorEnvironment({ ...base, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: '1.5secs' });
    assert.equal(env.shutdownGracePeriodMs, 1500);
    assert.equal(
      readExecutorEnvironment({ ...base, MESOS_SUBSCRIPTION_BACKOFF_MAX: '100ms' }).subscriptionBackoffMaxMs,
      100,
    );
  });
});

describe('agent address parsing', () => {
  it('splits host and port', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:5051'), { host: '127.0.0.1', port: 5051 });
    assert.deepEqual(parseHostPort('agent.example.com:80'), { host: 'agent.example.com', port: 80 });
    assert.deepEqual(parseHostPort('[fe80::1]:5051'), { host: 'fe80::1', port: 5051 });
  });

  it('explains what is wrong', () => {
    assert.equal(typeof parseHostPort(':5051'), 'string');
    assert.equal(typeof parseHostPort('::1:5051'), 'string');
    assert.equal(typeof parseHostPort('h:0'), 'string');
    assert.equal(typeof parseHostPort('h:port'), 'string');
    assert.equal(typeof parseHostPort('[::1]5051'), 'string');
  });

  it('reads a libprocess UPID', () => {
    assert.deepEqual(parseAgentPid('slave(1)@10.1.2.3:5051'), {
      processId: 'slave(1)',
      address: { host: '10.1.2.3', port: 5051 },
    });
  });
});
