import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodePath, type RouteResolution, RouteTable } from '../../../src/http/router.js';

function masterTable(): RouteTable<string> {
  const table = new RouteTable<string>('master');
  table.add('master', '/', 'ui');
  table.add('master', '/api/v1/scheduler', 'scheduler');
  table.add('master', '/api/v1', 'operator');
  table.add('master', '/state', 'state');
  table.add('master', '/redirect', 'redirect');
  table.add('metrics', '/snapshot', 'metrics');
  table.add('version', '', 'version');
  return table;
}

function expectMatch(resolution: RouteResolution<string>) {
  assert.equal(resolution.kind, 'match', JSON.stringify(resolution));
  if (resolution.kind !== 'match') throw new Error('unreachable');
  return resolution;
}

describe('RouteTable', () => {
  const table = masterTable();

  it('serves the prefixed form directly', () => {
    const m = expectMatch(table.resolve('/master/api/v1/scheduler'));
    assert.equal(m.value, 'scheduler');
    assert.equal(m.path, '/master/api/v1/scheduler');
    assert.equal(m.processId, 'master');
    assert.equal(m.endpoint, '/api/v1/scheduler');
    assert.equal(m.delegated, false);
  });

  it('delegates unknown first segments to the main process', () => {
    const m = expectMatch(table.resolve('/api/v1/scheduler'));
    assert.equal(m.value, 'scheduler');
    assert.equal(m.path, '/master/api/v1/scheduler');
    assert.equal(m.delegated, true);
    assert.equal(expectMatch(table.resolve('/state')).path, '/master/state');
  });

  it('delegates / to the main process root', () => {
    const m = expectMatch(table.resolve('/'));
    assert.equal(m.value, 'ui');
    assert.equal(m.path, '/master');
    assert.equal(m.endpoint, '/');
    assert.equal(expectMatch(table.resolve('/master')).value, 'ui');
  });

  it('matches the longest prefix on whole components', () => {
    assert.equal(expectMatch(table.resolve('/api/v1')).value, 'operator');
    const deeper = expectMatch(table.resolve('/master/state/x/y'));
    assert.equal(deeper.value, 'state');
    assert.equal(deeper.subPath, 'x/y');
    assert.equal(deeper.path, '/master/state/x/y');
    assert.equal(table.resolve('/master/stateful').kind, 'not-found');
    assert.equal(expectMatch(table.resolve('/api/v1/other')).value, 'operator');
  });

  it('does not fall back to the process root', () => {
    assert.equal(table.resolve('/master/nonsense').kind, 'not-found');
    assert.equal(table.resolve('/nonsense').kind, 'not-found');
  });

  it('ignores a trailing slash and empty segments', () => {
    assert.equal(expectMatch(table.resolve('/master/state/')).subPath, '');
    assert.equal(expectMatch(table.resolve('/state/')).value, 'state');
    assert.equal(expectMatch(table.resolve('//master//state')).value, 'state');
    assert.equal(expectMatch(table.resolve('/api/v1/scheduler/')).value, 'scheduler');
  });

  it('routes top-level processes without delegating, and 404s their unknown endpoints', () => {
    const m = expectMatch(table.resolve('/metrics/snapshot'));
    assert.equal(m.value, 'metrics');
    assert.equal(m.path, '/metrics/snapshot');
    assert.equal(expectMatch(table.resolve('/version')).value, 'version');
    const miss = table.resolve('/metrics/other');
    assert.deepEqual(miss, { kind: 'not-found', path: '/metrics/other' });
  });

  it('percent-decodes segments, so slave%281%29 is slave(1)', () => {
    const agent = new RouteTable<string>('slave(1)');
    agent.add('slave(1)', '/api/v1/executor', 'executor');
    agent.add('slave(1)', '/state', 'state');
    const m = expectMatch(agent.resolve('/slave%281%29/api/v1/executor'));
    assert.equal(m.value, 'executor');
    assert.equal(m.path, '/slave(1)/api/v1/executor');
    assert.equal(m.delegated, false);
    assert.equal(expectMatch(agent.resolve('/slave(1)/state')).delegated, false);
    assert.equal(expectMatch(agent.resolve('/state')).path, '/slave(1)/state');
    assert.equal(expectMatch(agent.resolve('/%73tate')).value, 'state');
  });

  it('keeps an encoded slash inside its segment', () => {
    assert.equal(table.resolve('/master%2Fstate').kind, 'not-found');
  });

  it('400s a malformed escape and a target that is not a path', () => {
    assert.equal(table.resolve('/master/%zz').kind, 'bad-request');
    assert.equal(table.resolve('/master/%').kind, 'bad-request');
    assert.equal(table.resolve('/%C0%AF').kind, 'bad-request');
    assert.equal(table.resolve('*').kind, 'bad-request');
    assert.equal(table.resolve('http://host/master/state').kind, 'bad-request');
  });

  it('404s relative paths, encoded or not', () => {
    assert.equal(table.resolve('/master/../state').kind, 'not-found');
    assert.equal(table.resolve('/..').kind, 'not-found');
    assert.equal(table.resolve('/master/%2E%2E/state').kind, 'not-found');
  });

  it('without a delegate, unknown processes are 404s', () => {
    const bare = new RouteTable<string>();
    bare.add('files', '/browse', 'browse');
    assert.equal(expectMatch(bare.resolve('/files/browse')).value, 'browse');
    assert.equal(bare.resolve('/').kind, 'not-found');
    assert.equal(bare.resolve('/state').kind, 'not-found');
  });

  it('refuses duplicate routes and bad process ids', () => {
    const t = new RouteTable<string>('master');
    t.add('master', '/state', 'a');
    assert.throws(() => t.add('master', 'state/', 'b'), RangeError);
    assert.throws(() => t.add('', '/x', 'c'), RangeError);
    assert.throws(() => t.add('a/b', '/x', 'c'), RangeError);
    assert.ok(t.hasProcess('master'));
    assert.ok(!t.hasProcess('slave(1)'));
  });

  it('never throws on random targets', () => {
    let seed = 5;
    const next = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const alphabet = '/%2Fa.(1)?#ZZ%c3%28 \u00e9\u0000masterstate';
    for (let i = 0; i < 5000; i++) {
      const target =
        '/' + Array.from({ length: next() % 30 }, () => alphabet[next() % alphabet.length]).join('');
      const resolution = table.resolve(target);
      assert.ok(['match', 'not-found', 'bad-request'].includes(resolution.kind));
    }
  });
});

describe('encodePath', () => {
  it('keeps pchars and encodes the rest', () => {
    assert.equal(encodePath('/slave(1)/api/v1/executor'), '/slave(1)/api/v1/executor');
    assert.equal(encodePath('/master/a b/é/%/?#'), '/master/a%20b/%C3%A9/%25/%3F%23');
    assert.equal(encodePath("/x/!$&'()*+,;=:@-._~"), "/x/!$&'()*+,;=:@-._~");
  });
});
