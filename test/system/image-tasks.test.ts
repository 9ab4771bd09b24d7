/**
 * Image tasks end to end: a real master and agent (`--isolation=filesystem/linux,docker/runtime,
 * namespaces/pid,cgroups/cpu,cgroups/mem --image_providers=docker`) pulling from a real Debian
 * docker-registry on a free loopback port, with busybox images built here with umoci and pushed
 * with skopeo. Root only (skipped with a printed reason otherwise). Everything made here (the
 * registry, cgroups below a per-run --cgroups_root, rootfs mounts, the store) is removed at the end.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
import { buildAndPushImages, startRegistry } from '../support/images.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../support/processes.js';
import { TestScheduler } from '../support/scheduler-client.js';

const skip = imageTestSkipReason();
if (skip) console.log(`# image task system tests skipped: ${skip}`);

const CGROUPS_ROOT = `strata-img-test-${process.pid}`;
const ISOLATION = 'filesystem/linux,docker/runtime,namespaces/pid,cgroups/cpu,cgroups/mem';

const cgroupLeftovers = () => allCgroupLeftovers(CGROUPS_ROOT);

describe('image tasks through a real master and agent', { skip, timeout: 240_000 }, () => {
  let work: string;
  let registry: { host: string; proc: ChildProcess };
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: StrataProcess;
  let agentPort: number;
  let workDir: string;
  let scheduler: TestScheduler;
  const seen = new Map<string, TaskStatus[]>();

  function startAgent(): Promise<void> {
    agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${agentPort}`,
      `--work_dir=${workDir}`,
      `--isolation=${ISOLATION}`,
      '--image_providers=docker',
      `--docker_registry=http://${registry.host}`,
      `--docker_store_dir=${join(work, 'store')}`,
      `--cgroups_root=${CGROUPS_ROOT}`,
      '--resources=cpus:4;mem:2048;disk:4096;ports:[31000-32000]',
      '--logging_level=warn',
    ]);
    return agent.waitForHealth(`http://127.0.0.1:${agentPort}/health`, 20_000);
  }

  before(async () => {
    work = tempDir('image-tasks');
    registry = await startRegistry(join(work, 'registry'));
    buildAndPushImages(join(work, 'build'), registry.host);
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agentPort = await freePort();
    workDir = join(work, 'agent');
    await startAgent();
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'images',
      roles: ['*'],
      checkpoint: true,
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.stop();
    await master?.process.stop();
    registry?.proc.kill('SIGTERM');
    if (work) unmountUnder(work);
    // /run/strata/hostroot stays: every agent on the host shares it, and other test files running
    // at the same time may be using it (an agent never removes it either).
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
    image: string,
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
                  container: { type: 2, mesos: { image: { type: 2, docker: { name: image } } } },
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

  /** Acknowledges every update of `id` until one in `states` comes. */
  async function until(id: string, states: TaskState[], timeoutMs = 60_000): Promise<TaskStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === id,
        Math.max(1, deadline - Date.now()),
        `${id} ${states.map((s) => TaskState[s]).join('|')}`,
      );
      const status = event.update!.status!;
      seen.set(id, [...(seen.get(id) ?? []), status]);
      if (status.uuid.length > 0)
        await scheduler.call({
          type: Call_Type.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      if (states.includes(status.state)) return status;
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

  it('a command task runs in the image (not the host), with the sandbox mounted; pull progress is reported', async () => {
    await launch(
      'img-ok',
      { value: 'test -f /bin/busybox && test ! -e /etc/debian_version && echo ok > $MESOS_SANDBOX/out' },
      `${registry.host}/busybox:latest`,
    );
    const end = await until('img-ok', [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
    ]);
    assert.equal(TaskState[end.state], 'TASK_FINISHED', `${end.message}\n${sandboxLog('img-ok')}`);
    assert.equal(readFileSync(join(sandboxOf('img-ok'), 'out'), 'utf8'), 'ok\n');
    const progress = (seen.get('img-ok') ?? []).filter(
      (s) => s.state === TaskState.TASK_STARTING && /^Pulling image /.test(s.message),
    );
    assert.ok(progress.length >= 1, 'a TASK_STARTING with pull progress');
    assert.match(progress[0]!.message, /^Pulling image 127\.0\.0\.1:\d+\/busybox:latest: [\d.]+\/[\d.]+ MB$/);
    const states = (seen.get('img-ok') ?? []).map((s) => TaskState[s.state]);
    assert.deepEqual(states.slice(-2), ['TASK_RUNNING', 'TASK_FINISHED'], states.join(','));
  });

  it("shell=false with no value runs the image's Entrypoint + Cmd with its Env and WorkingDir", async () => {
    await launch('img-cfg', { shell: false }, `${registry.host}/cfg:latest`);
    const end = await until('img-cfg', [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
    ]);
    assert.equal(TaskState[end.state], 'TASK_FINISHED', end.message);
    assert.equal(
      readFileSync(join(sandboxOf('img-cfg'), 'cfg-out'), 'utf8'),
      'from-image /srv /mnt/mesos/sandbox\n',
    );
    // The layer is shared with busybox: nothing was pulled, so no progress message.
    assert.ok(
      !(seen.get('img-cfg') ?? []).some((s) => /^Pulling image/.test(s.message)),
      'no pull progress for cached layers',
    );
  });

  it('a user command (shell) overrides the image Entrypoint; the user environment wins over the image Env', async () => {
    await launch(
      'img-user',
      {
        value: 'echo "$FOO $(pwd)" > $MESOS_SANDBOX/u',
        environment: { variables: [{ name: 'FOO', value: 'user' }] },
      },
      `${registry.host}/cfg:latest`,
    );
    const end = await until('img-user', [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
    ]);
    assert.equal(TaskState[end.state], 'TASK_FINISHED', end.message);
    assert.equal(readFileSync(join(sandboxOf('img-user'), 'u'), 'utf8'), 'user /srv\n');
  });

  it('an image that does not exist fails the task with REASON_CONTAINER_LAUNCH_FAILED and a clear message', async () => {
    await launch('img-missing', { value: 'true' }, `${registry.host}/no-such-image:latest`);
    const end = await until('img-missing', [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
    ]);
    assert.equal(TaskState[end.state], 'TASK_FAILED');
    assert.equal(TaskStatus_Reason[end.reason], 'CONTAINER_LAUNCH_FAILED', end.message);
    assert.match(end.message, /no-such-image/);
  });

  it('an image task survives an agent SIGKILL; its rootfs is released after it ends', async () => {
    await launch(
      'img-survivor',
      { value: 'sleep 3; echo done > $MESOS_SANDBOX/s' },
      `${registry.host}/busybox:latest`,
    );
    const running = await until('img-survivor', [TaskState.TASK_RUNNING]);
    const containerId = running.containerStatus?.containerId?.value ?? '';
    assert.ok(
      mountsUnder(join(workDir, 'provisioner', 'containers', containerId)).length > 0,
      'the rootfs is mounted',
    );
    await agent.kill();
    await startAgent();
    const end = await until('img-survivor', [TaskState.TASK_FINISHED, TaskState.TASK_FAILED], 40_000);
    assert.equal(TaskState[end.state], 'TASK_FINISHED', end.message);
    await eventually(
      'rootfs released',
      () => (existsSync(join(workDir, 'provisioner', 'containers', containerId)) ? undefined : true),
      15_000,
    );
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
  });

  it('`strata execute --docker_image` runs a command in the image', async () => {
    // This framework goes so that the CLI's framework gets the offers.
    await scheduler.call({ type: Call_Type.TEARDOWN });
    scheduler.close();
    const cli = new StrataProcess('execute', [
      'execute',
      `--master=127.0.0.1:${master.port}`,
      `--docker_image=${registry.host}/busybox:latest`,
      '--command=test ! -e /etc/debian_version && test -x /bin/busybox',
    ]);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      cli.waitForExit(),
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), 60_000);
      }),
    ]);
    clearTimeout(timer);
    if (code === 'timeout') await cli.kill();
    assert.equal(code, 0, cli.output);
  });
});
