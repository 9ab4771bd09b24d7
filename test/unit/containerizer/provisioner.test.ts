/** Pure parts of the provisioner: references, manifests and platforms, auth, tar safety, whiteouts, config mapping, GC policy. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StrataError } from '../../../src/common/errors.js';
import {
  normalizeRegistryKey,
  parseChallenges,
  parseDockerConfig,
} from '../../../src/containerizer/provisioner/auth.js';
import { gcDue, parseImageGcConfig } from '../../../src/containerizer/provisioner/gc.js';
import { launchFromImage, mergeEnvironment } from '../../../src/containerizer/provisioner/launch.js';
import {
  hostPlatform,
  layerCompression,
  MANIFEST_ACCEPT,
  parseImageConfig,
  parseManifest,
  selectPlatform,
} from '../../../src/containerizer/provisioner/manifest.js';
import { parseReference, withRegistry } from '../../../src/containerizer/provisioner/reference.js';
import {
  classifyWhiteout,
  normalizeEntryPath,
  TarWalker,
  UnsafeEntryError,
} from '../../../src/containerizer/provisioner/tar.js';
import { type FixtureEntry, makeTar } from './provisioner-fixtures.js';

const code = (c: string) => (e: unknown) => (e as StrataError).code === c;
const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('image references', () => {
  it('parses host, repository, tag and digest like docker', () => {
    assert.deepEqual(parseReference('busybox'), {
      registry: undefined,
      repository: 'busybox',
      tag: 'latest',
      digest: undefined,
    });
    assert.deepEqual(parseReference('127.0.0.1:5000/a/b:v1'), {
      registry: '127.0.0.1:5000',
      repository: 'a/b',
      tag: 'v1',
      digest: undefined,
    });
    assert.equal(parseReference(`localhost/x@${D(1)}`).tag, undefined);
    assert.equal(parseReference('docker.io/busybox').registry, 'registry-1.docker.io');
    assert.equal(
      withRegistry(parseReference('busybox'), 'registry-1.docker.io').repository,
      'library/busybox',
    );
    assert.equal(withRegistry(parseReference('a/b'), '127.0.0.1:5000').repository, 'a/b');
    for (const bad of ['', 'UPPER', 'a b', 'x@sha256:12', 'x:tag with space', '/x'])
      assert.throws(() => parseReference(bad), code('IMAGE_REFERENCE_INVALID'), bad);
  });
});

describe('manifests and platforms', () => {
  it('always asks for all four manifest types', () => {
    for (const t of ['oci.image.index', 'manifest.list.v2', 'oci.image.manifest', 'distribution.manifest.v2'])
      assert.ok(MANIFEST_ACCEPT.includes(t), t);
  });

  it('maps process.arch to OCI platforms', () => {
    assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
    assert.equal(hostPlatform('arm64').architecture, 'arm64');
  });

  it('selects by os/architecture/variant; arm64 without variant is v8; attestations never match', () => {
    const m = (architecture: string, variant?: string, os = 'linux') => ({
      mediaType: '',
      digest: D(architecture.length + (variant?.length ?? 0)),
      size: 1,
      platform: { os, architecture, variant },
    });
    const list = [m('unknown', undefined, 'unknown'), m('arm', 'v6'), m('arm', 'v7'), m('arm64'), m('amd64')];
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'amd64' }), list[4]);
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' }), list[2]);
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'arm64', variant: 'v8' }), list[3]);
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(selectPlatform(list, { os: 'windows', architecture: 'amd64' }), undefined);
  });

  it('parses OCI/docker manifests and indexes, refuses schema1 and unknown layer types', () => {
    const image = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D(1), size: 10 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D(2), size: 20 }],
    });
    const parsed = parseManifest(Buffer.from(image), undefined, 'x');
    assert.equal(parsed.kind, 'image');
    const index = JSON.stringify({
      schemaVersion: 2,
      manifests: [{ digest: D(3), size: 3, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    assert.equal(
      parseManifest(Buffer.from(index), 'application/vnd.oci.image.index.v1+json', 'x').kind,
      'index',
    );
    assert.throws(
      () => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, 'x'),
      code('IMAGE_MANIFEST_UNSUPPORTED'),
    );
    assert.throws(
      () => parseManifest(Buffer.from('nope'), undefined, 'x'),
      code('IMAGE_MANIFEST_UNSUPPORTED'),
    );
    const helm = image.replace(
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    );
    assert.throws(() => parseManifest(Buffer.from(helm), undefined, 'x'), code('IMAGE_MANIFEST_UNSUPPORTED'));
    const badDigest = image.replace(D(2), 'sha256:xyz');
    assert.throws(
      () => parseManifest(Buffer.from(badDigest), undefined, 'x'),
      code('IMAGE_MANIFEST_UNSUPPORTED'),
    );
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd', 'x'), 'zstd');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar', 'x'), 'none');
  });

  it('reads the image config fields the launch uses', () => {
    const c = parseImageConfig(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          config: {
            Entrypoint: ['/e'],
            Cmd: ['c'],
            Env: ['A=1'],
            WorkingDir: '/w',
            User: 'u',
            ExposedPorts: { '80/tcp': {} },
          },
          rootfs: { type: 'layers', diff_ids: [D(4)] },
        }),
      ),
      'x',
    );
    assert.deepEqual(
      [c.entrypoint, c.cmd, c.env, c.workingDir, c.user, c.exposedPorts, c.diffIds],
      [['/e'], ['c'], ['A=1'], '/w', 'u', ['80/tcp'], [D(4)]],
    );
  });
});

describe('registry auth', () => {
  it('parses Bearer and Basic challenges, quoted values with commas and escapes', () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"',
    );
    assert.equal(c?.scheme, 'bearer');
    assert.deepEqual(c?.params, {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:a/b:pull,push',
    });
    const two = parseChallenges('Basic realm="Registry Realm", Bearer realm="h",service=s');
    assert.deepEqual(
      two.map((x) => x.scheme),
      ['basic', 'bearer'],
    );
    assert.equal(two[1]?.params.service, 's');
    assert.equal(parseChallenges('Bearer realm="a\\"b"')[0]?.params.realm, 'a"b');
  });

  it('reads docker config.json auths and the old .dockercfg, keyed by host', () => {
    const auth = Buffer.from('u:p:w').toString('base64');
    const creds = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth },
          'r.example:5000': { username: 'a', password: 'b' },
        },
      }),
    );
    assert.deepEqual(creds.get('registry-1.docker.io'), { username: 'u', password: 'p:w' });
    assert.deepEqual(creds.get('r.example:5000'), { username: 'a', password: 'b' });
    assert.deepEqual(parseDockerConfig(JSON.stringify({ 'h:1': { auth } })).get('h:1'), {
      username: 'u',
      password: 'p:w',
    });
    assert.throws(() => parseDockerConfig('{'), code('PROVISIONER_CONFIG_INVALID'));
    assert.equal(normalizeRegistryKey('http://Host:5000/v2/'), 'host:5000');
  });
});

describe('layer entries: safety and whiteouts', () => {
  it('classifies whiteout markers', () => {
    assert.deepEqual(classifyWhiteout('etc/.wh.passwd'), { kind: 'whiteout', target: 'etc/passwd' });
    assert.deepEqual(classifyWhiteout('.wh.top'), { kind: 'whiteout', target: 'top' });
    assert.deepEqual(classifyWhiteout('etc/.wh..wh..opq'), { kind: 'opaque', target: 'etc' });
    assert.deepEqual(classifyWhiteout('.wh..wh..opq'), { kind: 'opaque', target: '' });
    assert.equal(classifyWhiteout('a/.wh..wh.plnk').kind, 'meta');
    assert.equal(classifyWhiteout('a/not.wh.x').kind, 'none');
  });

  it('normalises names and refuses escapes', () => {
    assert.equal(normalizeEntryPath('./a//b/./c/'), 'a/b/c');
    assert.equal(normalizeEntryPath('/'), '');
    assert.throws(() => normalizeEntryPath('a/../../b'), UnsafeEntryError);
    assert.throws(() => normalizeEntryPath('/etc/passwd'), UnsafeEntryError);
  });

  const walk = (entries: FixtureEntry[]) => {
    const w = new TarWalker();
    const tar = makeTar(entries);
    // Feed in odd-sized chunks to exercise header reassembly.
    for (let i = 0; i < tar.length; i += 333) w.write(tar.subarray(i, i + 333));
    w.end();
    return w;
  };

  it('walks pax long names and collects whiteouts and opaque dirs', () => {
    const long = `${'d'.repeat(120)}/.wh.${'f'.repeat(90)}`;
    const w = walk([
      { name: 'etc', type: '5' },
      { name: 'etc/.wh..wh..opq' },
      { name: 'etc/.wh.x' },
      { name: long },
      { name: 'f', data: 'x'.repeat(1000) },
    ]);
    assert.equal(w.entries, 5);
    assert.deepEqual(w.opaques, ['etc']);
    assert.deepEqual(w.whiteouts, ['etc/x', `${'d'.repeat(120)}/${'f'.repeat(90)}`]);
    assert.ok(w.finished);
  });

  it('refuses writing through a symlink planted earlier, hardlinks out, and non-names', () => {
    assert.throws(
      () => walk([{ name: 'l', type: '2', linkname: '/etc' }, { name: 'l/passwd' }]),
      /planted by an earlier entry/,
    );
    assert.throws(
      () =>
        walk([
          { name: 'l', type: '2', linkname: 'a' },
          { name: 'h', type: '1', linkname: 'l' },
          { name: 'h/x' },
        ]),
      /planted/,
    );
    assert.throws(() => walk([{ name: 'h', type: '1', linkname: '../x' }]), UnsafeEntryError);
    assert.throws(() => walk([{ name: 'd/.wh...' }]), /no real name/);
    // A symlink replaced by a directory is fine again; absolute symlink targets themselves are fine.
    walk([{ name: 'l', type: '2', linkname: '/x' }, { name: 'l', type: '5' }, { name: 'l/ok' }]);
  });

  it('stops forwarding at the end-of-archive marker and detects truncation and bad checksums', () => {
    const tar = Buffer.concat([makeTar([{ name: 'a', data: 'x' }]), Buffer.alloc(4096)]);
    const w = new TarWalker();
    assert.equal(w.write(tar), 512 * 4);
    const cut = new TarWalker();
    cut.write(makeTar([{ name: 'a', data: 'x'.repeat(2000) }]).subarray(0, 1024));
    assert.throws(() => cut.end(), /truncated/);
    const bad = makeTar([{ name: 'a' }]);
    bad[0] = 0x41;
    assert.throws(() => new TarWalker().write(bad), /checksum/);
  });
});

describe('image config → launch (Mesos rules)', () => {
  const cfg = {
    entrypoint: ['/ep', '-x'],
    cmd: ['c1', 'c2'],
    env: ['A=1', 'B=2', 'A=3', 'junk'],
    workingDir: undefined,
    user: 'nobody',
  };
  it('follows the entrypoint/cmd table', () => {
    assert.deepEqual(launchFromImage(cfg, { shell: false }).argv, ['/ep', '-x', 'c1', 'c2']);
    assert.deepEqual(launchFromImage(cfg, { shell: false, arguments: ['u'] }).argv, ['/ep', '-x', 'u']);
    assert.deepEqual(launchFromImage({ ...cfg, entrypoint: undefined }, { shell: false }).argv, ['c1', 'c2']);
    assert.deepEqual(
      launchFromImage({ ...cfg, entrypoint: undefined }, { shell: false, arguments: ['u'] }).argv,
      ['c1', 'u'],
    );
    assert.deepEqual(launchFromImage(cfg, { shell: false, value: '/v' }).argv, ['/v']);
    assert.deepEqual(launchFromImage(cfg, { shell: false, value: '/v', arguments: ['v', 'a'] }).argv, [
      'v',
      'a',
    ]);
    assert.deepEqual(launchFromImage(cfg, { value: 'echo hi' }).argv, ['/bin/sh', '-c', 'echo hi']);
    assert.throws(() => launchFromImage(cfg, { shell: true }), code('IMAGE_COMMAND_INVALID'));
    assert.throws(
      () => launchFromImage({ ...cfg, entrypoint: undefined, cmd: undefined }, { shell: false }),
      code('IMAGE_COMMAND_INVALID'),
    );
  });

  it('maps Env (last wins, user wins on merge), WorkingDir (else the sandbox) and reports User unapplied', () => {
    const l = launchFromImage(cfg, { shell: false }, { sandboxDirectory: '/mnt/mesos/sandbox' });
    assert.deepEqual(l.imageEnv, { A: '3', B: '2' });
    assert.equal(l.workingDir, '/mnt/mesos/sandbox');
    assert.equal(launchFromImage({ ...cfg, workingDir: '/w' }).workingDir, '/w');
    assert.equal(l.imageUser, 'nobody');
    assert.equal(l.warnings.length, 2);
    assert.deepEqual(mergeEnvironment({ A: 'agent', P: '1' }, l.imageEnv, { A: 'user' }), {
      A: 'user',
      P: '1',
      B: '2',
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    });
  });
});

describe('--image_gc_config', () => {
  it('parses Mesos ImageGcConfig JSON and decides when a prune is due', () => {
    const c = parseImageGcConfig(
      '{"image_disk_headroom":0.2,"image_disk_watch_interval":{"nanoseconds":60000000000},"excluded_images":[{"type":"DOCKER","docker":{"name":"busybox"}}]}',
    );
    assert.deepEqual(c, { headroom: 0.2, watchIntervalMs: 60_000, excludedImages: ['busybox'] });
    assert.equal(parseImageGcConfig(undefined), undefined);
    assert.throws(() => parseImageGcConfig('{"image_disk_headroom":2}'), code('PROVISIONER_CONFIG_INVALID'));
    assert.equal(gcDue({ blocks: 100, bavail: 5 }, 0.1), true);
    assert.equal(gcDue({ blocks: 100, bavail: 50 }, 0.1), false);
  });
});
