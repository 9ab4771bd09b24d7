import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isStrataError } from '../../../src/common/errors.js';
import {
  boolOption,
  durationOption,
  enumOption,
  formatHelp,
  intOption,
  listOption,
  parseOptions,
  renderFlags,
  stringOption,
} from '../../../src/common/options.js';

const table = {
  work_dir: stringOption({ help: 'work directory' }),
  port: intOption({ help: 'port', default: 5050, validate: (p) => (p > 65535 ? 'not a port' : undefined) }),
  offer_timeout: durationOption({ help: 'offer timeout' }),
  checkpoint: boolOption({ help: 'checkpoint', default: false }),
  isolation: listOption({ help: 'isolators', default: ['posix/cpu', 'posix/mem'] }),
  recover: enumOption({ help: 'recovery', default: 'reconnect', choices: ['reconnect', 'cleanup'] as const }),
};

function expectError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isStrataError(err), `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('options', () => {
  it('uses defaults when nothing is given', () => {
    const { values, sources } = parseOptions(table, []);
    assert.equal(values.port, 5050);
    assert.equal(values.work_dir, undefined);
    assert.deepEqual(values.isolation, ['posix/cpu', 'posix/mem']);
    assert.equal(sources.port, 'default');
  });

  it('accepts --flag=value and --flag value, and dash spellings', () => {
    const { values } = parseOptions(table, ['--work_dir=/a', '--port', '6060', '--offer-timeout=2mins']);
    assert.equal(values.work_dir, '/a');
    assert.equal(values.port, 6060);
    assert.equal(values.offer_timeout, 120_000);
  });

  it('handles booleans: bare, --no-, and explicit values', () => {
    assert.equal(parseOptions(table, ['--checkpoint']).values.checkpoint, true);
    assert.equal(parseOptions(table, ['--no-checkpoint']).values.checkpoint, false);
    assert.equal(parseOptions(table, ['--checkpoint=false']).values.checkpoint, false);
    assert.equal(parseOptions(table, ['--checkpoint', 'true']).values.checkpoint, true);
  });

  it('reads STRATA_ and MESOS_ environment variables, command line first', () => {
    const env = { STRATA_PORT: '7070', MESOS_WORK_DIR: '/m', STRATA_WORK_DIR: '/s' };
    const parsed = parseOptions(table, [], env);
    assert.equal(parsed.values.port, 7070);
    assert.equal(parsed.values.work_dir, '/s');
    assert.equal(parsed.sources.port, 'environment');
    assert.equal(parseOptions(table, ['--port=8080'], env).values.port, 8080);
  });

  it('rejects unknown flags by name, with a suggestion', () => {
    expectError(
      () => parseOptions(table, ['--work_dri=/x']),
      'OPTIONS_UNKNOWN_FLAG',
      /--work_dri.*did you mean '--work_dir'/,
    );
    expectError(() => parseOptions(table, ['--bogus']), 'OPTIONS_UNKNOWN_FLAG', /'--bogus'$/);
  });

  it('rejects malformed values naming the flag', () => {
    expectError(() => parseOptions(table, ['--port=abc']), 'OPTIONS_BAD_VALUE', /'--port'.*not a number/);
    expectError(() => parseOptions(table, ['--port=70000']), 'OPTIONS_BAD_VALUE', /'--port'.*not a port/);
    expectError(
      () => parseOptions(table, ['--offer_timeout=5']),
      'OPTIONS_BAD_VALUE',
      /offer_timeout.*duration/,
    );
    expectError(() => parseOptions(table, ['--recover=maybe']), 'OPTIONS_BAD_VALUE', /reconnect, cleanup/);
    expectError(() => parseOptions(table, ['--work_dir']), 'OPTIONS_BAD_VALUE', /missing value/);
    expectError(() => parseOptions(table, [], { STRATA_PORT: 'x' }), 'OPTIONS_BAD_VALUE', /environment/);
  });

  it('reads file:// values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-opt-'));
    writeFileSync(join(dir, 'dir.txt'), '/from/file\n');
    assert.equal(
      parseOptions(table, [`--work_dir=file://${join(dir, 'dir.txt')}`]).values.work_dir,
      '/from/file',
    );
    expectError(
      () => parseOptions(table, ['--work_dir=file:///nonexistent/x']),
      'OPTIONS_BAD_VALUE',
      /cannot read/,
    );
  });

  it('renders /flags values and help from the same table', () => {
    const { values } = parseOptions(table, ['--offer_timeout=30secs']);
    const flags = renderFlags(table, values);
    assert.equal(flags.offer_timeout, '30secs');
    assert.equal(flags.port, '5050');
    assert.equal(flags.isolation, 'posix/cpu,posix/mem');
    assert.ok(!('work_dir' in flags));
    const help = formatHelp(table, 'x');
    assert.match(help, /--port=<int>\n\s+port \(default: 5050\)/);
    assert.match(help, /--recover=<reconnect\|cleanup>/);
  });

  it('collects positional arguments and --help', () => {
    const parsed = parseOptions(table, ['a', '--help', '--', '--port=1']);
    assert.deepEqual(parsed.positional, ['a', '--port=1']);
    assert.equal(parsed.helpRequested, true);
  });
});
