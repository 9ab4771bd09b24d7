import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { executorLogLevel, stderrLogger } from '../../../src/executors/stderr-logger.js';

describe('stderrLogger', () => {
  it('writes pino-shaped JSON lines: level, time, pid, name, fields, msg; errors serialized', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stderr-logger-'));
    try {
      const path = join(dir, 'log');
      const fd = openSync(path, 'w');
      const log = stderrLogger('command-executor', 'info', fd);
      log.debug('hidden');
      log.info({ taskId: 't1' }, 'launching task');
      log.warn('no fields');
      log.error({ err: new TypeError('boom') }, 'failed');
      closeSync(fd);
      const lines = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 3);
      assert.deepEqual(
        { ...lines[0], time: 0 },
        {
          level: 30,
          time: 0,
          pid: process.pid,
          name: 'command-executor',
          taskId: 't1',
          msg: 'launching task',
        },
      );
      assert.equal(typeof lines[0]?.time, 'number');
      assert.equal(lines[1]?.level, 40);
      assert.equal(lines[1]?.msg, 'no fields');
      const err = lines[2]?.err as { type: string; message: string; stack: string };
      assert.equal(lines[2]?.level, 50);
      assert.equal(err.type, 'TypeError');
      assert.equal(err.message, 'boom');
      assert.match(err.stack, /TypeError: boom/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('executors log warnings and errors unless STRATA_EXECUTOR_LOG_LEVEL names a level', () => {
    assert.equal(executorLogLevel(undefined), 'warn');
    assert.equal(executorLogLevel('debug'), 'debug');
    assert.equal(executorLogLevel('toString'), 'warn');
    assert.equal(executorLogLevel('loud'), 'warn');
  });
});
