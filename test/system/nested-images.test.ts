/**
 * Nested containers with an image of their own: a real master and agent
 * (`--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux,docker/runtime
 * --image_providers=docker`) against a loopback docker-registry. Each task of a task group (the
 * default executor) with `container.mesos.image` runs in its own rootfs from that image, in the
 * executor container's pid namespace (it sees its sibling), with its sandbox at
 * /mnt/mesos/sandbox, and ends with its own status; the image's Entrypoint/Cmd/Env/WorkingDir
 * apply. LAUNCH_NESTED_CONTAINER with an image through the operator API, WAIT, KILL, an unknown
 * image, and the cleanup (no mount but the provisioner's spares, no cgroup). Root only (skipped
 * with a printed reason).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec } from '../../src/wire/codec.js';
import { Call_Type, type CallSchema, ResponseSchema } from '../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type ContainerID,
  ContainerIDSchema,
  FrameworkInfo_Capability_Type,
  TaskState,
  type TaskStatus,
} from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  Event_Type,
  Call_Type as SchedulerCall,
} from '../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { agentCall } from '../support/agent-client.js';
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
if (skip) console.log(`# nested-images system tests skipped: ${skip}`);

const CGROUPS_ROOT = `strata-nested-images-test-${process.pid}`;
const ISOLATION = 'cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux,docker/runtime';
const JSON_TYPE = 'application/json';
const BUSYBOX = { type: 2, mesos: { image: { type: 2, docker: { name: 'busybox' } } } };
const scalar = (name: string, value: number) => ({ name, type: 0, scalar: { value } });

const cgroupLeftovers = () => allCgroupLeftovers(CGROUPS_ROOT);

describe('nested containers with an image of their own', { skip, timeout: 300_000 }, () => {
  let work: string;
  let workDir: string;
  let registry: { host: string; proc: ChildProcess };
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: StrataProcess;
  let agentUrl: string;
  let agentPort: number;
  let scheduler: TestScheduler;
  let boxContainer: ContainerID | undefined;

  before(async () => {
    work = tempDir('nested-images');
    workDir = join(work, 'agent');
    registry = await startRegistry(join(work, 'registry'));
    buildAndPushImages(join(work, 'build'), registry.host);
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agentPort = await freePort();
    agentUrl = `http://127.0.0.1:${agentPort}`;
    await startAgent();
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'nested-images',
      roles: ['*'],
      checkpoint: true,
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
  });

  after(async () => {
    if (scheduler && boxContainer) {
      await scheduler.call({ type: SchedulerCall.KILL, kill: { taskId: { value: 'box' } } });
      await terminal(['box'], 30_000).catch(() => undefined);
    }
    scheduler?.close();
    await agent?.stop();
    await master?.process.stop();
    registry?.proc.kill('SIGTERM');
    if (work) unmountUnder(work);
    await eventually(
      'cgroups removed',
      () => (cgroupLeftovers().length === 0 ? true : undefined),
      10_000,
    ).catch(() => undefined);
    removeCgroupsRoot(CGROUPS_ROOT);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function startAgent(): Promise<void> {
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
    await agent.waitForHealth(`${agentUrl}/health`, 20_000);
  }

  /** Acknowledges the updates of `taskIds` until each is terminal; their last statuses. */
  async function terminal(taskIds: string[], timeoutMs = 60_000): Promise<Map<string, TaskStatus>> {
    const last = new Map<string, TaskStatus>();
    const terminalStates = [
      TaskState.TASK_FINISHED,
      TaskState.TASK_FAILED,
      TaskState.TASK_KILLED,
      TaskState.TASK_ERROR,
      TaskState.TASK_LOST,
    ];
    while (taskIds.some((id) => !terminalStates.includes(last.get(id)?.state ?? TaskState.TASK_STAGING))) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && taskIds.includes(e.update?.status?.taskId?.value ?? ''),
        timeoutMs,
        `${taskIds.join(', ')} terminal`,
      );
      const status = event.update!.status!;
      if (status.uuid.length > 0)
        await scheduler.call({
          type: SchedulerCall.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      last.set(status.taskId!.value, status);
    }
    return last;
  }

  /** The next offer with room for an executor and two tasks (smaller ones are declined). */
  async function roomyOffer() {
    for (;;) {
      const offers = (await scheduler.nextOfType(Event_Type.OFFERS, 20_000)).offers!.offers;
      const fits = offers.find((o) =>
        o.resources.some((r) => r.name === 'cpus' && (r.scalar?.value ?? 0) >= 1),
      );
      const others = offers.filter((o) => o !== fits).map((o) => o.id!);
      if (others.length > 0)
        await scheduler.call({
          type: SchedulerCall.DECLINE,
          decline: { offerIds: others, filters: { refuseSeconds: 0 } },
        });
      if (fits) return fits;
    }
  }

  /** Launches a task group on the next offer under a default executor `executorId`. */
  async function launchGroup(
    executorId: string,
    executorContainer: object | undefined,
    tasks: { id: string; command: object; container?: object }[],
  ): Promise<void> {
    const offer = await roomyOffer();
    const accepted = await scheduler.call({
      type: SchedulerCall.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 6 /* LAUNCH_GROUP */,
            launchGroup: {
              executor: {
                type: 1 /* DEFAULT */,
                executorId: { value: executorId },
                frameworkId: { value: scheduler.frameworkId },
                resources: [scalar('cpus', 0.1), scalar('mem', 64), scalar('disk', 32)],
                ...(executorContainer ? { container: executorContainer } : {}),
              },
              taskGroup: {
                tasks: tasks.map((t) => ({
                  name: t.id,
                  taskId: { value: t.id },
                  agentId: offer.agentId!,
                  resources: [scalar('cpus', 0.1), scalar('mem', 32)],
                  command: t.command,
                  ...(t.container ? { container: t.container } : {}),
                })),
              },
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(accepted.status, 202, accepted.body);
  }

  const call = (init: MessageInitShape<typeof CallSchema>) => agentCall(agentUrl, init);

  async function waitNested(containerId: ContainerID): Promise<number | undefined> {
    const answer = await call({
      type: Call_Type.WAIT_NESTED_CONTAINER,
      waitNestedContainer: { containerId },
    });
    assert.equal(answer.status, 200, answer.text);
    return codec.decode(ResponseSchema, answer.bytes, JSON_TYPE).waitNestedContainer?.exitStatus;
  }

  /** The host sandbox of a task of executor `executorId` (one nested container per task). */
  function taskSandboxes(executorId: string): string[] {
    const out = spawnSync('sh', [
      '-c',
      `ls -d ${workDir}/slaves/*/frameworks/*/executors/${executorId}/runs/latest/containers/*`,
    ]);
    return out.stdout.toString().trim().split('\n').filter(Boolean);
  }

  it('a task group’s tasks run in their own image, in the executor’s pid namespace, with their status', async () => {
    // `probe` waits until it sees its sibling's `sleep 4242` (the same pid namespace), then
    // checks its rootfs and sandbox and exits 7: TASK_FAILED, and the group's fate kills `sibling`.
    const probe = [
      'test ! -e /etc/debian_version && test -x /bin/busybox || exit 10',
      'found=',
      'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do',
      '  /bin/busybox ps -o args | /bin/busybox grep -q "^sleep 424[2]" && found=1 && break',
      '  sleep 0.2',
      'done',
      'test -n "$found" || exit 11',
      'echo "$(pwd) $MESOS_SANDBOX" > "$MESOS_SANDBOX/probe-out"',
      'exit 7',
    ].join('\n');
    await launchGroup('group-a', undefined, [
      { id: 'sibling', command: { value: 'sleep 4242' }, container: BUSYBOX },
      { id: 'probe', command: { value: probe }, container: BUSYBOX },
    ]);
    const statuses = await terminal(['sibling', 'probe']);
    const probeStatus = statuses.get('probe')!;
    assert.equal(TaskState[probeStatus.state], 'TASK_FAILED', probeStatus.message);
    assert.match(probeStatus.message, /\b7\b/);
    assert.equal(TaskState[statuses.get('sibling')!.state], 'TASK_KILLED', statuses.get('sibling')!.message);
    const outputs = taskSandboxes('group-a')
      .map((dir) => join(dir, 'probe-out'))
      .filter((f) => existsSync(f));
    assert.equal(outputs.length, 1, `probe-out in ${taskSandboxes('group-a').join(', ')}`);
    assert.equal(readFileSync(outputs[0]!, 'utf8'), '/mnt/mesos/sandbox /mnt/mesos/sandbox\n');
  });

  it('an executor with a busybox image runs a task whose image config (Entrypoint, Cmd, Env, WorkingDir) applies', async () => {
    await launchGroup('group-b', BUSYBOX, [
      {
        id: 'configured',
        command: { shell: false },
        container: { type: 2, mesos: { image: { type: 2, docker: { name: 'cfg' } } } },
      },
    ]);
    const statuses = await terminal(['configured']);
    const status = statuses.get('configured')!;
    assert.equal(TaskState[status.state], 'TASK_FINISHED', status.message);
    const outputs = taskSandboxes('group-b')
      .map((dir) => join(dir, 'cfg-out'))
      .filter((f) => existsSync(f));
    assert.equal(outputs.length, 1);
    assert.equal(readFileSync(outputs[0]!, 'utf8'), 'from-image /srv /mnt/mesos/sandbox\n');
  });

  it('LAUNCH_NESTED_CONTAINER with an image: WAIT gives its status, KILL signals it, an unknown image is refused', async () => {
    const offer = await roomyOffer();
    const accepted = await scheduler.call({
      type: SchedulerCall.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 1,
            launch: {
              taskInfos: [
                {
                  name: 'box',
                  taskId: { value: 'box' },
                  agentId: offer.agentId!,
                  command: { value: 'sleep 1000' },
                  resources: [scalar('cpus', 0.2), scalar('mem', 64)],
                },
              ],
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(accepted.status, 202, accepted.body);
    for (;;) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === 'box',
        60_000,
        'box running',
      );
      const status = event.update!.status!;
      if (status.uuid.length > 0)
        await scheduler.call({
          type: SchedulerCall.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      if (status.state === TaskState.TASK_RUNNING) {
        boxContainer = create(ContainerIDSchema, { value: status.containerStatus!.containerId!.value });
        break;
      }
      assert.equal(status.state, TaskState.TASK_STARTING, `${TaskState[status.state]} ${status.message}`);
    }
    const parent = boxContainer;

    const id = create(ContainerIDSchema, { value: 'img-1', parent });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: {
        containerId: id,
        command: {
          value:
            'test ! -e /etc/debian_version && test -x /bin/busybox || exit 10; ' +
            '/bin/busybox ps -o args | /bin/busybox grep -q "^sleep 100[0]" || exit 11; ' +
            'echo in-image > "$MESOS_SANDBOX/out"; exit 3',
        },
        container: BUSYBOX,
      },
    });
    assert.equal(launched.status, 200, launched.text);
    assert.equal(await waitNested(id), 3 << 8);
    const out = spawnSync('sh', [
      '-c',
      `cat ${workDir}/slaves/*/frameworks/*/executors/box/runs/latest/containers/img-1/out`,
    ]).stdout.toString();
    assert.equal(out, 'in-image\n');

    const sleeper = create(ContainerIDSchema, { value: 'img-2', parent });
    const started = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: { containerId: sleeper, command: { value: 'sleep 1000' }, container: BUSYBOX },
    });
    assert.equal(started.status, 200, started.text);
    const rootfsDir = join(workDir, 'provisioner', 'containers', parent.value, 'containers', 'img-2');
    assert.ok(mountsUnder(rootfsDir).length > 0, 'img-2 has its rootfs mounted');
    assert.ok(
      cgroupLeftovers().some((d) => d.endsWith(`/${parent.value}/img-2`)),
      'img-2 has a cgroup below its parent’s',
    );
    const killed = await call({
      type: Call_Type.KILL_NESTED_CONTAINER,
      killNestedContainer: { containerId: sleeper, signal: 15 },
    });
    assert.equal(killed.status, 200, killed.text);
    assert.equal(await waitNested(sleeper), 15);
    assert.deepEqual(mountsUnder(rootfsDir), []);
    assert.equal(existsSync(rootfsDir), false);
    assert.deepEqual(
      cgroupLeftovers().filter((d) => d.includes('/img-2')),
      [],
    );

    const unknown = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: {
        containerId: create(ContainerIDSchema, { value: 'img-3', parent }),
        command: { value: 'true' },
        container: { type: 2, mesos: { image: { type: 2, docker: { name: 'no-such-image' } } } },
      },
    });
    assert.equal(unknown.status, 400, unknown.text);
    assert.match(unknown.text, /img-3.*no-such-image/s);
    assert.equal(
      existsSync(join(workDir, 'provisioner', 'containers', parent.value, 'containers', 'img-3')),
      false,
    );

    // A long-running one, for the restart below.
    const last = create(ContainerIDSchema, { value: 'img-4', parent });
    assert.equal(
      (
        await call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: { containerId: last, command: { value: 'sleep 1000' }, container: BUSYBOX },
        })
      ).status,
      200,
    );
  });

  it('a nested image container outlives an agent restart: KILL and WAIT reach it afterwards', async () => {
    assert.ok(boxContainer, 'the previous test started box');
    const id = create(ContainerIDSchema, { value: 'img-4', parent: boxContainer });
    const stateDir = join(workDir, 'runtime', 'containerizer', boxContainer.value, 'containers', 'img-4');
    const pid = Number(readFileSync(join(stateDir, 'pid'), 'utf8'));
    await agent.kill();
    assert.ok(existsSync(`/proc/${pid}`), 'the nested container survives the agent');
    await startAgent();
    // The operator API answers 503 until the agent has recovered.
    const killed = await eventually(
      'KILL after the restart',
      async () => {
        const answer = await call({
          type: Call_Type.KILL_NESTED_CONTAINER,
          killNestedContainer: { containerId: id, signal: 15 },
        });
        return answer.status === 503 ? undefined : answer;
      },
      30_000,
    );
    assert.equal(killed.status, 200, killed.text);
    assert.equal(await waitNested(id), 15);
    await eventually('its state removed', () => (existsSync(stateDir) ? undefined : true), 15_000);
  });

  it('killing the parent ends its nested image containers and leaves no mount or cgroup behind', async () => {
    assert.ok(boxContainer, 'the previous test started box');
    const parent = boxContainer;
    const last = create(ContainerIDSchema, { value: 'img-5', parent });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: { containerId: last, command: { value: 'sleep 1000' }, container: BUSYBOX },
    });
    assert.equal(launched.status, 200, launched.text);
    const stateDir = join(workDir, 'runtime', 'containerizer', parent.value, 'containers', 'img-5');
    const pid = Number(readFileSync(join(stateDir, 'pid'), 'utf8'));
    assert.ok(existsSync(`/proc/${pid}`));
    await scheduler.call({ type: SchedulerCall.KILL, kill: { taskId: { value: 'box' } } });
    const statuses = await terminal(['box'], 30_000);
    boxContainer = undefined;
    assert.equal(TaskState[statuses.get('box')!.state], 'TASK_KILLED');
    const spares = join(workDir, 'provisioner', 'spares');
    await eventually(
      'no mount but the spares',
      () => (mountsUnder(workDir).filter((m) => !m.startsWith(`${spares}/`)).length === 0 ? true : undefined),
      20_000,
    );
    await eventually('no cgroup', () => (cgroupLeftovers().length === 0 ? true : undefined), 20_000);
    await eventually(
      'no provisioned container',
      () => (readdirSync(join(workDir, 'provisioner', 'containers')).length === 0 ? true : undefined),
      20_000,
    );
    await eventually('img-5 ended', () => (existsSync(`/proc/${pid}`) ? undefined : true), 10_000);
    assert.equal(existsSync(stateDir), false);
  });
});
