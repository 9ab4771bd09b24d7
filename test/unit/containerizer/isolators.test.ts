/** Spec composition, the isolation plan and the isolators' pure parts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { planIsolation } from '../../../src/containerizer/isolators/catalogue.js';
import {
  CgroupsIsolator,
  cpuShares,
  memoryLimitBytes,
  parseCgroupLayout,
} from '../../../src/containerizer/isolators/cgroups.js';
import {
  rootfsLaunch,
  toolboxLaunch,
  volumeMounts,
} from '../../../src/containerizer/isolators/filesystem.js';
import type { ContainerConfig } from '../../../src/containerizer/isolators/isolator.js';
import { parseHardLimits, rlimitsFor } from '../../../src/containerizer/isolators/linux.js';
import { waitStatusFromRunExit } from '../../../src/containerizer/runtime/oci-runtime.js';
import { composeSpec, SpecConflictError } from '../../../src/containerizer/runtime/oci-spec.js';
import {
  ContainerInfoSchema,
  Volume_Mode,
  Volume_Source_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const base = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({
  containerId: 'c1',
  sandbox: '/work/sb',
  args: ['/bin/sh', '-c', 'true'],
  env: { A: '1' },
  resources: { cpus: 0.5, memMb: 64 },
  ...over,
});

describe('composeSpec', () => {
  it('unions namespaces, concatenates mounts in order, later env wins, root from one isolator', () => {
    const spec = composeSpec(
      { args: ['/x'], env: { A: '1', B: '1' }, cwd: '/sb', cgroupsPath: '/mesos/c1' },
      [
        {
          name: 'fs',
          info: {
            root: { path: '/r', readonly: false },
            mounts: [{ destination: '/a', type: 'bind', source: '/a' }],
          },
        },
        {
          name: 'pid',
          info: {
            namespaces: ['pid'],
            mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
            env: { B: '2' },
          },
        },
        { name: 'ipc', info: { namespaces: ['ipc', 'pid'] } },
      ],
    );
    assert.deepEqual(
      spec.linux.namespaces.map((n) => n.type),
      ['mount', 'pid', 'ipc'],
    );
    assert.deepEqual(
      spec.mounts.map((m) => m.destination),
      ['/a', '/proc'],
    );
    assert.deepEqual(spec.process.env, ['A=1', 'B=2']);
    assert.equal(spec.root.path, '/r');
    assert.equal(spec.linux.cgroupsPath, '/mesos/c1');
    assert.equal(spec.process.cwd, '/sb');
  });
  it('refuses two isolators setting the same resource field, capabilities or root', () => {
    const root = { root: { path: '/r', readonly: false } };
    assert.throws(
      () =>
        composeSpec({ args: [], env: {}, cwd: '/' }, [
          { name: 'a', info: { ...root, resources: { memory: { limit: 1 } } } },
          { name: 'b', info: { resources: { memory: { limit: 2 } } } },
        ]),
      SpecConflictError,
    );
    assert.throws(
      () =>
        composeSpec({ args: [], env: {}, cwd: '/' }, [
          { name: 'a', info: root },
          { name: 'b', info: root },
        ]),
      /both set 'root'/,
    );
    assert.throws(() => composeSpec({ args: [], env: {}, cwd: '/' }, []), /root filesystem/);
  });
});

describe('planIsolation', () => {
  const plan = (isolation: string, root = true, launcher?: string) =>
    planIsolation({ isolation, launcher, containerizers: 'mesos', root });
  it('orders isolators, adds filesystem/posix, expands aliases, picks the launcher', () => {
    const p = plan('namespaces/pid,cgroups,disk/du');
    assert.deepEqual(p.isolators, [
      'filesystem/posix',
      'cgroups/cpu',
      'cgroups/mem',
      'namespaces/pid',
      'disk/du',
    ]);
    assert.equal(p.launcher, 'linux');
    assert.equal(p.runtime, true);
    assert.deepEqual(plan('', true), { isolators: [], launcher: 'posix', runtime: false });
    assert.equal(plan('posix/cpu,posix/mem', false).launcher, 'posix');
  });
  it('refuses bad combinations with a reason', () => {
    assert.throws(() => plan('filesystem/linux', false), /needs the agent to run as root/);
    assert.throws(() => plan('docker/runtime'), /needs filesystem\/linux/);
    assert.throws(() => plan('cgroups/mem', true, 'posix'), /needs --launcher=linux/);
    assert.throws(() => plan('posix/cpu,posix/cpu'), /twice/);
    assert.throws(() => plan('nope'), /unknown isolator/);
  });
});

describe('cgroups values and layout', () => {
  it("Mesos' numbers", () => {
    assert.equal(cpuShares(0.6), 614);
    assert.equal(cpuShares(0), 2);
    assert.equal(memoryLimitBytes(16), 32 * 1024 * 1024);
    assert.equal(memoryLimitBytes(96), 96 * 1024 * 1024);
  });
  it('reads a hybrid layout with cpu and cpuacct apart', () => {
    const layout = parseCgroupLayout(
      [
        '30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
        '31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
        '32 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
        '33 25 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
        '34 25 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      ].join('\n'),
    );
    assert.equal(layout.version, 1);
    assert.equal(layout.controllers.get('cpu'), '/sys/fs/cgroup/cpu');
    assert.equal(layout.controllers.get('cpuacct'), '/sys/fs/cgroup/cpuacct');
    assert.equal(layout.controllers.has('name=systemd'), false);
  });
  it('prepare composes cpu (CFS), memory, pids from the label, devices', async () => {
    const iso = new CgroupsIsolator({
      layout: { version: 1, controllers: new Map() },
      root: 'mesos',
      enableCfs: true,
      subsystems: new Set(['cpu', 'mem', 'pids', 'devices']),
    });
    const info = await iso.prepare(
      base({
        labels: {
          $typeName: 'mesos.v1.Labels',
          labels: [{ $typeName: 'mesos.v1.Label', key: 'STRATA_PIDS_LIMIT', value: '32' }],
        },
      }),
    );
    assert.deepEqual(info.resources.cpu, { shares: 512, period: 100000, quota: 50000 });
    // v1: at its limit the container waits (under_oom) for the agent to kill it with the reason.
    assert.deepEqual(info.resources.memory, {
      limit: 67108864,
      reservation: 67108864,
      disableOOMKiller: true,
    });
    assert.deepEqual(info.resources.pids, { limit: 32 });
    assert.deepEqual(info.resources.devices?.[0], { allow: false, access: 'rwm' });
    assert.equal(iso.cgroupsPath('c1'), '/mesos/c1');
  });
});

describe('filesystem and volumes', () => {
  it('binds host and sandbox paths, read-only when asked, refuses escapes', () => {
    const containerInfo = create(ContainerInfoSchema, {
      volumes: [
        {
          containerPath: '/data',
          mode: Volume_Mode.RO,
          source: { type: Volume_Source_Type.HOST_PATH, hostPath: { path: '/srv/data' } },
        },
        {
          containerPath: 'cache',
          mode: Volume_Mode.RW,
          source: { type: Volume_Source_Type.SANDBOX_PATH, sandboxPath: { type: 1, path: 'tmp' } },
        },
      ],
    });
    const mounts = volumeMounts(base({ containerInfo }), '/mnt/mesos/sandbox');
    assert.deepEqual(
      mounts.map((m) => [m.source, m.destination, m.options?.at(-1)]),
      [
        ['/srv/data', '/data', 'ro'],
        ['/work/sb/tmp', '/mnt/mesos/sandbox/cache', 'rw'],
      ],
    );
    const escaping = create(ContainerInfoSchema, {
      volumes: [{ containerPath: '../x', hostPath: '/a', mode: Volume_Mode.RW }],
    });
    assert.throws(() => volumeMounts(base({ containerInfo: escaping }), '/s'), /escapes the sandbox/);
  });
  it('a rootfs gets /proc, /dev, /sys, the sandbox at --sandbox_directory and the image WorkingDir', () => {
    const info = rootfsLaunch(
      base({ rootfs: '/img', image: { workingDir: '/app', env: { P: '1' } } }),
      '/mnt/mesos/sandbox',
      undefined,
    );
    assert.equal(info.root?.path, '/img');
    assert.deepEqual(
      info.mounts?.slice(0, 6).map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/sys', '/mnt/mesos/sandbox'],
    );
    assert.equal(info.cwd, '/app');
    assert.equal(info.env?.MESOS_SANDBOX, '/mnt/mesos/sandbox');
    assert.equal(info.env?.P, '1');
  });
  it('runs the node executor in an image through the host loader', () => {
    const tool = toolboxLaunch(
      {
        loader: '/lib64/ld.so',
        libraries: ['/lib/libc.so.6'],
        node: process.execPath,
        appRoot: '/opt/strata',
      },
      [process.execPath, process.execPath, '/opt/strata/dist/src/executors/command-executor.js'],
    );
    assert.deepEqual(tool?.args, [
      '/.strata/lib/ld.so',
      '--library-path',
      '/.strata/lib',
      '/.strata/bin/node',
      '/.strata/app/dist/src/executors/command-executor.js',
    ]);
    assert.equal(
      toolboxLaunch({ loader: '/l', libraries: [], node: '/n', appRoot: '/a' }, ['/bin/sh', '-c', 'x']),
      undefined,
    );
  });
});

describe('rlimits and exit codes', () => {
  it('caps rlimits at the hard limits; unset means unlimited (capped)', () => {
    const hard = parseHardLimits(
      'Max open files            1024                 20000                files\nMax core file size        0                    unlimited            bytes\n',
    );
    assert.equal(hard.get('RLIMIT_NOFILE'), 20000);
    const containerInfo = create(ContainerInfoSchema, {
      rlimitInfo: { rlimits: [{ type: 10, soft: 100n, hard: 50000n }, { type: 2 }] },
    });
    const limits = rlimitsFor(base({ containerInfo }), hard);
    assert.deepEqual(limits[0], { type: 'RLIMIT_NOFILE', soft: 100, hard: 20000 });
    assert.equal(limits[1]?.type, 'RLIMIT_CORE');
    assert.equal(limits[1]?.soft, 2 ** 64 - 1);
  });
  it('maps the runtime exit code to a wait status', () => {
    assert.equal(waitStatusFromRunExit(0), 0);
    assert.equal(waitStatusFromRunExit(3), 3 << 8);
    assert.equal(waitStatusFromRunExit(137), 9);
  });
});
