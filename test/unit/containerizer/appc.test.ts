/**
 * The Appc (ACI) store: simple-discovery file names, fetching from a local directory prefix,
 * image ids (sha512 of the uncompressed tar; gzip, bzip2, xz), the cache, dependencies (order,
 * recursion, cycles, depth, missing ones, imageID checks) and the refusals (id mismatch, escaping
 * entries, no manifest) leaving nothing behind. ACIs are built here with tar.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
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
  aciCompression,
  appcImageConfig,
  discoveryFileName,
  discoveryUri,
  MAX_DEPENDENCY_DEPTH,
  parseAppcManifest,
} from '../../../src/containerizer/provisioner/appc.js';
import { overrideBinary } from '../../../src/containerizer/provisioner/helpers.js';
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
  const kind = aciCompression(bytes.subarray(0, 6));
  if (kind === 'bzip2' || kind === 'xz') {
    const r = spawnSync(kind, ['-d', '-c'], { input: bytes, maxBuffer: 1 << 30 });
    assert.equal(r.status, 0, String(r.stderr));
    bytes = r.stdout;
  }
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

  it('refuses non-ImageManifests and non-JSON', () => {
    assert.throws(() => parseAppcManifest('{"acKind":"PodManifest","name":"x"}', 'x'), /not ImageManifest/);
    assert.throws(() => parseAppcManifest('nope', 'x'), /not JSON/);
  });

  it('reads dependencies (imageName, imageID, labels, size) in order; refuses malformed ones', () => {
    const id = `sha512-${'a'.repeat(128)}`;
    const m = parseAppcManifest(
      JSON.stringify(
        manifestOf('x', {
          dependencies: [
            {
              imageName: 'example.com/base',
              imageID: id,
              labels: [{ name: 'version', value: '2' }],
              size: 7,
            },
            { imageName: 'other' },
          ],
          pathWhitelist: ['/bin/hello'],
        }),
      ),
      'x',
    );
    assert.deepEqual(m.dependencies, [
      { imageName: 'example.com/base', imageID: id, labels: { version: '2' }, size: 7 },
      { imageName: 'other', imageID: undefined, labels: {}, size: undefined },
    ]);
    assert.deepEqual(m.pathWhitelist, ['bin/hello']);
    const wl = (list: unknown) =>
      parseAppcManifest(JSON.stringify(manifestOf('x', { pathWhitelist: list })), 'x');
    assert.deepEqual(wl(['/', '/etc/', '//usr/./bin/../lib']).pathWhitelist, ['', 'etc', 'usr/lib']);
    assert.throws(() => wl(['etc/passwd']), /pathWhitelist entry "etc\/passwd" is not an absolute path/);
    assert.throws(() => wl('/etc'), /pathWhitelist of the appc manifest is not a list/);
    assert.deepEqual(parseAppcManifest(JSON.stringify(manifestOf('x')), 'x').dependencies, []);
    const bad = (deps: unknown) => () =>
      parseAppcManifest(JSON.stringify(manifestOf('x', { dependencies: deps })), 'x');
    assert.throws(bad({ imageName: 'y' }), /'x'.*dependencies of the appc manifest is not a list/);
    assert.throws(bad(['y']), /dependency 0 of the appc manifest is not an object/);
    assert.throws(bad([{ imageID: id }]), /dependency 0 .*no imageName that is an AC identifier/);
    assert.throws(bad([{ imageName: '../up' }]), /dependency 0 .*no imageName that is an AC identifier/);
    assert.throws(bad([{ imageName: 'y', imageID: 'sha256-00' }]), /dependency 'y' .*imageID "sha256-00"/);
    assert.throws(
      bad([{ imageName: 'y', labels: { version: '1' } }]),
      /dependency 'y' .*labels that are not a list/,
    );
  });

  it('tells the compression by the first bytes', () => {
    assert.equal(aciCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
    assert.equal(aciCompression(Buffer.from('BZh91AY')), 'bzip2');
    assert.equal(aciCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0])), 'xz');
    assert.equal(aciCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a])), 'none');
    assert.equal(aciCompression(Buffer.from('manifest')), 'none');
    assert.equal(aciCompression(Buffer.alloc(0)), 'none');
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

  it('refuses a tar without manifest, a manifest of another kind, a missing file', async () => {
    const repo = fresh('repo');
    buildAci(repo, 'nomanifest', { manifest: null });
    buildAci(repo, 'pod', { manifest: { acKind: 'PodManifest', name: 'pod' } });
    buildAci(repo, 'other', { manifest: manifestOf('someone-else') });
    const { store: s, dir } = store(repo);
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

type Compress = 'none' | 'gzip' | 'bzip2' | 'xz';

/**
 * `<repo>/<name>-1.0-linux-amd64.aci` with exactly `files` (path → content; `->x` makes a symlink
 * to x) below rootfs/, the manifest naming `dependencies`, compressed with `compress`.
 */
function layerAci(
  repo: string,
  name: string,
  opts: {
    files?: Record<string, string>;
    dependencies?: Record<string, unknown>[];
    pathWhitelist?: string[];
    compress?: Compress;
    version?: string;
    /** Directory modes to set (path → mode). */
    modes?: Record<string, number>;
  } = {},
): string {
  const src = fresh('layer');
  mkdirSync(join(src, 'rootfs'), { recursive: true });
  for (const [path, content] of Object.entries(opts.files ?? {})) {
    const target = join(src, 'rootfs', path);
    mkdirSync(dirname(target), { recursive: true });
    if (content.startsWith('->')) symlinkSync(content.slice(2), target);
    else if (path.endsWith('/')) mkdirSync(target, { recursive: true });
    else writeFileSync(target, content, { mode: 0o755 });
  }
  for (const [path, mode] of Object.entries(opts.modes ?? {})) chmodSync(join(src, 'rootfs', path), mode);
  writeFileSync(
    join(src, 'manifest'),
    JSON.stringify(
      manifestOf(name, {
        ...(opts.dependencies ? { dependencies: opts.dependencies } : {}),
        ...(opts.pathWhitelist ? { pathWhitelist: opts.pathWhitelist } : {}),
      }),
    ),
  );
  const file = join(repo, `${name}-${opts.version ?? '1.0'}-linux-amd64.aci`);
  mkdirSync(dirname(file), { recursive: true });
  const tarFile = `${file}.tar`;
  const t = spawnSync('tar', ['--numeric-owner', '-cf', tarFile, '-C', src, 'manifest', 'rootfs'], {
    encoding: 'utf8',
  });
  assert.equal(t.status, 0, t.stderr);
  const compress = opts.compress ?? 'none';
  if (compress === 'none') spawnSync('mv', [tarFile, file]);
  else {
    const z = spawnSync('sh', ['-c', `${compress} -c "$1" > "$2" && rm "$1"`, 'sh', tarFile, file], {
      encoding: 'utf8',
    });
    assert.equal(z.status, 0, z.stderr);
  }
  return file;
}

const dep = (imageName: string, extra: Record<string, unknown> = {}) => ({
  imageName,
  labels: [{ name: 'version', value: '1.0' }],
  ...extra,
});

function appcStore(repo: string): { store: AppcStore; dir: string } {
  const dir = fresh('store');
  return { store: new AppcStore({ storeDir: dir, uriPrefix: `${repo}/` }), dir };
}
const listOf = (dir: string, sub: string) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)) : []);

describe('appc store: bzip2 and xz ACIs', () => {
  for (const kind of ['bzip2', 'xz'] as const)
    it(`accepts a ${kind}-compressed ACI (the id is the sha512 of the uncompressed tar)`, async () => {
      const repo = fresh('repo');
      const file = layerAci(repo, `z-${kind}`, {
        files: { 'etc/marker': `${kind}\n`, 'bin/tool': '#!/bin/sh\n', 'bin/alias': '->tool' },
        compress: kind,
      });
      assert.equal(aciCompression(readFileSync(file).subarray(0, 6)), kind);
      const { store: s, dir } = appcStore(repo);
      const img = await s.get({ name: `z-${kind}`, labels: labels('1.0') });
      assert.equal(img.id, sha512Id(file));
      assert.notEqual(img.id, `sha512-${createHash('sha512').update(readFileSync(file)).digest('hex')}`);
      assert.equal(readFileSync(join(img.rootfs, 'etc', 'marker'), 'utf8'), `${kind}\n`);
      assert.equal(readlinkSync(join(img.rootfs, 'bin', 'alias')), 'tool');
      assert.deepEqual(listOf(dir, 'staging'), []);
      // Asked for by that id, it is found (and a wrong id is refused before anything is kept).
      assert.equal((await s.get({ name: `z-${kind}`, id: img.id, labels: labels('1.0') })).id, img.id);
    });

  it('a missing decompressor binary is an error naming it, with nothing kept', async () => {
    const repo = fresh('repo');
    layerAci(repo, 'nobz', { files: { a: 'a' }, compress: 'bzip2' });
    layerAci(repo, 'noxz', { files: { a: 'a' }, compress: 'xz' });
    const { store: s, dir } = appcStore(repo);
    overrideBinary('bzip2', false);
    overrideBinary('xz', false);
    try {
      await assert.rejects(
        s.get({ name: 'nobz', labels: labels('1.0') }),
        /'nobz'.*bzip2-compressed and the 'bzip2' binary is not installed/,
      );
      await assert.rejects(
        s.get({ name: 'noxz', labels: labels('1.0') }),
        /'noxz'.*xz-compressed and the 'xz' binary is not installed \(Debian package xz-utils\)/,
      );
    } finally {
      overrideBinary('bzip2', undefined);
      overrideBinary('xz', undefined);
    }
    assert.deepEqual(listOf(dir, 'images'), []);
    assert.deepEqual(listOf(dir, 'staging'), []);
  });

  it('a corrupt bzip2 or xz stream is refused as corrupt, with nothing kept', async () => {
    const repo = fresh('repo');
    writeFileSync(
      join(repo, 'badbz-1.0-linux-amd64.aci'),
      Buffer.concat([Buffer.from('BZh9'), Buffer.alloc(600, 7)]),
    );
    writeFileSync(
      join(repo, 'badxz-1.0-linux-amd64.aci'),
      Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(600, 7)]),
    );
    const { store: s, dir } = appcStore(repo);
    await assert.rejects(
      s.get({ name: 'badbz', labels: labels('1.0') }),
      /'badbz' is corrupt: the ACI cannot be decompressed \(bzip2: /,
    );
    await assert.rejects(
      s.get({ name: 'badxz', labels: labels('1.0') }),
      /'badxz' is corrupt: the ACI cannot be decompressed \(xz: /,
    );
    assert.deepEqual(listOf(dir, 'images'), []);
    assert.deepEqual(listOf(dir, 'staging'), []);
  });
});

describe('appc store: dependencies', () => {
  it('resolves dependencies recursively, bottom → top: earlier ones lowest, the image on top', async () => {
    const repo = fresh('repo');
    const base = layerAci(repo, 'example.com/base', {
      files: { 'bin/tool': 'base tool', 'etc/which': 'base', 'etc/base-only': 'b' },
      compress: 'xz',
    });
    layerAci(repo, 'example.com/mid', {
      files: { 'etc/which': 'mid', 'etc/mid-only': 'm' },
      dependencies: [dep('example.com/base', { imageID: sha512Id(base) })],
      compress: 'bzip2',
    });
    layerAci(repo, 'example.com/extra', { files: { 'etc/which': 'extra' }, compress: 'gzip' });
    layerAci(repo, 'example.com/app', {
      files: { 'etc/app-only': 'a' },
      dependencies: [dep('example.com/mid'), dep('example.com/extra')],
    });
    const { store: s, dir } = appcStore(repo);
    const { image, layers } = await s.resolve({ name: 'example.com/app', labels: labels('1.0') });
    assert.equal(image.name, 'example.com/app');
    assert.deepEqual(
      layers.map((l) => l.name),
      ['example.com/base', 'example.com/mid', 'example.com/extra', 'example.com/app'],
    );
    assert.equal(layers[0]?.id, sha512Id(base));
    assert.equal(listOf(dir, 'images').length, 4);
    assert.deepEqual(listOf(dir, 'staging'), []);
    // A second resolve answers from the store (the sources may go).
    rmSync(repo, { recursive: true, force: true });
    const again = await s.resolve({ name: 'example.com/app', labels: labels('1.0') });
    assert.deepEqual(
      again.layers.map((l) => l.id),
      layers.map((l) => l.id),
    );
  });

  it('cached=false fetches the dependencies again too; cached ones come from the store', async () => {
    const repo = fresh('repo');
    layerAci(repo, 'cbase', { files: { v: 'one' } });
    layerAci(repo, 'capp', { files: { a: 'a' }, dependencies: [dep('cbase')] });
    const { store: s } = appcStore(repo);
    const first = await s.resolve({ name: 'capp', labels: labels('1.0') });
    layerAci(repo, 'cbase', { files: { v: 'two' } });
    const cachedAgain = await s.resolve({ name: 'capp', labels: labels('1.0') });
    assert.equal(cachedAgain.layers[0]?.id, first.layers[0]?.id);
    const fetched = await s.resolve({ name: 'capp', labels: labels('1.0') }, { cached: false });
    assert.notEqual(fetched.layers[0]?.id, first.layers[0]?.id);
    assert.equal(fetched.layers[1]?.id, first.layers[1]?.id);
    assert.equal(readFileSync(join(fetched.layers[0]?.rootfs as string, 'v'), 'utf8'), 'two');
  });

  it('an image that comes twice (a diamond) is one layer, at its highest place', async () => {
    const repo = fresh('repo');
    layerAci(repo, 'base', { files: { b: 'b' } });
    layerAci(repo, 'left', { files: { l: 'l' }, dependencies: [dep('base')] });
    layerAci(repo, 'right', { files: { r: 'r' }, dependencies: [dep('base')] });
    layerAci(repo, 'top', { files: { t: 't' }, dependencies: [dep('left'), dep('right')] });
    const { store: s } = appcStore(repo);
    const { layers } = await s.resolve({ name: 'top', labels: labels('1.0') });
    // The full stack is base, left, base, right, top: the upper base decides what the lower hid.
    assert.deepEqual(
      layers.map((l) => l.name),
      ['left', 'base', 'right', 'top'],
    );
  });

  it('refuses a cycle (and an image depending on itself), naming the chain', async () => {
    const repo = fresh('repo');
    layerAci(repo, 'cyc-a', { files: { a: 'a' }, dependencies: [dep('cyc-b')] });
    layerAci(repo, 'cyc-b', { files: { b: 'b' }, dependencies: [dep('cyc-c')] });
    layerAci(repo, 'cyc-c', { files: { c: 'c' }, dependencies: [dep('cyc-a')] });
    layerAci(repo, 'self', { files: { s: 's' }, dependencies: [dep('self')] });
    const { store: s, dir } = appcStore(repo);
    await assert.rejects(
      s.resolve({ name: 'cyc-a', labels: labels('1.0') }),
      /image 'cyc-a': unsupported manifest: appc dependency cycle: cyc-a → cyc-b → cyc-c → cyc-a/,
    );
    await assert.rejects(
      s.resolve({ name: 'self', labels: labels('1.0') }),
      /appc dependency cycle: self → self/,
    );
    assert.deepEqual(listOf(dir, 'staging'), []);
  });

  it(`refuses a chain deeper than ${MAX_DEPENDENCY_DEPTH} images, naming it`, async () => {
    const repo = fresh('repo');
    for (let i = 0; i <= MAX_DEPENDENCY_DEPTH; i++)
      layerAci(repo, `deep${i}`, {
        files: { [`f${i}`]: String(i) },
        ...(i < MAX_DEPENDENCY_DEPTH ? { dependencies: [dep(`deep${i + 1}`)] } : {}),
      });
    const { store: s } = appcStore(repo);
    await assert.rejects(
      s.resolve({ name: 'deep0', labels: labels('1.0') }),
      new RegExp(
        `'deep0'.*nest deeper than ${MAX_DEPENDENCY_DEPTH} images: deep0 → deep1 → .* → deep${MAX_DEPENDENCY_DEPTH}$`,
      ),
    );
    // One less is fine.
    const ok = await s.resolve({ name: 'deep1', labels: labels('1.0') });
    assert.equal(ok.layers.length, MAX_DEPENDENCY_DEPTH);
    assert.equal(ok.layers[0]?.name, `deep${MAX_DEPENDENCY_DEPTH}`);
  });

  it('a missing dependency (also deeper down) names the image that needs it and the chain', async () => {
    const repo = fresh('repo');
    layerAci(repo, 'needy', { files: { n: 'n' }, dependencies: [dep('gone')] });
    layerAci(repo, 'upper', { files: { u: 'u' }, dependencies: [dep('needy')] });
    const { store: s, dir } = appcStore(repo);
    await assert.rejects(
      s.resolve({ name: 'needy', labels: labels('1.0') }),
      /image 'gone' not found: needed by 'needy' as a dependency \(needy → gone\): no ACI at .*gone-1\.0-linux-amd64\.aci/,
    );
    await assert.rejects(
      s.resolve({ name: 'upper', labels: labels('1.0') }),
      /image 'gone' not found: needed by 'needy' as a dependency \(upper → needy → gone\)/,
    );
    assert.deepEqual(listOf(dir, 'staging'), []);
  });

  it('a dependency whose imageID does not match is refused and not kept', async () => {
    const repo = fresh('repo');
    const base = layerAci(repo, 'idbase', { files: { b: 'b' }, compress: 'bzip2' });
    const wrong = `sha512-${'1'.repeat(128)}`;
    layerAci(repo, 'idapp', { files: { a: 'a' }, dependencies: [dep('idbase', { imageID: wrong })] });
    const { store: s, dir } = appcStore(repo);
    await assert.rejects(s.resolve({ name: 'idapp', labels: labels('1.0') }), (e: Error) => {
      assert.match(
        e.message,
        /the appc image id \(.*idbase-1\.0-linux-amd64\.aci\), needed by 'idapp' as a dependency \(idapp → idbase\), of 'idbase' failed verification/,
      );
      assert.ok(e.message.includes(wrong) && e.message.includes(sha512Id(base)), e.message);
      return true;
    });
    // Only the image itself was stored; the dependency was not.
    assert.equal(listOf(dir, 'images').length, 1);
    assert.deepEqual(listOf(dir, 'staging'), []);
  });
});

const root = process.getuid?.() === 0;
describe('provisioner with appc dependencies', { skip: root ? false : 'needs root (overlay mounts)' }, () => {
  /** base: a tool and files; app: depends on base (and an override), with its own file on top. */
  function repoWithApp(): string {
    const repo = fresh('repo');
    layerAci(repo, 'example.com/base', {
      files: { 'bin/tool': 'base tool', 'bin/link': '->tool', 'etc/which': 'base', 'etc/keep': 'keep' },
      compress: 'xz',
    });
    layerAci(repo, 'example.com/over', {
      files: { 'etc/which': 'over', 'etc/over': 'o' },
      compress: 'bzip2',
    });
    layerAci(repo, 'example.com/app', {
      files: { 'etc/over': 'app', 'srv/app': 'app' },
      dependencies: [dep('example.com/base'), dep('example.com/over')],
      compress: 'gzip',
    });
    return repo;
  }

  for (const backend of ['copy', 'overlay'] as const)
    it(`${backend}: the rootfs is the dependencies below the image; destroy releases it`, async () => {
      const repo = repoWithApp();
      const appcStoreDir = fresh('appc-store');
      const p = await Provisioner.create({
        workDir: fresh('work'),
        dockerStoreDir: fresh('docker-store'),
        appcStoreDir,
        appcSimpleDiscoveryUriPrefix: `file://${repo}`,
        providers: ['appc'],
        backend,
      });
      try {
        const info = await p.provision('c1', {
          type: 'APPC',
          appc: { name: 'example.com/app', labels: labels('1.0') },
        });
        const read = (path: string) => readFileSync(join(info.rootfs, path), 'utf8');
        assert.equal(read('bin/tool'), 'base tool');
        assert.equal(readlinkSync(join(info.rootfs, 'bin', 'link')), 'tool');
        assert.equal(read('etc/keep'), 'keep');
        assert.equal(read('etc/which'), 'over', 'a later dependency overrides an earlier one');
        assert.equal(read('etc/over'), 'app', 'the image overrides its dependencies');
        assert.equal(read('srv/app'), 'app');
        assert.equal(info.layers.length, 3);
        assert.ok(info.layers.every((l) => l.startsWith(join(appcStoreDir, 'images'))));
        assert.equal(info.config.diffIds.length, 3);
        assert.equal(info.config.diffIds[2], info.image.configDigest);
        assert.deepEqual(info.config.entrypoint, ['/bin/hello', '--loud']);
        // The rootfs is writable and writes stay out of the store.
        writeFileSync(join(info.rootfs, 'etc', 'which'), 'written');
        assert.equal(readFileSync(join(info.layers[1] as string, 'etc', 'which'), 'utf8'), 'over');
        await p.destroy('c1');
        assert.ok(!existsSync(info.rootfs));
        assert.ok(!existsSync(p.containerDir('c1')));
      } finally {
        await p.destroy('c1'); // no mount left behind when an assertion failed
        await p.close();
      }
    });

  for (const backend of ['copy', 'overlay'] as const)
    it(`${backend}: the pathWhitelist leaves only its paths (and the directories above them)`, async () => {
      const repo = fresh('repo');
      layerAci(repo, 'wl/base', {
        files: {
          'bin/tool': 'tool',
          'bin/other': 'other',
          'lib/': '',
          'lib/libc.so': 'libc',
          'tmp/': '',
          'tmp/junk': 'junk',
          'usr/share/doc/readme': 'doc',
          'etc/keep': 'keep',
          'etc/drop': 'drop',
          sbin: '->bin',
          'opt/a': 'a',
          'opt/b': 'b',
        },
        modes: { tmp: 0o1777, lib: 0o750 },
      });
      layerAci(repo, 'wl/app', {
        // The image's /opt is a symlink over the dependency's directory: it stays one.
        files: { 'etc/app': 'app', 'etc/drop-too': 'x', 'srv/data/file': 'data', opt: '->srv' },
        dependencies: [dep('wl/base')],
        pathWhitelist: [
          '/bin/tool',
          '/lib',
          '/tmp',
          '/etc/keep',
          '/etc/app',
          '/srv/data',
          '/srv/data/file',
          '/sbin',
          '/opt',
          '/opt/a',
        ],
      });
      const appcStoreDir = fresh('appc-store');
      const p = await Provisioner.create({
        workDir: fresh('work'),
        dockerStoreDir: fresh('docker-store'),
        appcStoreDir,
        appcSimpleDiscoveryUriPrefix: `${repo}/`,
        providers: ['appc'],
        backend,
      });
      try {
        const image = { type: 'APPC', appc: { name: 'wl/app', labels: labels('1.0') } };
        const info = await p.provision('w1', image);
        const at = (path: string) => join(info.rootfs, path);
        const tree = (dir: string): string[] =>
          readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory()
              ? [`${e.name}/`, ...tree(join(dir, e.name)).map((c) => `${e.name}/${c}`)]
              : [e.name],
          );
        assert.deepEqual(tree(info.rootfs).sort(), [
          'bin/',
          'bin/tool',
          'etc/',
          'etc/app',
          'etc/keep',
          'lib/',
          'opt',
          'sbin',
          'srv/',
          'srv/data/',
          'srv/data/file',
          'tmp/',
        ]);
        assert.equal(readFileSync(at('bin/tool'), 'utf8'), 'tool');
        assert.equal(readlinkSync(at('sbin')), 'bin', 'a listed symlink stays a symlink');
        assert.equal(readlinkSync(at('opt')), 'srv', 'a symlink over a lower directory stays a symlink');
        assert.equal(lstatSync(at('tmp')).mode & 0o7777, 0o1777, 'a directory keeps its mode');
        assert.equal(lstatSync(at('lib')).mode & 0o7777, 0o750);
        // The whiteouts are a layer of their own on top, kept in the store; the images are intact.
        assert.equal(info.layers.length, 3);
        assert.ok((info.layers[2] as string).startsWith(join(appcStoreDir, 'whitelists')));
        assert.equal(readFileSync(join(info.layers[0] as string, 'etc', 'drop'), 'utf8'), 'drop');
        // A second container uses the same whitelist layer.
        const again = await p.provision('w2', image);
        assert.deepEqual(again.layers, info.layers);
        assert.equal(listOf(appcStoreDir, 'whitelists').length, 1);
        assert.deepEqual(listOf(appcStoreDir, 'staging'), []);
      } finally {
        await p.destroy('w1');
        await p.destroy('w2');
        await p.close();
      }
    });

  it('a missing dependency, a wrong imageID or a cycle fails the provision with nothing left', async () => {
    const repo = fresh('repo');
    const base = layerAci(repo, 'base', { files: { b: 'b' } });
    layerAci(repo, 'missing-dep', { files: { a: 'a' }, dependencies: [dep('nowhere')] });
    layerAci(repo, 'wrong-id', {
      files: { a: 'a' },
      dependencies: [dep('base', { imageID: `sha512-${'2'.repeat(128)}` })],
    });
    layerAci(repo, 'loop', { files: { a: 'a' }, dependencies: [dep('loop')] });
    layerAci(repo, 'fine', { files: { a: 'a' }, dependencies: [dep('base', { imageID: sha512Id(base) })] });
    const appcStoreDir = fresh('appc-store');
    const p = await Provisioner.create({
      workDir: fresh('work'),
      dockerStoreDir: fresh('docker-store'),
      appcStoreDir,
      appcSimpleDiscoveryUriPrefix: `${repo}/`,
      providers: ['appc'],
      backend: 'overlay',
    });
    try {
      const provision = (id: string, name: string) =>
        p.provision(id, { type: 'APPC', appc: { name, labels: labels('1.0') } });
      await assert.rejects(
        provision('m', 'missing-dep'),
        /image 'nowhere' not found: needed by 'missing-dep'/,
      );
      await assert.rejects(
        provision('w', 'wrong-id'),
        /needed by 'wrong-id' as a dependency \(wrong-id → base\), of 'base' failed verification/,
      );
      await assert.rejects(provision('l', 'loop'), /appc dependency cycle: loop → loop/);
      for (const c of ['m', 'w', 'l']) assert.ok(!existsSync(p.containerDir(c)), c);
      assert.deepEqual(listOf(appcStoreDir, 'staging'), []);
      const ok = await provision('f', 'fine');
      assert.equal(readFileSync(join(ok.rootfs, 'b'), 'utf8'), 'b');
    } finally {
      await p.destroy('f');
      await p.close();
    }
  });
});
