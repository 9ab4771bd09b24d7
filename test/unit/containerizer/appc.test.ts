/**
 * The Appc (ACI) store: simple-discovery file names, fetching from a local directory prefix,
 * image ids (sha512 of the uncompressed tar), the cache, and the refusals (id mismatch, escaping
 * entries, dependencies, no manifest) leaving nothing behind. ACIs are built here with tar.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { planIsolation } from '../../../src/containerizer/isolators/catalogue.js';
import {
  AppcStore,
  appcImageConfig,
  discoveryFileName,
  discoveryUri,
  parseAppcManifest,
} from '../../../src/containerizer/provisioner/appc.js';
import { Provisioner } from '../../../src/containerizer/provisioner/provisioner.js';

const work = mkdtempSync(join(tmpdir(), 'strata-appc-'));
after(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function fresh(name: string): string {
  const dir = join(work, `${name}-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function manifestOf(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name,
    labels: [
      { name: 'version', value: '1.0' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
    app: {
      exec: ['/bin/hello', '--loud'],
      user: '0',
      group: '0',
      workingDirectory: '/srv',
      environment: [{ name: 'GREETING', value: 'hi there' }],
    },
    ...extra,
  };
}

/** Builds `<repo>/<name>-<version>-linux-amd64.aci`; returns its path. */
function buildAci(
  repo: string,
  name: string,
  opts: {
    version?: string;
    manifest?: Record<string, unknown> | string | null;
    gzip?: boolean;
    content?: string;
    extraArgs?: string[];
  } = {},
): string {
  const src = fresh('src');
  mkdirSync(join(src, 'rootfs', 'bin'), { recursive: true });
  mkdirSync(join(src, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(src, 'rootfs', 'bin', 'hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  writeFileSync(join(src, 'rootfs', 'etc', 'marker'), opts.content ?? 'appc\n', { mode: 0o640 });
  symlinkSync('hello', join(src, 'rootfs', 'bin', 'hi'));
  const entries = ['rootfs'];
  if (opts.manifest !== null) {
    const m = opts.manifest ?? manifestOf(name);
    writeFileSync(join(src, 'manifest'), typeof m === 'string' ? m : JSON.stringify(m));
    entries.unshift('manifest');
  }
  const file = join(repo, `${name}-${opts.version ?? '1.0'}-linux-amd64.aci`);
  mkdirSync(dirname(file), { recursive: true });
  const r = spawnSync(
    'tar',
    ['--numeric-owner', opts.gzip ? '-czf' : '-cf', file, '-C', src, ...entries, ...(opts.extraArgs ?? [])],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return file;
}

function sha512Id(file: string): string {
  let bytes = readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return `sha512-${createHash('sha512').update(bytes).digest('hex')}`;
}

const labels = (version: string) => ({ labels: [{ key: 'version', value: version }] });

describe('appc/runtime isolator', () => {
  it('is known, needs filesystem/linux, and takes its place next to docker/runtime', () => {
    const plan = (isolation: string) =>
      planIsolation({ isolation, launcher: undefined, containerizers: 'mesos', root: true });
    assert.throws(() => plan('appc/runtime'), /appc\/runtime needs filesystem\/linux/);
    assert.deepEqual(plan('appc/runtime,namespaces/pid,filesystem/linux,docker/runtime').isolators, [
      'filesystem/linux',
      'docker/runtime',
      'appc/runtime',
      'namespaces/pid',
    ]);
    assert.equal(plan('filesystem/linux,appc/runtime').launcher, 'linux');
  });
});

describe('appc simple discovery', () => {
  it('builds {name}-{version}-{os}-{arch}.aci with the defaults latest, linux, amd64', () => {
    assert.equal(
      discoveryFileName({ name: 'example.com/busybox' }),
      'example.com/busybox-latest-linux-amd64.aci',
    );
    assert.equal(
      discoveryFileName({
        name: 'example.com/busybox',
        labels: {
          labels: [
            { key: 'version', value: '1.0' },
            { key: 'os', value: 'freebsd' },
            { key: 'arch', value: 'arm64' },
            { key: 'other', value: 'ignored' },
          ],
        },
      }),
      'example.com/busybox-1.0-freebsd-arm64.aci',
    );
    assert.equal(discoveryFileName({ name: 'app', labels: { version: '2' } }), 'app-2-linux-amd64.aci');
  });

  it('refuses names and labels that could leave the prefix', () => {
    assert.throws(() => discoveryFileName({ name: '../etc/passwd' }), /AC identifier/);
    assert.throws(() => discoveryFileName({ name: 'a/../../b' }), /AC identifier/);
    assert.throws(() => discoveryFileName({ name: '/abs' }), /AC identifier/);
    assert.throws(() => discoveryFileName({ name: 'a', labels: labels('1/../../x') }), /version/);
  });

  it('prefixes: absolute directory, file://, http(s):// (concatenated, as Mesos)', () => {
    assert.deepEqual(discoveryUri('/srv/acis/', { name: 'a/b' }), {
      local: true,
      uri: '/srv/acis/a/b-latest-linux-amd64.aci',
    });
    assert.deepEqual(discoveryUri('file:///srv/acis', { name: 'a' }), {
      local: true,
      uri: '/srv/acis/a-latest-linux-amd64.aci',
    });
    assert.deepEqual(discoveryUri('http://', { name: 'example.com/a' }), {
      local: false,
      uri: 'http://example.com/a-latest-linux-amd64.aci',
    });
    assert.throws(() => discoveryUri('relative/', { name: 'a' }), /appc_simple_discovery_uri_prefix/);
  });
});

describe('appc manifest', () => {
  it('maps exec, environment, workingDirectory and user to the image config', () => {
    const m = parseAppcManifest(JSON.stringify(manifestOf('x')), 'x');
    const c = appcImageConfig(m);
    assert.deepEqual(c.entrypoint, ['/bin/hello', '--loud']);
    assert.deepEqual(c.cmd, []);
    assert.deepEqual(c.env, ['GREETING=hi there']);
    assert.equal(c.workingDir, '/srv');
    assert.equal(c.user, '0');
    assert.equal(c.os, 'linux');
  });

  it('refuses non-ImageManifests, non-JSON and dependencies', () => {
    assert.throws(() => parseAppcManifest('{"acKind":"PodManifest","name":"x"}', 'x'), /not ImageManifest/);
    assert.throws(() => parseAppcManifest('nope', 'x'), /not JSON/);
    assert.throws(
      () => parseAppcManifest(JSON.stringify(manifestOf('x', { dependencies: [{ imageName: 'y' }] })), 'x'),
      /appc image dependencies are not supported/,
    );
  });
});

describe('appc store (local directory prefix)', () => {
  function store(repo: string): { store: AppcStore; dir: string } {
    const dir = fresh('store');
    return { store: new AppcStore({ storeDir: dir, uriPrefix: `${repo}/` }), dir };
  }
  const images = (dir: string) => (existsSync(join(dir, 'images')) ? readdirSync(join(dir, 'images')) : []);
  const staging = (dir: string) =>
    existsSync(join(dir, 'staging')) ? readdirSync(join(dir, 'staging')) : [];

  it('stores an ACI under images/<sha512 id> (manifest + rootfs, modes and symlinks kept), cached the second time', async () => {
    const repo = fresh('repo');
    const file = buildAci(repo, 'example.com/hello');
    const { store: s, dir } = store(repo);
    const img = await s.get({ name: 'example.com/hello', labels: labels('1.0') });
    assert.equal(img.id, sha512Id(file));
    assert.equal(img.dir, join(dir, 'images', img.id));
    assert.equal(readFileSync(join(img.rootfs, 'etc', 'marker'), 'utf8'), 'appc\n');
    assert.equal(lstatSync(join(img.rootfs, 'etc', 'marker')).mode & 0o777, 0o640);
    assert.equal(lstatSync(join(img.rootfs, 'bin', 'hello')).mode & 0o777, 0o755);
    assert.ok(lstatSync(join(img.rootfs, 'bin', 'hi')).isSymbolicLink());
    assert.equal(readlinkSync(join(img.rootfs, 'bin', 'hi')), 'hello');
    assert.ok(existsSync(join(img.dir, 'manifest')));
    assert.deepEqual(img.config.entrypoint, ['/bin/hello', '--loud']);
    assert.deepEqual(staging(dir), []);

    // The source changes: the store still answers from its cache (nothing fetched again) ...
    buildAci(repo, 'example.com/hello', { content: 'changed\n' });
    const again = await s.get({ name: 'example.com/hello', labels: labels('1.0') });
    assert.equal(again.id, img.id);
    // ... also a new store on the same directory (the index survives) ...
    const reopened = new AppcStore({ storeDir: dir, uriPrefix: `${repo}/` });
    assert.equal((await reopened.get({ name: 'example.com/hello', labels: labels('1.0') })).id, img.id);
    // ... until cached=false fetches again.
    const refetched = await s.get({ name: 'example.com/hello', labels: labels('1.0') }, { cached: false });
    assert.notEqual(refetched.id, img.id);
    assert.equal(readFileSync(join(refetched.rootfs, 'etc', 'marker'), 'utf8'), 'changed\n');
    assert.deepEqual(images(dir).sort(), [img.id, refetched.id].sort());
  });

  it('a requested id that matches is used; one that does not is refused and nothing is kept', async () => {
    const repo = fresh('repo');
    const file = buildAci(repo, 'example.com/idcheck');
    const { store: s, dir } = store(repo);
    const wrong = `sha512-${'0'.repeat(128)}`;
    await assert.rejects(
      s.get({ name: 'example.com/idcheck', id: wrong, labels: labels('1.0') }),
      (e: Error) =>
        /appc image id/.test(e.message) &&
        e.message.includes(wrong) &&
        /example\.com\/idcheck/.test(e.message),
    );
    assert.deepEqual(images(dir), []);
    assert.deepEqual(staging(dir), []);
    await assert.rejects(s.get({ name: 'example.com/idcheck', id: 'sha512-xyz' }), /sha512-<128 hex digits>/);
    const ok = await s.get({ name: 'example.com/idcheck', id: sha512Id(file), labels: labels('1.0') });
    assert.equal(ok.id, sha512Id(file));
  });

  it('accepts a gzip-compressed ACI (the id is of the uncompressed tar)', async () => {
    const repo = fresh('repo');
    const file = buildAci(repo, 'gz', { gzip: true, manifest: manifestOf('gz') });
    assert.equal(readFileSync(file)[0], 0x1f);
    const { store: s } = store(repo);
    const img = await s.get({ name: 'gz', labels: labels('1.0') });
    assert.equal(img.id, sha512Id(file));
    assert.equal(readFileSync(join(img.rootfs, 'etc', 'marker'), 'utf8'), 'appc\n');
  });

  it('refuses an entry that escapes, with nothing kept', async () => {
    const repo = fresh('repo');
    const src = join(fresh('evil'), 'aci');
    mkdirSync(join(src, 'rootfs'), { recursive: true });
    writeFileSync(join(src, 'manifest'), JSON.stringify(manifestOf('evil')));
    writeFileSync(join(src, '..', 'outside'), 'x');
    const file = join(repo, 'evil-1.0-linux-amd64.aci');
    // -P keeps the '..' in the member name.
    const r = spawnSync('tar', ['-P', '-cf', file, 'manifest', 'rootfs', 'rootfs/../../outside'], {
      cwd: src,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const { store: s, dir } = store(repo);
    await assert.rejects(s.get({ name: 'evil', labels: labels('1.0') }), /unsafe.*'\.\.' component/);
    assert.deepEqual(images(dir), []);
    assert.deepEqual(staging(dir), []);
    assert.ok(!existsSync(join(dir, 'outside')));
  });

  it('refuses a file that is no tar archive, and replaces a broken stored image', async () => {
    const repo = fresh('repo');
    writeFileSync(join(repo, 'junk-1.0-linux-amd64.aci'), 'this is not a tar archive at all'.repeat(40));
    const file = buildAci(repo, 'fine');
    const { store: s, dir } = store(repo);
    await assert.rejects(s.get({ name: 'junk', labels: labels('1.0') }), /'junk' is corrupt/);
    assert.deepEqual(images(dir), []);
    const img = await s.get({ name: 'fine', labels: labels('1.0') });
    rmSync(join(img.dir, 'manifest'));
    const again = await s.get({ name: 'fine', labels: labels('1.0') });
    assert.equal(again.id, sha512Id(file));
    assert.ok(existsSync(join(again.dir, 'manifest')));
    assert.deepEqual(staging(dir), []);
  });

  it('refuses dependencies, a tar without manifest, a manifest of another kind, a missing file', async () => {
    const repo = fresh('repo');
    buildAci(repo, 'dep', { manifest: manifestOf('dep', { dependencies: [{ imageName: 'base' }] }) });
    buildAci(repo, 'nomanifest', { manifest: null });
    buildAci(repo, 'pod', { manifest: { acKind: 'PodManifest', name: 'pod' } });
    buildAci(repo, 'other', { manifest: manifestOf('someone-else') });
    const { store: s, dir } = store(repo);
    await assert.rejects(
      s.get({ name: 'dep', labels: labels('1.0') }),
      /'dep'.*appc image dependencies are not supported/,
    );
    await assert.rejects(
      s.get({ name: 'nomanifest', labels: labels('1.0') }),
      /'nomanifest'.*not an ACI: it has no manifest/,
    );
    await assert.rejects(s.get({ name: 'pod', labels: labels('1.0') }), /'pod'.*acKind 'PodManifest'/);
    await assert.rejects(s.get({ name: 'other', labels: labels('1.0') }), /names the image 'someone-else'/);
    await assert.rejects(
      s.get({ name: 'example.com/missing', labels: labels('2.0') }),
      /image 'example.com\/missing' not found: no ACI at .*example\.com\/missing-2\.0-linux-amd64\.aci/,
    );
    assert.deepEqual(images(dir), []);
    assert.deepEqual(staging(dir), []);
  });
});

describe('appc store (http prefix, loopback server)', () => {
  it('fetches {prefix}{name}-...aci over http; a 404 is image not found', async () => {
    const repo = fresh('repo');
    const file = buildAci(repo, 'example.com/web', { gzip: true, manifest: manifestOf('example.com/web') });
    const requested: string[] = [];
    const server = createServer((req, res) => {
      requested.push(req.url ?? '');
      const path = join(repo, decodeURIComponent(req.url ?? '/'));
      if (!path.startsWith(`${repo}/`) || !existsSync(path)) {
        res.writeHead(404).end('no');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(path));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const dir = fresh('store');
      const s = new AppcStore({ storeDir: dir, uriPrefix: `http://127.0.0.1:${port}/` });
      const img = await s.get({ name: 'example.com/web', labels: labels('1.0') });
      assert.equal(img.id, sha512Id(file));
      assert.deepEqual(requested, ['/example.com/web-1.0-linux-amd64.aci']);
      assert.equal(readFileSync(join(img.rootfs, 'etc', 'marker'), 'utf8'), 'appc\n');
      await assert.rejects(
        s.get({ name: 'example.com/gone', labels: labels('1.0') }),
        /image 'example.com\/gone' not found: .*answered 404/,
      );
      assert.deepEqual(readdirSync(join(dir, 'staging')), []);
    } finally {
      server.close();
    }
  });
});

describe('provisioner with appc images (copy backend)', () => {
  it('refuses a prefix that is neither a directory nor a URL at start', async () => {
    await assert.rejects(
      Provisioner.create({
        workDir: fresh('work'),
        dockerStoreDir: fresh('docker-store'),
        appcStoreDir: fresh('appc-store'),
        appcSimpleDiscoveryUriPrefix: 'relative/dir',
        providers: ['appc'],
        backend: 'copy',
      }),
      /appc_simple_discovery_uri_prefix/,
    );
  });

  it('provisions the image rootfs, maps the manifest to the config, destroy releases it', async () => {
    const repo = fresh('repo');
    buildAci(repo, 'example.com/prov');
    const workDir = fresh('work');
    const p = await Provisioner.create({
      workDir,
      dockerStoreDir: fresh('docker-store'),
      appcStoreDir: fresh('appc-store'),
      appcSimpleDiscoveryUriPrefix: `file://${repo}`,
      providers: ['appc'],
      backend: 'copy',
    });
    const info = await p.provision('c1', {
      type: 'APPC',
      appc: { name: 'example.com/prov', labels: labels('1.0') },
    });
    assert.equal(readFileSync(join(info.rootfs, 'etc', 'marker'), 'utf8'), 'appc\n');
    assert.equal(readlinkSync(join(info.rootfs, 'bin', 'hi')), 'hello');
    assert.deepEqual(info.config.entrypoint, ['/bin/hello', '--loud']);
    assert.deepEqual(info.config.env, ['GREETING=hi there']);
    assert.equal(info.config.workingDir, '/srv');
    assert.equal(info.image.reference, 'appc:example.com/prov');
    const records = JSON.parse(readFileSync(join(p.containerDir('c1'), 'rootfses.json'), 'utf8')) as {
      id: string;
    }[];
    assert.deepEqual(
      records.map((r) => r.id),
      [info.rootfsId],
    );
    // Numeric type (protobuf Image_Type.APPC = 1) works too; docker is not enabled here.
    const second = await p.provision(['c1', 'child'], {
      type: 1,
      appc: { name: 'example.com/prov', labels: labels('1.0') },
    });
    assert.ok(existsSync(join(second.rootfs, 'bin', 'hello')));
    await assert.rejects(
      p.provision('c2', { type: 'DOCKER', docker: { name: 'busybox' } }),
      /docker images are not enabled/,
    );
    await assert.rejects(
      p.provision('c3', { type: 'APPC', appc: { name: 'example.com/nope' } }),
      /example\.com\/nope/,
    );
    await p.destroy('c1');
    assert.ok(!existsSync(info.rootfs));
    assert.ok(!existsSync(p.containerDir('c1')));
  });
});
