/**
 * Appc (ACI) image tasks end to end: a real master and agent (`--isolation=cgroups/cpu,cgroups/mem,
 * namespaces/pid,filesystem/linux,appc/runtime --image_providers=appc`) with an ACI built here from
 * busybox-static, found by simple discovery in a local directory, and a bzip2-compressed ACI with
 * no binary of its own that depends on it. Root only (skipped with a printed reason otherwise). Everything made here (cgroups below a per-run --cgroups_root, rootfs
 * mounts, the store) is removed at the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  type CommandInfoSchema,
  FrameworkInfo_Capability_Type,
  TaskState,
  type TaskStatus,
  TaskStatus_Reason,
} from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  cgroupLeftovers as allCgroupLeftovers,
  imageTestSkipReason,
  mountsUnder,
  removeCgroupsRoot,
  unmountUnder,
} from '../support/containers.js';
import { eventually } from '../support/eventually.js';
import { busybox } from '../support/images.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../support/processes.js';
import { TestScheduler } from '../support/scheduler-client.js';

const skip = imageTestSkipReason(['tar']);
if (skip) console.log(`# appc image system tests skipped: ${skip}`);

const CGROUPS_ROOT = `strata-appc-test-${process.pid}`;
const ISOLATION = 'cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux,appc/runtime';
const IMAGE = 'example.com/busybox';
/** Files only, no binary: its shell and tools come from its dependency IMAGE. */
const APP_IMAGE = 'example.com/app-on-busybox';

const cgroupLeftovers = () => allCgroupLeftovers(CGROUPS_ROOT);

/** `<repo>/example.com/busybox-1.0-linux-amd64.aci`: busybox-static, applet links, a marker file. */
function buildAci(dir: string, repo: string): string {
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'srv', 'dev', 'proc', 'sys'])
    mkdirSync(join(r, d), { recursive: true });
  copyFileSync(busybox as string, join(r, 'bin/busybox'));
  chmodSync(join(r, 'bin/busybox'), 0o755);
  chmodSync(join(r, 'tmp'), 0o1777);
  for (const a of ['sh', 'test', 'echo', 'true', 'cat', 'pwd', 'ls', 'env', 'sleep', 'id'])
    symlinkSync('busybox', join(r, 'bin', a));
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(r, 'etc/appc-marker'), 'appc\n');
  writeFileSync(
    join(dir, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: IMAGE,
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: {
        exec: ['/bin/sh', '-c', 'echo "$GREETING $(pwd)" > "$MESOS_SANDBOX/appc-out"'],
        user: '0',
        group: '0',
        workingDirectory: '/srv',
        environment: [
          { name: 'GREETING', value: 'from-appc' },
          { name: 'PATH', value: '/bin' },
        ],
      },
    }),
  );
  const file = join(repo, `${IMAGE}-1.0-linux-amd64.aci`);
  mkdirSync(join(repo, 'example.com'), { recursive: true });
  const t = spawnSync('tar', ['--numeric-owner', '-czf', file, '-C', dir, 'manifest', 'rootfs'], {
    encoding: 'utf8',
  });
  assert.equal(t.status, 0, t.stderr);
  return file;
}

/**
 * `<repo>/example.com/app-on-busybox-1.0-linux-amd64.aci`, bzip2: /etc/app-marker and an
 * /etc/appc-marker of its own (over the dependency's), depending on IMAGE by name, labels and id.
 */
function buildAppAci(dir: string, repo: string, baseAci: string): void {
  const r = join(dir, 'rootfs');
  mkdirSync(join(r, 'etc'), { recursive: true });
  writeFileSync(join(r, 'etc/app-marker'), 'app\n');
  writeFileSync(join(r, 'etc/appc-marker'), 'app over busybox\n');
  const gz = spawnSync('gzip', ['-dc', baseAci], { maxBuffer: 1 << 30 });
  assert.equal(gz.status, 0, String(gz.stderr));
  const baseId = `sha512-${createHash('sha512').update(gz.stdout).digest('hex')}`;
  writeFileSync(
    join(dir, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: APP_IMAGE,
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      dependencies: [{ imageName: IMAGE, imageID: baseId, labels: [{ name: 'version', value: '1.0' }] }],
    }),
  );
  const file = join(repo, `${APP_IMAGE}-1.0-linux-amd64.aci`);
  const t = spawnSync(
    'sh',
    ['-c', 'tar --numeric-owner -cf - -C "$1" manifest rootfs | bzip2 > "$2"', 'sh', dir, file],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(t.status, 0, t.stderr);
}

describe('appc image tasks through a real master and agent', { skip, timeout: 180_000 }, () => {
  let work: string;
  let repo: string;
  let store: string;
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: StrataProcess;
  let agentPort: number;
  let workDir: string;
  let scheduler: TestScheduler;

  before(async () => {
    work = tempDir('appc-images');
    repo = join(work, 'repo');
    store = join(work, 'store');
    buildAppAci(join(work, 'build-app'), repo, buildAci(join(work, 'build'), repo));
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agentPort = await freePort();
    workDir = join(work, 'agent');
    agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${agentPort}`,
      `--work_dir=${workDir}`,
      `--isolation=${ISOLATION}`,
      '--image_providers=appc',
      `--appc_simple_discovery_uri_prefix=${repo}/`,
      `--appc_store_dir=${store}`,
      `--docker_store_dir=${join(work, 'docker-store')}`,
      `--cgroups_root=${CGROUPS_ROOT}`,
      '--resources=cpus:4;mem:2048;disk:4096;ports:[31000-32000]',
      '--logging_level=warn',
    ]);
    await agent.waitForHealth(`http://127.0.0.1:${agentPort}/health`, 20_000);
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'appc-images',
      roles: ['*'],
      checkpoint: true,
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.stop();
    await master?.process.stop();
    if (work) unmountUnder(work);
    await eventually(
      'cgroups removed',
      () => (cgroupLeftovers().length === 0 ? true : undefined),
      10_000,
    ).catch(() => undefined);
    removeCgroupsRoot(CGROUPS_ROOT);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function launch(
    id: string,
    command: MessageInitShape<typeof CommandInfoSchema>,
    name: string,
  ): Promise<void> {
    const offer = await scheduler.nextFittingOffer({ cpus: 0.3, mem: 96 });
    const result = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 1,
            launch: {
              taskInfos: [
                {
                  name: id,
                  taskId: { value: id },
                  agentId: offer.agentId!,
                  command,
                  // ContainerInfo.Type MESOS = 2; Image.Type APPC = 1.
                  container: {
                    type: 2,
                    mesos: {
                      image: {
                        type: 1,
                        appc: { name, labels: { labels: [{ key: 'version', value: '1.0' }] } },
                      },
                    },
                  },
                  resources: [
                    { name: 'cpus', type: 0, scalar: { value: 0.2 } },
                    { name: 'mem', type: 0, scalar: { value: 64 } },
                  ],
                },
              ],
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(result.status, 202, result.body);
  }

  /** Acknowledges every update of `id` until a terminal one comes. */
  async function end(id: string, timeoutMs = 60_000): Promise<TaskStatus> {
    const deadline = Date.now() + timeoutMs;
    const terminal = [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
      TaskState.TASK_ERROR,
    ];
    for (;;) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === id,
        Math.max(1, deadline - Date.now()),
        `${id} terminal`,
      );
      const status = event.update!.status!;
      if (status.uuid.length > 0)
        await scheduler.call({
          type: Call_Type.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      if (terminal.includes(status.state)) return status;
    }
  }

  function sandboxOf(taskId: string): string {
    const slaves = join(workDir, 'slaves');
    for (const agentId of readdirSync(slaves)) {
      const frameworks = join(slaves, agentId, 'frameworks');
      if (!existsSync(frameworks)) continue;
      for (const fw of readdirSync(frameworks)) {
        const dir = join(frameworks, fw, 'executors', taskId, 'runs', 'latest');
        if (existsSync(dir)) return dir;
      }
    }
    throw new Error(`no sandbox for ${taskId}`);
  }

  function sandboxLog(taskId: string): string {
    try {
      const dir = sandboxOf(taskId);
      return ['stdout', 'stderr']
        .map((f) => `${f}: ${readFileSync(join(dir, f), 'utf8').slice(-2000)}`)
        .join('\n');
    } catch (err) {
      return String(err);
    }
  }

  it('a command task runs in the appc image (not the host); the image is stored under its sha512 id', async () => {
    await launch(
      'appc-ok',
      { value: 'test -f /etc/appc-marker && ! test -e /etc/debian_version && echo ok > $MESOS_SANDBOX/out' },
      IMAGE,
    );
    const status = await end('appc-ok');
    assert.equal(TaskState[status.state], 'TASK_FINISHED', `${status.message}\n${sandboxLog('appc-ok')}`);
    assert.equal(readFileSync(join(sandboxOf('appc-ok'), 'out'), 'utf8'), 'ok\n');
    const images = readdirSync(join(store, 'images'));
    assert.equal(images.length, 1);
    assert.match(images[0]!, /^sha512-[0-9a-f]{128}$/);
    assert.ok(existsSync(join(store, 'images', images[0]!, 'rootfs', 'etc', 'appc-marker')));
  });

  it("shell=false with no value runs the manifest's exec with its environment and working directory", async () => {
    await launch('appc-exec', { shell: false }, IMAGE);
    const status = await end('appc-exec');
    assert.equal(TaskState[status.state], 'TASK_FINISHED', `${status.message}\n${sandboxLog('appc-exec')}`);
    assert.equal(readFileSync(join(sandboxOf('appc-exec'), 'appc-out'), 'utf8'), 'from-appc /srv\n');
  });

  it('an image with a dependency runs with the dependency below it (its shell and tools)', async () => {
    await launch(
      'appc-dep',
      {
        value:
          'test -f /etc/app-marker && test ! -e /etc/debian_version && ' +
          'cat /etc/appc-marker > $MESOS_SANDBOX/dep-out && /bin/busybox echo from-dependency >> $MESOS_SANDBOX/dep-out',
      },
      APP_IMAGE,
    );
    const status = await end('appc-dep');
    assert.equal(TaskState[status.state], 'TASK_FINISHED', `${status.message}\n${sandboxLog('appc-dep')}`);
    assert.equal(
      readFileSync(join(sandboxOf('appc-dep'), 'dep-out'), 'utf8'),
      'app over busybox\nfrom-dependency\n',
    );
    // Both images are in the store, each once; the app image has no binary of its own.
    const images = readdirSync(join(store, 'images'));
    assert.equal(images.length, 2);
    const app = images.find((i) => existsSync(join(store, 'images', i, 'rootfs', 'etc', 'app-marker')));
    assert.ok(app, 'the app image is stored');
    assert.ok(!existsSync(join(store, 'images', app, 'rootfs', 'bin')));
  });

  it('an unknown appc image fails the task with a message naming the image', async () => {
    await launch('appc-missing', { value: 'true' }, 'example.com/no-such-image');
    const status = await end('appc-missing');
    assert.equal(TaskState[status.state], 'TASK_FAILED');
    assert.equal(TaskStatus_Reason[status.reason], 'CONTAINER_LAUNCH_FAILED', status.message);
    assert.match(status.message, /example\.com\/no-such-image/);
  });

  it('cleanup leaves no mount, cgroup or rootfs behind', async () => {
    // The spare rootfses the agent keeps ready for an image's next container are its own, not a
    // task's; they go when the agent stops.
    const spares = join(workDir, 'provisioner', 'spares');
    await eventually(
      'no mounts below the work dir but spare rootfses',
      () => (mountsUnder(workDir).filter((m) => !m.startsWith(`${spares}/`)).length === 0 ? true : undefined),
      15_000,
    );
    await eventually(
      'no container cgroups',
      () => (cgroupLeftovers().length === 0 ? true : undefined),
      15_000,
    );
    const containers = join(workDir, 'provisioner', 'containers');
    await eventually(
      'no provisioned rootfs',
      () => (!existsSync(containers) || readdirSync(containers).length === 0 ? true : undefined),
      15_000,
    );
    await agent.stop();
    assert.deepEqual(mountsUnder(workDir), [], 'a stopped agent leaves no mount at all');
  });
});
