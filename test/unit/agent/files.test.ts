/**
 * The virtual file tree behind `/files/*`: longest-prefix attachment lookup, confinement to the
 * attached directory (`..`, absolute paths, symlinks in and out), listings, and Mesos' offset and
 * length rules for reads.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  contentTypeFor,
  Files,
  FilesError,
  isInside,
  longestAttachment,
  MAX_READ_BYTES,
  modeString,
  readWindow,
} from '../../../src/agent/files.js';

async function rejectsWith(
  promise: Promise<unknown>,
  kind: FilesError['kind'],
  text?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FilesError, `expected a FilesError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (text) assert.match(err.message, text);
    return true;
  });
}

describe('files: pure rules', () => {
  it('finds the longest attached prefix made of whole components', () => {
    const table = new Map([
      ['/frameworks/f/executors/e/runs/latest', '/sandbox'],
      ['/frameworks/f', '/elsewhere'],
      ['/slave/log', '/var/log/agent.log'],
    ]);
    assert.deepEqual(longestAttachment(table, '/frameworks/f/executors/e/runs/latest/stdout'), {
      virtual: '/frameworks/f/executors/e/runs/latest',
      host: '/sandbox',
      suffix: 'stdout',
    });
    assert.deepEqual(longestAttachment(table, '/frameworks/f/executors/e/runs/latest/'), {
      virtual: '/frameworks/f/executors/e/runs/latest',
      host: '/sandbox',
      suffix: '',
    });
    assert.equal(longestAttachment(table, '/frameworks/f/executors/e')?.host, '/elsewhere');
    // `/slave/logs` is not below `/slave/log`: only whole components match.
    assert.equal(longestAttachment(table, '/slave/logs'), undefined);
    assert.equal(longestAttachment(table, '/etc/passwd'), undefined);
  });

  it('checks containment by components, not by string prefix', () => {
    assert.ok(isInside('/a/b', '/a/b'));
    assert.ok(isInside('/a/b/c', '/a/b'));
    assert.ok(!isInside('/a/bc', '/a/b'));
    assert.ok(!isInside('/a', '/a/b'));
    assert.ok(isInside('/etc', '/'));
  });

  it('applies Mesos read windows: end of file, zero length, 16-page cap', () => {
    assert.equal(readWindow(100, 0, undefined), 100);
    assert.equal(readWindow(100, 40, undefined), 60);
    assert.equal(readWindow(100, 40, 10), 10);
    assert.equal(readWindow(100, 95, 10), 5);
    assert.equal(readWindow(100, 100, 10), 0);
    assert.equal(readWindow(100, 1000, undefined), 0);
    assert.equal(readWindow(100, 0, 0), 0);
    assert.equal(readWindow(10 * MAX_READ_BYTES, 0, undefined), MAX_READ_BYTES);
    assert.equal(readWindow(10 * MAX_READ_BYTES, 5, 3 * MAX_READ_BYTES), MAX_READ_BYTES);
    assert.equal(MAX_READ_BYTES, 65536);
  });

  it('prints modes as ls -l does', () => {
    assert.equal(modeString(0o100644), '-rw-r--r--');
    assert.equal(modeString(0o040755), 'drwxr-xr-x');
    assert.equal(modeString(0o120777), 'lrwxrwxrwx');
    assert.equal(modeString(0o010600), 'prw-------');
  });

  it('guesses download content types from the extension', () => {
    assert.equal(contentTypeFor('stdout'), 'application/octet-stream');
    assert.equal(contentTypeFor('report.json'), 'application/json');
    assert.equal(contentTypeFor('notes.TXT'), 'text/plain');
  });
});

describe('files: a sandbox on disk', () => {
  let dir: string;
  let sandbox: string;
  let outside: string;
  let files: Files;
  const V = '/frameworks/fw/executors/ex/runs/latest';

  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'strata-files-')));
    sandbox = join(dir, 'work', 'runs', 'c1');
    outside = join(dir, 'outside');
    mkdirSync(join(sandbox, 'sub', 'deeper'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(sandbox, 'stdout'), 'hello world\n');
    writeFileSync(join(sandbox, 'sub', 'inner.txt'), 'inner');
    writeFileSync(join(outside, 'secret'), 'top secret');
    writeFileSync(join(dir, 'work', 'runs', 'c1-sibling'), 'sibling');
    symlinkSync(join(outside, 'secret'), join(sandbox, 'escape'));
    symlinkSync(outside, join(sandbox, 'escape-dir'));
    symlinkSync('../../..', join(sandbox, 'sub', 'up'));
    symlinkSync('stdout', join(sandbox, 'alias'));
    symlinkSync('sub/deeper', join(sandbox, 'deep-link'));
    symlinkSync(join(sandbox, 'loop-b'), join(sandbox, 'loop-a'));
    symlinkSync(join(sandbox, 'loop-a'), join(sandbox, 'loop-b'));
    symlinkSync('c1', join(dir, 'work', 'runs', 'latest'));
    const log = join(dir, 'agent.log');
    writeFileSync(log, 'log line\n');
    files = new Files([() => [[V, join(dir, 'work', 'runs', 'latest')]]]);
    files.attach(log, '/slave/log');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves the attachment, paths below it, and symlinks that stay inside', async () => {
    assert.equal((await files.resolve(V)).real, sandbox);
    assert.equal((await files.resolve(`${V}/`)).real, sandbox);
    assert.equal((await files.resolve(`${V}/stdout`)).real, join(sandbox, 'stdout'));
    assert.equal((await files.resolve(`${V}/sub/../stdout`)).real, join(sandbox, 'stdout'));
    assert.equal((await files.resolve(`${V}/alias`)).real, join(sandbox, 'stdout'));
    assert.equal((await files.resolve(`${V}/deep-link`)).real, join(sandbox, 'sub', 'deeper'));
    assert.equal((await files.resolve('/slave/log')).real, join(dir, 'agent.log'));
  });

  it('refuses `..` that climbs out of the sandbox', async () => {
    await rejectsWith(files.resolve(`${V}/..`), 'invalid', /is inaccessible/);
    await rejectsWith(files.resolve(`${V}/../c1-sibling`), 'invalid', /is inaccessible/);
    await rejectsWith(files.resolve(`${V}/sub/../../../../outside/secret`), 'invalid', /inaccessible/);
  });

  it('refuses symlinks that point outside, to files and to directories', async () => {
    await rejectsWith(files.resolve(`${V}/escape`), 'invalid', /resolves outside/);
    await rejectsWith(files.resolve(`${V}/escape-dir`), 'invalid');
    await rejectsWith(files.resolve(`${V}/escape-dir/secret`), 'invalid');
    await rejectsWith(files.resolve(`${V}/sub/up`), 'invalid');
    await rejectsWith(files.read(`${V}/escape`, 0, undefined), 'invalid');
    await rejectsWith(files.openForDownload(`${V}/escape`), 'invalid');
    await rejectsWith(files.browse(`${V}/escape-dir`), 'invalid');
  });

  it('does not serve paths nothing is attached to (absolute escapes)', async () => {
    await rejectsWith(files.resolve('/etc/passwd'), 'not-found');
    await rejectsWith(files.resolve(join(outside, 'secret')), 'not-found');
    await rejectsWith(files.resolve('/frameworks/fw/executors/ex/runs/latest-not'), 'not-found');
    await rejectsWith(files.resolve('/frameworks/fw/../../etc/passwd'), 'not-found');
    await rejectsWith(files.resolve(''), 'not-found');
  });

  it('gives 404 for missing entries and paths below a file', async () => {
    await rejectsWith(files.resolve(`${V}/nope`), 'not-found');
    await rejectsWith(files.resolve(`${V}/stdout/more`), 'not-found');
    await rejectsWith(files.resolve('/slave/log/more'), 'not-found');
  });

  it('refuses symlink loops and NUL bytes with 400', async () => {
    await rejectsWith(files.resolve(`${V}/loop-a`), 'invalid');
    await rejectsWith(files.resolve(`${V}/std\0out`), 'invalid');
  });

  it('lists a directory sorted by name, with virtual paths and ls -l modes', async () => {
    const listing = await files.browse(V);
    assert.deepEqual(
      listing.map((e) => e.path),
      ['alias', 'deep-link', 'escape', 'escape-dir', 'loop-a', 'loop-b', 'stdout', 'sub'].map(
        (name) => `${V}/${name}`,
      ),
    );
    const byName = new Map(listing.map((e) => [e.path.slice(V.length + 1), e]));
    const stdout = byName.get('stdout')!;
    assert.equal(stdout.size, 12);
    assert.equal(modeString(stdout.mode)[0], '-');
    assert.equal(stdout.nlink, 1);
    assert.ok(Math.abs(stdout.mtimeSecs - Date.now() / 1000) < 120);
    assert.equal(typeof stdout.uid, 'string');
    assert.equal(modeString(byName.get('sub')!.mode)[0], 'd');
    // An inside link shows its target; an outside link shows only itself.
    assert.equal(byName.get('alias')!.size, 12);
    assert.equal(modeString(byName.get('escape')!.mode)[0], 'l');
    assert.notEqual(byName.get('escape')!.size, 'top secret'.length);
    assert.equal(modeString(byName.get('escape-dir')!.mode)[0], 'l');
    // A trailing slash on the request does not double up in the paths.
    assert.equal((await files.browse(`${V}/sub/`))[0]?.path, `${V}/sub/deeper`);
    // Browsing a file gives an empty listing, as Mesos does.
    assert.deepEqual(await files.browse(`${V}/stdout`), []);
  });

  it('reads with offset and length, reporting the size', async () => {
    assert.deepEqual(await files.read(`${V}/stdout`, 0, undefined), {
      size: 12,
      data: Buffer.from('hello world\n'),
    });
    assert.equal((await files.read(`${V}/stdout`, 6, 5)).data.toString(), 'world');
    assert.equal((await files.read(`${V}/stdout`, 6, 100)).data.toString(), 'world\n');
    const past = await files.read(`${V}/stdout`, 50, 10);
    assert.equal(past.size, 12);
    assert.equal(past.data.length, 0);
    assert.equal((await files.read(`${V}/stdout`, 0, 0)).data.length, 0);
    await rejectsWith(files.read(`${V}/sub`, 0, undefined), 'invalid', /Cannot read a directory/);
    await rejectsWith(files.openForDownload(`${V}/sub`), 'invalid', /Cannot download a directory/);
  });

  it('caps one read at 16 pages', async () => {
    writeFileSync(join(sandbox, 'big'), Buffer.alloc(3 * MAX_READ_BYTES, 0x61));
    const read = await files.read(`${V}/big`, 10, undefined);
    assert.equal(read.size, 3 * MAX_READ_BYTES);
    assert.equal(read.data.length, MAX_READ_BYTES);
  });

  it('opens a file for download with its size and name', async () => {
    const opened = await files.openForDownload(`${V}/alias`);
    try {
      assert.equal(opened.size, 12);
      assert.equal(opened.name, 'stdout');
      assert.equal(opened.contentType, 'application/octet-stream');
    } finally {
      await opened.handle.close();
    }
  });

  it('follows a re-pointed latest link and lists debug paths canonically', async () => {
    const second = join(dir, 'work', 'runs', 'c2');
    mkdirSync(second);
    writeFileSync(join(second, 'stdout'), 'second run');
    rmSync(join(dir, 'work', 'runs', 'latest'));
    symlinkSync('c2', join(dir, 'work', 'runs', 'latest'));
    try {
      assert.equal((await files.read(`${V}/stdout`, 0, undefined)).data.toString(), 'second run');
      const debug = await files.debug();
      assert.equal(debug.get(V), second);
      assert.equal(debug.get('/slave/log'), join(dir, 'agent.log'));
    } finally {
      rmSync(join(dir, 'work', 'runs', 'latest'));
      symlinkSync('c1', join(dir, 'work', 'runs', 'latest'));
    }
  });

  it('detaches fixed attachments', async () => {
    const extra = new Files();
    extra.attach(sandbox, '/x/');
    assert.equal((await extra.resolve('/x/stdout')).real, join(sandbox, 'stdout'));
    extra.detach('/x');
    await rejectsWith(extra.resolve('/x/stdout'), 'not-found');
  });
});
