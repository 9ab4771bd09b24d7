/**
 * stdout/stderr rotation: logrotate option parsing, per-container overrides, the rotating file
 * (sizes, numbering, how many are kept), and the companion's arguments.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  containerRotation,
  logrotateOptionsProblem,
  parseLogrotateOptions,
  RotatingFile,
} from '../../../src/agent/container-logger.js';
import { parseCompanionArgs } from '../../../src/agent/logrotate-logger.js';

const MB = 1024 * 1024;
const flags = {
  maxStdoutSize: 10 * MB,
  maxStderrSize: 10 * MB,
  stdoutOptions: 'rotate 9',
  stderrOptions: '',
};

describe('logrotate options', () => {
  it('reads rotate N, ignores size and harmless directives, refuses the rest', () => {
    assert.deepEqual(parseLogrotateOptions('rotate 5'), { keep: 5 });
    assert.deepEqual(parseLogrotateOptions(''), { keep: 0 });
    assert.deepEqual(parseLogrotateOptions('missingok\nrotate 3\nsize 1M'), { keep: 3 });
    assert.deepEqual(parseLogrotateOptions('rotate 2; notifempty'), { keep: 2 });
    assert.match(logrotateOptionsProblem('compress') ?? '', /'compress' is not supported/);
    assert.match(logrotateOptionsProblem('rotate many') ?? '', /expected 'rotate N'/);
    assert.match(logrotateOptionsProblem('rotate 5000') ?? '', /more than 1000/);
    assert.equal(logrotateOptionsProblem('rotate 9'), undefined);
  });

  it('takes per-container overrides from CONTAINER_LOGGER_* variables', () => {
    assert.deepEqual(containerRotation(flags, {}), {
      stdout: { maxSize: 10 * MB, keep: 9 },
      stderr: { maxSize: 10 * MB, keep: 0 },
    });
    const warnings: string[] = [];
    const settings = containerRotation(
      flags,
      {
        CONTAINER_LOGGER_MAX_STDOUT_SIZE: '1MB',
        CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS: 'rotate 2',
        CONTAINER_LOGGER_MAX_STDERR_SIZE: '10B',
        CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS: 'compress',
      },
      (m) => warnings.push(m),
    );
    assert.deepEqual(settings, { stdout: { maxSize: MB, keep: 2 }, stderr: { maxSize: 10 * MB, keep: 0 } });
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /CONTAINER_LOGGER_MAX_STDERR_SIZE='10B'/);
  });

  it('checks the companion arguments', () => {
    assert.deepEqual(parseCompanionArgs(['--path=/s/stdout', '--max_size=4096', '--keep=3']), {
      path: '/s/stdout',
      maxSize: 4096,
      keep: 3,
    });
    assert.match(String(parseCompanionArgs(['--max_size=4096'])), /missing --path/);
    assert.match(String(parseCompanionArgs(['--path=/x', '--max_size=10'])), /bad --max_size/);
    assert.match(String(parseCompanionArgs(['stray'])), /unexpected argument/);
  });
});

describe('RotatingFile', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-rotate-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const files = (name: string) =>
    readdirSync(dir)
      .filter((f) => f === name || f.startsWith(`${name}.`))
      .sort();

  it('never lets a file pass the limit and keeps the newest N rotations', () => {
    const path = join(dir, 'stdout');
    const file = new RotatingFile(path, { maxSize: 10, keep: 2 });
    for (let i = 0; i < 5; i++) file.write(Buffer.from(`${i}${i}${i}${i}${i}${i}${i}${i}`)); // 8 bytes each
    file.close();
    // 40 bytes in 10-byte files: four files, the oldest of which fell off the end.
    assert.deepEqual(files('stdout'), ['stdout', 'stdout.1', 'stdout.2']);
    for (const name of files('stdout')) assert.ok(statSync(join(dir, name)).size <= 10, name);
    assert.equal(readFileSync(join(dir, 'stdout.2'), 'utf8'), '1111112222');
    assert.equal(readFileSync(join(dir, 'stdout.1'), 'utf8'), '2222333333');
    assert.equal(readFileSync(path, 'utf8'), '3344444444');
  });

  it('splits a write larger than a file and appends to an existing file first', () => {
    const path = join(dir, 'stderr');
    writeFileSync(path, 'abc');
    const file = new RotatingFile(path, { maxSize: 8, keep: 5 });
    file.write(Buffer.from('0123456789ABCDEFGHIJ'));
    file.close();
    assert.deepEqual(files('stderr'), ['stderr', 'stderr.1', 'stderr.2']);
    assert.equal(readFileSync(join(dir, 'stderr.2'), 'utf8'), 'abc01234');
    assert.equal(readFileSync(join(dir, 'stderr.1'), 'utf8'), '56789ABC');
    assert.equal(readFileSync(path, 'utf8'), 'DEFGHIJ');
  });

  it('with rotate 0 starts over without keeping anything', () => {
    const path = join(dir, 'plain');
    const file = new RotatingFile(path, { maxSize: 4, keep: 0 });
    file.write(Buffer.from('aaaa'));
    file.write(Buffer.from('bb'));
    file.close();
    assert.deepEqual(files('plain'), ['plain']);
    assert.equal(readFileSync(path, 'utf8'), 'bb');
  });
});
