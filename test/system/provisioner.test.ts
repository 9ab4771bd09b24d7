/**
 * The provisioner against real parts: a Debian docker-registry on a loopback port (plus a small
 * token-auth front for it), images built here from busybox-static with umoci and pushed with
 * skopeo, our client pulling them, and the unpacked result compared with `umoci unpack`.
 * Root only (mknod, xattrs, overlay mounts); skipped with a printed reason otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StrataError } from '../../src/common/errors.js';
import { isMountPoint, overrideBinary } from '../../src/containerizer/provisioner/helpers.js';
import { launchFromImage } from '../../src/containerizer/provisioner/launch.js';
import { Provisioner, type ProvisionerOptions } from '../../src/containerizer/provisioner/provisioner.js';
import type { LayerProgress } from '../../src/containerizer/provisioner/store.js';
import { makeTar, writeOciLayout } from '../unit/containerizer/provisioner-fixtures.js';

const isRoot = process.getuid?.() === 0;
const tools = ['docker-registry', 'skopeo', 'umoci', 'setfattr', 'getfattr', 'mknod', 'tar'];
const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const skip = !isRoot
  ? 'needs root (mknod, xattrs, overlay mounts); run as root, as CI does'
  : missing.length > 0
    ? `missing ${missing.join(', ')} (scripts/setup-host.sh installs them)`
    : !busybox
      ? 'busybox-static is not installed'
      : false;
if (skip) console.log(`# skipping provisioner system tests: ${skip}`);

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
}

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

interface Registry {
  readonly host: string;
  readonly data: string;
  readonly proc: ChildProcess;
}

async function startRegistry(dir: string): Promise<Registry> {
  const port = await freePort();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: error}',
      'storage:',
      `  filesystem: {rootdirectory: ${data}}`,
      '  delete: {enabled: true}',
      `http: {addr: "127.0.0.1:${port}"}`,
      '',
    ].join('\n'),
  );
  const log = openSync(join(dir, 'registry.log'), 'w');
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return { host: `127.0.0.1:${port}`, data, proc };
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  proc.kill('SIGKILL');
  throw new Error(`registry did not start: ${readFileSync(join(dir, 'registry.log'), 'utf8')}`);
}

/**
 * A token-auth front for the registry: /v2/* needs `Bearer <token>` (401 with a Bearer challenge
 * otherwise); /token hands out tokens for Basic user:secret. Counts requests.
 */
async function startTokenFront(
  upstream: string,
): Promise<{ host: string; server: Server; tokenRequests: number }> {
  const state = { host: '', server: undefined as unknown as Server, tokenRequests: 0 };
  const tokens = new Set<string>();
  state.server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      state.tokenRequests++;
      const basic = `Basic ${Buffer.from('user:secret').toString('base64')}`;
      if (req.headers.authorization !== basic || url.searchParams.get('service') !== 'strata-test') {
        res.writeHead(401).end();
        return;
      }
      const token = randomBytes(8).toString('hex');
      tokens.add(token);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${state.host}/token",service="strata-test",scope="repository:x:pull"`,
        })
        .end();
      return;
    }
    const headers = { ...req.headers, host: upstream };
    delete headers.authorization;
    const up = httpRequest(
      { host: '127.0.0.1', port: Number(upstream.split(':')[1]), path: req.url, method: req.method, headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.host = `127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

/**
 * A proxy in front of the registry that cuts the first answer for each blob halfway (status and
 * headers sent, then half the body, then the connection closed); later requests, Range ones
 * included, pass through. Records what it cut and the Range headers it saw.
 */
async function startCuttingProxy(
  upstream: string,
): Promise<{ host: string; server: Server; cut: Set<string>; ranges: string[]; partial: number }> {
  const state = {
    host: '',
    server: undefined as unknown as Server,
    cut: new Set<string>(),
    ranges: [] as string[],
    partial: 0,
  };
  state.server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)?.[1];
    if (blob && req.headers.range) state.ranges.push(`${blob} ${req.headers.range}`);
    const cutThis = blob !== undefined && !state.cut.has(blob);
    if (cutThis) state.cut.add(blob);
    const up = httpRequest(
      {
        host: '127.0.0.1',
        port: Number(upstream.split(':')[1]),
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: upstream },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (ur.statusCode === 206) state.partial++;
        const length = Number(ur.headers['content-length']);
        if (!cutThis || ur.statusCode !== 200 || !(length > 1)) return void ur.pipe(res);
        const limit = Math.floor(length / 2);
        let sent = 0;
        ur.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          const part = chunk.subarray(0, limit - sent);
          sent += part.length;
          if (sent < limit) return void res.write(part);
          ur.destroy();
          res.write(part, () => setTimeout(() => res.socket?.destroy(), 10));
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.host = `127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

/** type, mode, owner, size, link target, rdev, xattrs and hardlink groups of every path. */
function treeManifest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<string, string[]>();
  const xattrs = new Map<string, string[]>();
  const dump = spawnSync('getfattr', ['-R', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], {
    encoding: 'utf8',
  }).stdout;
  let current = '';
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice(8).slice(root.length) || '/';
    else if (line.includes('=') && !line.startsWith('trusted.overlay.'))
      xattrs.set(current, [...(xattrs.get(current) ?? []), line]);
  }
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel));
    const kind = st.isDirectory()
      ? 'd'
      : st.isSymbolicLink()
        ? 'l'
        : st.isCharacterDevice()
          ? 'c'
          : st.isBlockDevice()
            ? 'b'
            : st.isFIFO()
              ? 'p'
              : 'f';
    const parts = [kind, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
    if (kind === 'f') parts.push(String(st.size));
    if (kind === 'l') parts.push(readlinkSync(join(root, rel)));
    if (kind === 'c' || kind === 'b') parts.push(String(st.rdev));
    parts.push((xattrs.get(rel || '/') ?? []).sort().join(','));
    out.set(rel || '/', parts.join(' '));
    if (kind === 'f' && st.nlink > 1)
      inodes.set(String(st.ino), [...(inodes.get(String(st.ino)) ?? []), rel]);
    if (kind === 'd') for (const c of readdirSync(join(root, rel)).sort()) walk(`${rel}/${c}`);
  };
  walk('');
  for (const group of inodes.values())
    if (group.length > 1) out.set(`links:${group.sort()[0]}`, group.sort().join(' '));
  return out;
}

function assertSameTree(actual: string, expected: string): void {
  const a = treeManifest(actual);
  const e = treeManifest(expected);
  const diff: string[] = [];
  for (const [k, v] of e)
    if (a.get(k) !== v) diff.push(`${k}: want '${v}', got '${a.get(k) ?? '(missing)'}'`);
  for (const k of a.keys()) if (!e.has(k)) diff.push(`${k}: unexpected '${a.get(k)}'`);
  assert.deepEqual(diff, [], 'rootfs differs from umoci unpack');
}

/** Layer 1: busybox with the special files; layer 2: a whiteout; layer 3: an opaque dir. */
function buildRichImage(dir: string): string {
  const r = join(dir, 'l1');
  for (const d of ['bin', 'etc', 'tmp', 'dev', 'srv/shared', 'data'])
    mkdirSync(join(r, d), { recursive: true });
  copyFileSync(busybox as string, join(r, 'bin/busybox'));
  chmodSync(join(r, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'ls', 'cat', 'echo', 'vi', 'true', 'id', 'pwd', 'env'])
    symlinkSync('/bin/busybox', join(r, 'bin', a));
  symlinkSync('../bin/busybox', join(r, 'bin/relsh'));
  copyFileSync(busybox as string, join(r, 'bin/su-test'));
  chmodSync(join(r, 'bin/su-test'), 0o4755);
  chmodSync(join(r, 'tmp'), 0o1777);
  chmodSync(join(r, 'srv/shared'), 0o2775);
  writeFileSync(join(r, 'etc/hello.txt'), 'hello\n');
  linkSync(join(r, 'etc/hello.txt'), join(r, 'etc/hello-hardlink.txt'));
  linkSync(join(r, 'etc/hello.txt'), join(r, 'data/hello-other-dir'));
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(r, 'etc/owned'), 'secret\n');
  chownSync(join(r, 'etc/owned'), 1234, 5678);
  chmodSync(join(r, 'etc/owned'), 0o640);
  sh('mknod', [join(r, 'dev/null'), 'c', '1', '3']);
  sh('mkfifo', [join(r, 'dev/fifo')]);
  copyFileSync(busybox as string, join(r, 'bin/ping'));
  sh('setfattr', ['-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', join(r, 'bin/ping')]);
  sh('setfattr', ['-n', 'user.strata', '-v', 'layer1', join(r, 'etc/hello.txt')]);
  const layout = join(dir, 'oci');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:rich`]);
  sh('umoci', ['insert', '--image', `${layout}:rich`, r, '/']);
  const l2 = join(dir, 'l2');
  mkdirSync(join(l2, 'etc'), { recursive: true });
  writeFileSync(join(l2, 'etc/.wh.hello-hardlink.txt'), '');
  writeFileSync(join(l2, 'etc/layer2.txt'), 'two\n');
  sh('tar', ['--numeric-owner', '-cf', join(dir, 'l2.tar'), '-C', l2, 'etc']);
  sh('umoci', ['raw', 'add-layer', '--image', `${layout}:rich`, join(dir, 'l2.tar')]);
  const l3 = join(dir, 'l3');
  mkdirSync(join(l3, 'etc'), { recursive: true });
  mkdirSync(join(l3, 'bin'), { recursive: true });
  writeFileSync(join(l3, 'etc/.wh..wh..opq'), '');
  writeFileSync(join(l3, 'bin/.wh.vi'), '');
  writeFileSync(join(l3, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  sh('tar', ['--numeric-owner', '-cf', join(dir, 'l3.tar'), '-C', l3, 'etc', 'bin']);
  sh('umoci', ['raw', 'add-layer', '--image', `${layout}:rich`, join(dir, 'l3.tar')]);
  // The config image: one more tag with Entrypoint/Cmd/Env/WorkingDir/User.
  sh('umoci', ['new', '--image', `${layout}:cfg`]);
  sh('umoci', ['insert', '--image', `${layout}:cfg`, r, '/']);
  sh('umoci', [
    'config',
    '--image',
    `${layout}:cfg`,
    '--config.entrypoint',
    '/bin/echo',
    '--config.cmd',
    'hello',
    '--config.env',
    'FOO=bar',
    '--config.env',
    'PATH=/bin',
    '--config.workingdir',
    '/srv',
    '--config.user',
    '1000:1000',
  ]);
  sh('umoci', ['gc', '--layout', layout]);
  return layout;
}

function push(from: string, to: string, ...extra: string[]): void {
  sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...extra, from, to]);
}

describe('provisioner (real registry, umoci-built images)', { skip }, () => {
  let work: string;
  let registry: Registry;
  let front: Awaited<ReturnType<typeof startTokenFront>>;
  let layout: string;
  let reference: string; // umoci unpack of the rich image
  const provisioners: Provisioner[] = [];

  async function provisioner(
    extra: Partial<ProvisionerOptions> = {},
    name = `p${provisioners.length}`,
  ): Promise<Provisioner> {
    const p = await Provisioner.create({
      workDir: join(work, name, 'work'),
      dockerStoreDir: join(work, name, 'store'),
      dockerRegistry: `http://${registry.host}`,
      registryBackoffMs: 10,
      ...extra,
    });
    provisioners.push(p);
    return p;
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'strata-provisioner-'));
    registry = await startRegistry(join(work, 'registry'));
    front = await startTokenFront(registry.host);
    layout = buildRichImage(join(work, 'build'));
    push(`oci:${layout}:rich`, `docker://${registry.host}/strata/rich:latest`);
    push(`oci:${layout}:rich`, `docker://${registry.host}/strata/rich-s2:latest`, '--format', 'v2s2');
    push(`oci:${layout}:cfg`, `docker://${registry.host}/strata/cfg:latest`);
    reference = join(work, 'umoci-bundle');
    sh('umoci', ['unpack', '--image', `${layout}:rich`, reference]);
  });

  after(async () => {
    for (const p of provisioners) {
      for (const dir of readdirSafe(join(p.root, 'containers'))) await p.destroy(dir).catch(() => {});
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => work && m.startsWith(work));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    registry?.proc.kill('SIGTERM');
    front?.server.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pulls an OCI image (whiteouts, opaque dir, hardlinks, symlinks, setuid, xattrs, devices) identical to umoci unpack (overlay)', async () => {
    const p = await provisioner();
    const progress: LayerProgress[] = [];
    const info = await p.provision('c1', 'strata/rich', { onProgress: (e) => progress.push(e) });
    assert.ok(await isMountPoint(info.rootfs), 'overlay mounted');
    assertSameTree(info.rootfs, join(reference, 'rootfs'));
    assert.equal(info.layers.length, 3);
    assert.ok(!existsSync(join(info.rootfs, 'bin/vi')), 'whiteout hides bin/vi');
    assert.ok(!existsSync(join(info.rootfs, 'etc/hello.txt')), 'opaque etc hides lower files');
    assert.equal(readlinkSync(join(info.rootfs, 'bin/sh')), '/bin/busybox', 'absolute symlink kept');
    assert.equal(lstatSync(join(info.rootfs, 'bin/su-test')).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(info.rootfs, 'srv/shared')).mode & 0o7777, 0o2775);
    assert.equal(lstatSync(join(info.rootfs, 'tmp')).mode & 0o7777, 0o1777);
    assert.match(
      sh('getfattr', ['-n', 'security.capability', '-e', 'base64', join(info.rootfs, 'bin/ping')]),
      /AQAAAgAgAAAA/,
    );
    // The layer itself carries overlay-format markers.
    const l2 = info.layers[1] as string;
    assert.ok(lstatSync(join(l2, 'etc/hello-hardlink.txt')).isCharacterDevice());
    assert.equal(lstatSync(join(l2, 'etc/hello-hardlink.txt')).rdev, 0);
    assert.match(
      sh('getfattr', ['-n', 'trusted.overlay.opaque', join(info.layers[2] as string, 'etc')]),
      /="y"/,
    );
    const done = progress.filter((e) => e.state === 'done');
    assert.equal(done.length, 3, 'a done event per layer');
    assert.ok(
      progress.some((e) => e.state === 'pulling' && e.bytes > 0),
      'byte progress reported',
    );
    await p.destroy('c1');
    await p.destroy('c1'); // idempotent
    assert.ok(!existsSync(info.rootfs), 'rootfs gone');
    assert.ok(!(await isMountPoint(info.rootfs)));
  });

  it('builds the same rootfs with the copy backend, from a docker v2s2 manifest', async () => {
    const p = await provisioner({ backend: 'copy' });
    const info = await p.provision('c2', { type: 'DOCKER', docker: { name: 'strata/rich-s2' } });
    assert.ok(!(await isMountPoint(info.rootfs)));
    assertSameTree(info.rootfs, join(reference, 'rootfs'));
    await p.destroy('c2');
  });

  it('maps Entrypoint, Cmd, Env, WorkingDir and User as Mesos does', async () => {
    const p = await provisioner();
    const info = await p.provision('cfg', 'strata/cfg:latest');
    assert.deepEqual(info.config.entrypoint, ['/bin/echo']);
    assert.deepEqual(info.config.cmd, ['hello']);
    const launch = launchFromImage(info.config, { shell: false });
    assert.deepEqual(launch.argv, ['/bin/echo', 'hello']);
    assert.equal(launch.imageEnv.FOO, 'bar');
    assert.equal(launch.workingDir, '/srv');
    assert.equal(launch.imageUser, '1000:1000');
    assert.deepEqual(launchFromImage(info.config, { shell: false, arguments: ['bye'] }).argv, [
      '/bin/echo',
      'bye',
    ]);
    await p.destroy('cfg');
  });

  it('resolves a multi-arch index to the agent platform (and to another when asked)', async () => {
    const dir = join(work, 'multi');
    const amd = makeTar([{ name: 'arch', data: 'amd64\n' }]);
    const arm = makeTar([{ name: 'arch', data: 'arm64\n' }]);
    const digests = writeOciLayout(dir, [
      { tag: 'amd', layers: [amd], architecture: 'amd64' },
      { tag: 'arm', layers: [arm], architecture: 'arm64' },
    ]);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
      manifests: Record<string, unknown>[];
    };
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: index.manifests.map((m, i) => ({
          mediaType: m.mediaType,
          digest: m.digest,
          size: m.size,
          platform:
            i === 0
              ? { os: 'linux', architecture: 'amd64' }
              : { os: 'linux', architecture: 'arm64', variant: 'v8' },
        })),
      }),
    );
    const { createHash } = await import('node:crypto');
    const listDigest = `sha256:${createHash('sha256').update(list).digest('hex')}`;
    writeFileSync(join(dir, 'blobs/sha256', listDigest.slice(7)), list);
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: listDigest,
            size: list.length,
            annotations: { 'org.opencontainers.image.ref.name': 'multi' },
          },
        ],
      }),
    );
    push(`oci:${dir}:multi`, `docker://${registry.host}/strata/multi:latest`, '--all');
    const here = await provisioner({ platform: { os: 'linux', architecture: 'amd64' } });
    const a = await here.pull('strata/multi');
    assert.equal(a.manifestDigest, digests.amd);
    const other = await provisioner({ platform: { os: 'linux', architecture: 'arm64' } });
    const b = await other.pull('strata/multi');
    assert.equal(b.manifestDigest, digests.arm);
    assert.equal(readFileSync(join(b.layerPaths[0] as string, 'arch'), 'utf8'), 'arm64\n');
    const none = await provisioner({ platform: { os: 'linux', architecture: 's390x' } });
    await assert.rejects(
      none.pull('strata/multi'),
      (e: StrataError) => e.code === 'IMAGE_NO_MATCHING_PLATFORM',
    );
  });

  it('authenticates with a Bearer token from a token server, using --docker_config credentials', async () => {
    const config = join(work, 'docker-config.json');
    writeFileSync(
      config,
      JSON.stringify({ auths: { [front.host]: { auth: Buffer.from('user:secret').toString('base64') } } }),
    );
    const p = await provisioner({ dockerRegistry: `http://${front.host}`, dockerConfig: config });
    const img = await p.pull('strata/cfg');
    assert.equal(img.diffIds.length, 1);
    assert.ok(front.tokenRequests >= 1);
    const anonymous = await provisioner({ dockerRegistry: `http://${front.host}` });
    await assert.rejects(anonymous.pull('strata/cfg'), (e: StrataError) => e.code === 'IMAGE_AUTH_FAILED');
  });

  it("uses an image's own registry credentials (Image.docker.config, a VALUE secret), without --docker_config", async () => {
    const dockerConfig = (user: string) =>
      JSON.stringify({ auths: { [front.host]: { auth: Buffer.from(user).toString('base64') } } });
    const p = await provisioner({ dockerRegistry: `http://${front.host}` });
    const image = (config: object) => ({ type: 'DOCKER', docker: { name: 'strata/cfg', config } });
    // The protobuf shape (bytes) and the JSON one (base64) both work.
    const info = await p.provision(
      'own-creds',
      image({ type: 2, value: { data: new Uint8Array(Buffer.from(dockerConfig('user:secret'))) } }),
    );
    assert.ok(await isMountPoint(info.rootfs));
    await p.destroy('own-creds');
    const again = await provisioner({ dockerRegistry: `http://${front.host}` });
    const json = await again.provision(
      'own-creds-json',
      image({ type: 'VALUE', value: { data: Buffer.from(dockerConfig('user:secret')).toString('base64') } }),
    );
    await again.destroy('own-creds-json');
    assert.ok(json.rootfs);
    // Wrong credentials, a reference and a config that is not JSON: clear refusals.
    const other = await provisioner({ dockerRegistry: `http://${front.host}` });
    await assert.rejects(
      other.provision(
        'bad-creds',
        image({ type: 2, value: { data: new Uint8Array(Buffer.from(dockerConfig('user:wrong'))) } }),
      ),
      (e: StrataError) => e.code === 'IMAGE_AUTH_FAILED',
    );
    await assert.rejects(
      other.provision('ref', image({ type: 1, reference: { name: 'registry-secret' } })),
      (e: StrataError) => e.code === 'IMAGE_REFERENCE_INVALID' && /secret resolver/.test(e.message),
    );
    await assert.rejects(
      other.provision('junk', image({ type: 2, value: { data: new Uint8Array(Buffer.from('{not json')) } })),
      (e: StrataError) =>
        e.code === 'IMAGE_REFERENCE_INVALID' && /Image\.docker\.config: not JSON/.test(e.message),
    );
    assert.deepEqual(readdirSafe(join(other.root, 'containers')), [], 'a refused image leaves nothing');
  });

  it('resumes layer downloads that break midway (a proxy cuts the first answer of each blob): identical rootfs', async () => {
    const cutter = await startCuttingProxy(registry.host);
    try {
      const p = await provisioner({ dockerRegistry: `http://${cutter.host}` });
      const progress: LayerProgress[] = [];
      const info = await p.provision('cut', 'strata/rich', { onProgress: (e) => progress.push(e) });
      assertSameTree(info.rootfs, join(reference, 'rootfs'));
      // The config and the three layers were cut; each layer went on from where it broke.
      assert.equal(cutter.cut.size, 4, `${[...cutter.cut]}`);
      const resumed = new Set(cutter.ranges.map((r) => r.split(' ')[0]));
      assert.equal(resumed.size, 3, `Range requests: ${cutter.ranges}`);
      for (const r of cutter.ranges) assert.match(r, / bytes=[1-9]\d*-$/);
      assert.equal(cutter.partial, cutter.ranges.length, 'the registry answered each Range with 206');
      for (const layer of resumed) {
        const events = progress.filter((e) => e.layer === layer && e.state === 'pulling');
        for (const [i, e] of events.entries())
          if (i > 0) assert.ok(e.bytes >= (events[i - 1] as LayerProgress).bytes, 'progress never goes back');
        const done = progress.find((e) => e.layer === layer && e.state === 'done');
        assert.ok(done && done.total !== undefined && done.bytes === done.total, `${layer} done in full`);
      }
      await p.destroy('cut');
    } finally {
      cutter.server.closeAllConnections();
      cutter.server.close();
    }
  });

  it('de-duplicates concurrent pulls of the same image', async () => {
    const p = await provisioner();
    const [a, b, c] = await Promise.all([
      p.pull('strata/rich'),
      p.pull('strata/rich:latest'),
      p.provision('dd', 'strata/rich'),
    ]);
    assert.equal(a, b, 'one shared pull');
    assert.deepEqual(c.layers, a.layerPaths);
    await p.destroy('dd');
  });

  it('refuses a corrupt blob (digest mismatch) and keeps nothing', async () => {
    const dir = join(work, 'corrupt');
    writeOciLayout(dir, [{ tag: 'latest', layers: [makeTar([{ name: 'a', data: 'good\n' }])] }]);
    push(`oci:${dir}:latest`, `docker://${registry.host}/strata/corrupt:latest`);
    // Swap the stored layer's bytes for another valid gzip tar.
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(
      readFileSync(
        join(dir, 'blobs/sha256', (index.manifests[0] as { digest: string }).digest.slice(7)),
        'utf8',
      ),
    ) as {
      layers: { digest: string }[];
    };
    const hex = (manifest.layers[0] as { digest: string }).digest.slice(7);
    const stored = join(registry.data, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const { gzipSync } = await import('node:zlib');
    writeFileSync(stored, gzipSync(makeTar([{ name: 'a', data: 'evil\n' }])));
    const p = await provisioner();
    await assert.rejects(
      p.pull('strata/corrupt'),
      (e: StrataError) => e.code === 'IMAGE_DIGEST_MISMATCH' && /nothing was kept/.test(e.message),
    );
    assert.deepEqual(readdirSync(join(p.store.dir, 'layers')), []);
    assert.deepEqual(readdirSync(join(p.store.dir, 'staging')), []);
  });

  it('refuses path-escaping layers (.., absolute, through a planted symlink) and leaves no debris', async () => {
    const outside = join(work, 'outside');
    mkdirSync(outside, { recursive: true });
    const cases: [string, Buffer][] = [
      [
        'dotdot',
        makeTar([
          { name: 'etc', type: '5' },
          { name: 'etc/../../escaped', data: 'x' },
        ]),
      ],
      ['absolute', makeTar([{ name: `${outside}/abs`, data: 'x' }])],
      [
        'symlink',
        makeTar([
          { name: 'evil', type: '2', linkname: outside },
          { name: 'evil/pwned', data: 'x' },
        ]),
      ],
      ['hardlink', makeTar([{ name: 'link', type: '1', linkname: '../../etc/passwd' }])],
    ];
    const dir = join(work, 'escape');
    writeOciLayout(
      dir,
      cases.map(([tag, tar]) => ({ tag, layers: [tar] })),
    );
    const p = await provisioner();
    for (const [tag] of cases) {
      push(`oci:${dir}:${tag}`, `docker://${registry.host}/strata/escape:${tag}`);
      await assert.rejects(
        p.pull(`strata/escape:${tag}`),
        (e: StrataError) => e.code === 'IMAGE_LAYER_UNSAFE',
        tag,
      );
    }
    assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
    assert.deepEqual(readdirSync(join(p.store.dir, 'layers')), []);
    assert.deepEqual(readdirSync(join(p.store.dir, 'staging')), []);
    await assert.rejects(p.provision('x', 'strata/nope'), (e: StrataError) => e.code === 'IMAGE_NOT_FOUND');
    assert.deepEqual(readdirSafe(join(p.root, 'containers')), []);
  });

  it('reads docker-archive and OCI archives from a local store directory (--docker_registry=DIR)', async () => {
    const dockerDir = join(work, 'local-docker');
    const ociDir = join(work, 'local-oci');
    mkdirSync(dockerDir);
    mkdirSync(ociDir);
    // skopeo cannot parse ':' in these paths; Mesos' naming (<name>:<tag>.tar) is made by rename.
    push(`oci:${layout}:rich`, `docker-archive:${join(dockerDir, 'tmp.tar')}:strata/rich:latest`);
    push(`oci:${layout}:rich`, `oci-archive:${join(ociDir, 'tmp.tar')}:latest`);
    renameSync(join(dockerDir, 'tmp.tar'), join(dockerDir, 'rich:latest.tar'));
    renameSync(join(ociDir, 'tmp.tar'), join(ociDir, 'rich:latest.tar'));
    for (const dir of [dockerDir, ociDir]) {
      const p = await provisioner({ dockerRegistry: dir });
      const info = await p.provision('local', 'strata/rich');
      assertSameTree(info.rootfs, join(reference, 'rootfs'));
      await p.destroy('local');
    }
  });

  it('recovers (destroys unknown containers), and prunes unused layers by policy', async () => {
    const p = await provisioner({ imageGcConfig: JSON.stringify({ excluded_images: [] }) });
    const keep = await p.provision('keep', 'strata/cfg');
    const gone = await p.provision('gone', 'strata/rich');
    await p.provision(['keep', 'nested'], 'strata/cfg');
    const { destroyed } = await p.recover(['keep', ['keep', 'nested']]);
    assert.deepEqual(destroyed, ['gone']);
    assert.ok(!existsSync(gone.rootfs));
    assert.ok(await isMountPoint(keep.rootfs));
    const result = await p.prune();
    assert.deepEqual(result.removedImages, [`${registry.host}/strata/rich:latest`]);
    // rich's bottom layer is the same umoci insert as cfg's only layer (same diff_id): it stays.
    assert.equal(result.removedLayers.length, 2, "rich's own layers go; the shared one is in use");
    assert.deepEqual(readdirSync(join(p.store.dir, 'layers')).length, 1);
    await p.destroy('keep');
    const second = await p.prune();
    assert.equal(second.removedLayers.length, 1);
  });

  it('unpacks zstd layers, with the zstd binary and with the pure-JS fallback', async () => {
    if (spawnSync('sh', ['-c', 'command -v zstd']).status !== 0) return;
    const dir = join(work, 'zstd');
    const tar = makeTar([
      { name: 'etc', type: '5' },
      { name: 'etc/z', data: 'zstd!\n'.repeat(10_000) },
    ]);
    writeOciLayout(dir, [
      { tag: 'latest', layers: [tar, makeTar([{ name: 'top', data: 'x' }])], zstd: true },
    ]);
    push(`oci:${dir}:latest`, `docker://${registry.host}/strata/zstd:latest`);
    for (const binary of [true, false]) {
      overrideBinary('zstd', binary);
      try {
        const p = await provisioner();
        const img = await p.pull('strata/zstd');
        assert.equal(
          readFileSync(join(img.layerPaths[0] as string, 'etc/z'), 'utf8'),
          'zstd!\n'.repeat(10_000),
        );
      } finally {
        overrideBinary('zstd', undefined);
      }
    }
  });

  it('mounts deep images: 100 layers fit the mount-option limit with relative lowerdirs', async () => {
    const dir = join(work, 'deep');
    const layers = Array.from({ length: 100 }, (_, i) => makeTar([{ name: `f${i}`, data: `${i}\n` }]));
    writeOciLayout(dir, [{ tag: 'latest', layers }]);
    push(`oci:${dir}:latest`, `docker://${registry.host}/strata/deep:latest`);
    const p = await provisioner({ maxConcurrentDownloads: 8 });
    const info = await p.provision('deep', 'strata/deep');
    assert.equal(readFileSync(join(info.rootfs, 'f99'), 'utf8'), '99\n');
    assert.equal(readFileSync(join(info.rootfs, 'f0'), 'utf8'), '0\n');
    await p.destroy('deep');
  });

  it('builds spare overlay rootfses after a start, hands each out once, and leaves no mount behind', async () => {
    const p = await provisioner({ spareRootfses: 2 });
    const mountsUnder = (dir: string) =>
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m.startsWith(`${dir}/`));
    const first = await p.provision('s1', 'strata/cfg');
    assert.equal(p.spareCount, 0, 'nothing is built before the container has started');
    p.containerStarted('s1');
    await waitFor(() => p.spareCount === 2, 'two spares of strata/cfg');
    assert.equal(mountsUnder(join(p.root, 'spares')).length, 2);
    // The next container of the image gets a spare: moved under its own directory, still mounted,
    // empty upper layer, and the image's files.
    writeFileSync(join(first.rootfs, 'written-by-s1'), 'x');
    const second = await p.provision('s2', 'strata/cfg');
    assert.equal(p.spareCount, 1);
    assert.ok(second.rootfs.startsWith(join(p.root, 'containers', 's2', 'backends', 'overlay', 'rootfses')));
    assert.ok(await isMountPoint(second.rootfs));
    assert.ok(!existsSync(join(second.rootfs, 'written-by-s1')), "a spare is never anyone else's rootfs");
    assert.deepEqual(
      readdirSync(second.rootfs).sort(),
      readdirSync(first.rootfs)
        .filter((f) => f !== 'written-by-s1')
        .sort(),
    );
    const records = JSON.parse(readFileSync(join(p.root, 'containers', 's2', 'rootfses.json'), 'utf8'));
    assert.equal(records[0].id, second.rootfsId);
    // Another image has spares of its own; image GC drains them all first.
    await p.provision('r1', 'strata/rich');
    p.containerStarted('r1');
    p.containerStarted('s2');
    await waitFor(() => p.spareCount === 4, 'two spares of each image');
    await p.destroy('s1');
    await p.destroy('r1');
    await p.prune();
    assert.equal(p.spareCount, 0, 'GC destroys the spares');
    assert.deepEqual(mountsUnder(join(p.root, 'spares')), []);
    // Spares come back after GC, and close() (agent stop) destroys them.
    const third = await p.provision('s3', 'strata/cfg');
    p.containerStarted('s3');
    await waitFor(() => p.spareCount === 2, 'spares again after GC');
    await p.destroy('s2');
    await p.destroy('s3');
    assert.ok(!existsSync(third.rootfs));
    await p.close();
    assert.equal(p.spareCount, 0);
    assert.deepEqual(mountsUnder(p.root), [], 'no mount is left under the provisioner');
    assert.deepEqual(readdirSafe(join(p.root, 'spares')), []);
  });

  it('destroys the spares an agent that died left behind, when the next one starts', async () => {
    const p = await provisioner({ spareRootfses: 1 }, 'dead-agent');
    await p.provision('a', 'strata/cfg');
    p.containerStarted('a');
    await waitFor(() => p.spareCount === 2, 'spares');
    await p.destroy('a');
    // A second provisioner on the same work_dir, as after a crash (the first never closed).
    const next = await provisioner({ spareRootfses: 1 }, 'dead-agent');
    assert.deepEqual(readdirSafe(join(next.root, 'spares')), []);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(`${next.root}/spares`));
    assert.deepEqual(mounts, []);
  });
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
