/**
 * Nested containers of an isolating agent run inside their executor's container (runtime exec):
 * a real master and agent (`--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,
 * filesystem/linux,docker/runtime --image_providers=docker`) and a busybox image task from a real
 * docker-registry. LAUNCH_NESTED_CONTAINER_SESSION sees the task's cgroup, pid namespace and
 * rootfs (the image's files: no /etc/debian_version); LAUNCH_NESTED_CONTAINER keeps the exit
 * status for WAIT, and KILL signals the process. Root only (skipped with a printed reason).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { detectCgroupLayout } from '../../src/containerizer/isolators/cgroups.js';
import { codec } from '../../src/wire/codec.js';
import {
  Call_Type,
  CallSchema,
  ProcessIO_Data_Type,
  ProcessIO_Type,
  ProcessIOSchema,
  ResponseSchema,
} from '../../src/wire/gen/mesos/v1/agent/agent_pb.js';
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
import { RecordIODecoder } from '../../src/wire/recordio.js';
import { agentCall } from '../support/agent-client.js';
import {
  cgroupLeftovers as allCgroupLeftovers,
  imageTestSkipReason,
  removeCgroupsRoot,
  unmountUnder,
} from '../support/containers.js';
import { eventually } from '../support/eventually.js';
import { buildAndPushImages, startRegistry } from '../support/images.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../support/processes.js';
import { TestScheduler } from '../support/scheduler-client.js';

const skip = imageTestSkipReason();
if (skip) console.log(`# nested-in-container system tests skipped: ${skip}`);

const CGROUPS_ROOT = `strata-nested-test-${process.pid}`;
const ISOLATION = 'cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux,docker/runtime';
const JSON_TYPE = 'application/json';

const cgroupLeftovers = () => allCgroupLeftovers(CGROUPS_ROOT);

describe('nested containers inside an isolating agent’s task container', { skip, timeout: 240_000 }, () => {
  let work: string;
  let registry: { host: string; proc: ChildProcess };
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: StrataProcess;
  let agentUrl: string;
  let scheduler: TestScheduler;
  let taskContainer: ContainerID;
  let sessions = 0;
  let boxKilled = false;

  let port: number;

  /** Starts the agent (again, after a crash: same port and work_dir, so it recovers). */
  async function startAgent(): Promise<void> {
    agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${join(work, 'agent')}`,
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

  before(async () => {
    work = tempDir('nested-exec');
    registry = await startRegistry(join(work, 'registry'));
    buildAndPushImages(join(work, 'build'), registry.host);
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    port = await freePort();
    agentUrl = `http://127.0.0.1:${port}`;
    await startAgent();
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'nested',
      roles: ['*'],
      checkpoint: true,
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
    const offer = (await scheduler.nextOfType(Event_Type.OFFERS, 20_000)).offers!.offers[0]!;
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
                  container: { type: 2, mesos: { image: { type: 2, docker: { name: 'busybox' } } } },
                  resources: [
                    { name: 'cpus', type: 0, scalar: { value: 0.2 } },
                    { name: 'mem', type: 0, scalar: { value: 64 } },
                  ],
                },
              ],
            },
          },
        ],
      },
    });
    assert.equal(accepted.status, 202, accepted.body);
    for (;;) {
      const event = await scheduler.next((e) => e.type === Event_Type.UPDATE, 60_000, 'box running');
      const status: TaskStatus = event.update!.status!;
      if (status.uuid.length > 0)
        await scheduler.call({
          type: SchedulerCall.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      if (status.state === TaskState.TASK_RUNNING) {
        taskContainer = create(ContainerIDSchema, { value: status.containerStatus!.containerId!.value });
        break;
      }
      assert.equal(status.state, TaskState.TASK_STARTING, `${TaskState[status.state]} ${status.message}`);
    }
  });

  after(async () => {
    // Containers outlive their agent (they are found again after a restart): the task goes first.
    if (scheduler && taskContainer && !boxKilled) {
      await scheduler.call({ type: SchedulerCall.KILL, kill: { taskId: { value: 'box' } } });
      await scheduler
        .next(
          (e) =>
            e.type === Event_Type.UPDATE &&
            e.update?.status?.taskId?.value === 'box' &&
            e.update.status.state === TaskState.TASK_KILLED,
          30_000,
          'box killed',
        )
        .catch(() => undefined);
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

  const call = (init: MessageInitShape<typeof CallSchema>) => agentCall(agentUrl, init);

  /** A LAUNCH_NESTED_CONTAINER_SESSION running `command`: its stdout and stderr once it ended. */
  function session(
    command: string,
    tty = false,
  ): Promise<{ status: number; stdout: string; stderr: string }> {
    const containerId = create(ContainerIDSchema, { value: `session-${++sessions}`, parent: taskContainer });
    return new Promise((resolve, reject) => {
      const req = request(
        `${agentUrl}/api/v1`,
        {
          method: 'POST',
          headers: { 'Content-Type': JSON_TYPE, Accept: 'application/recordio', 'Message-Accept': JSON_TYPE },
        },
        (res) => {
          const decoder = new RecordIODecoder();
          const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
          let body = '';
          res.on('data', (chunk: Buffer) => {
            if (res.statusCode !== 200) {
              body += chunk.toString();
              return;
            }
            for (const record of decoder.push(chunk)) {
              const io = codec.decode(ProcessIOSchema, record, JSON_TYPE);
              if (io.type !== ProcessIO_Type.DATA || !io.data) continue;
              if (io.data.type === ProcessIO_Data_Type.STDOUT) out.stdout.push(Buffer.from(io.data.data));
              if (io.data.type === ProcessIO_Data_Type.STDERR) out.stderr.push(Buffer.from(io.data.data));
            }
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              stdout: Buffer.concat(out.stdout).toString(),
              stderr: body || Buffer.concat(out.stderr).toString(),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(
        codec.encode(
          CallSchema,
          create(CallSchema, {
            type: Call_Type.LAUNCH_NESTED_CONTAINER_SESSION,
            launchNestedContainerSession: {
              containerId,
              command: { value: command },
              ...(tty ? { container: { type: 2, ttyInfo: { windowSize: { rows: 33, columns: 99 } } } } : {}),
            },
          }),
          JSON_TYPE,
        ),
      );
    });
  }

  async function waitNested(containerId: ContainerID): Promise<number | undefined> {
    const answer = await call({
      type: Call_Type.WAIT_NESTED_CONTAINER,
      waitNestedContainer: { containerId },
    });
    assert.equal(answer.status, 200, answer.text);
    return codec.decode(ResponseSchema, answer.bytes, JSON_TYPE).waitNestedContainer?.exitStatus;
  }

  it('a session sees the task container: its cgroups, its pid namespace, the image rootfs; echo hi works', async () => {
    const hi = await session('echo hi');
    assert.equal(hi.status, 200, hi.stderr);
    assert.equal(hi.stdout, 'hi\n');

    const seen = await session(
      'cat /proc/1/cgroup; echo ---; ls /; echo ---; test -e /etc/debian_version && echo debian; pwd; echo $MESOS_SANDBOX',
    );
    assert.equal(seen.status, 200, seen.stderr);
    const [cgroups = '', root = '', rest = ''] = seen.stdout.split('---\n');
    // pid 1 is the task container's init, in the agent's cgroups below --cgroups_root.
    assert.match(cgroups, new RegExp(`${CGROUPS_ROOT}/`));
    const self = await session('cat /proc/self/cgroup');
    assert.match(self.stdout, new RegExp(`memory:/${CGROUPS_ROOT}/`));
    // The image's root: busybox' few directories, no Debian.
    assert.match(root, /\bbin\b/);
    assert.doesNotMatch(root, /\b(usr|home|var)\b/);
    assert.doesNotMatch(rest, /debian/);
    // With a TTY: a terminal of the asked size inside the container. crun 1.8 copies the size to
    // the container's pty just after the process starts, so a loaded host may run `stty` first.
    const terminal = await session(
      'test -t 0 && for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do ' +
        's=$(/bin/busybox stty size 2>/dev/null); case "$s" in ""|"0 0") sleep 0.1;; *) break;; esac; done; ' +
        'echo "$s"; test -e /etc/debian_version || echo image',
      true,
    );
    assert.equal(terminal.status, 200, terminal.stderr);
    assert.equal(terminal.stdout, '33 99\r\nimage\r\n');
    // A session works in its parent's sandbox as the container sees it.
    assert.deepEqual(rest.trim().split('\n'), ['/mnt/mesos/sandbox', '/mnt/mesos/sandbox']);
  });

  it('LAUNCH_NESTED_CONTAINER runs in the container with its sandbox and exit status; KILL signals it', async () => {
    const id = create(ContainerIDSchema, { value: 'nested-1', parent: taskContainer });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: {
        containerId: id,
        command: { value: 'pwd; echo $MESOS_SANDBOX; test -e /etc/debian_version || echo image; exit 3' },
      },
    });
    assert.equal(launched.status, 200, launched.text);
    assert.equal(await waitNested(id), 3 << 8);
    const sandbox = join(work, 'agent');
    const stdout = spawnSync('sh', [
      '-c',
      `cat ${sandbox}/slaves/*/frameworks/*/executors/*/runs/latest/containers/nested-1/stdout`,
    ]).stdout.toString();
    assert.equal(
      stdout,
      '/mnt/mesos/sandbox/containers/nested-1\n/mnt/mesos/sandbox/containers/nested-1\nimage\n',
    );

    const sleeper = create(ContainerIDSchema, { value: 'nested-2', parent: taskContainer });
    assert.equal(
      (
        await call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: { containerId: sleeper, command: { value: 'sleep 1000' } },
        })
      ).status,
      200,
    );
    const killed = await call({
      type: Call_Type.KILL_NESTED_CONTAINER,
      killNestedContainer: { containerId: sleeper, signal: 15 },
    });
    assert.equal(killed.status, 200, killed.text);
    assert.equal(await waitNested(sleeper), 15);
  });

  /** The host pid of an exec'd nested container (the runtime's pid file in the container's state). */
  function execPid(id: ContainerID): number {
    const file = join(
      work,
      'agent',
      'runtime',
      'containerizer',
      taskContainer.value,
      'exec',
      `${taskContainer.value}.${id.value}`,
      'pid',
    );
    return Number(readFileSync(file, 'utf8'));
  }

  /** Processes whose command line is exactly `argv` (the host's view, any namespace). */
  function processesRunning(argv: string): number[] {
    const found: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
          .split('\0')
          .filter((a) => a !== '')
          .join(' ');
        const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
        if (cmdline === argv && state !== 'Z') found.push(Number(entry));
      } catch {
        // gone
      }
    }
    return found;
  }

  it('an exec’d nested container outlives an agent crash: KILL and WAIT reach it after the restart', async () => {
    const id = create(ContainerIDSchema, { value: 'survivor', parent: taskContainer });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      // With a daemon (re-parented to the container's init) that must go with the container.
      launchNestedContainer: { containerId: id, command: { value: '(sleep 1005 &); sleep 1001' } },
    });
    assert.equal(launched.status, 200, launched.text);
    const pid = await eventually(
      'the exec pid',
      () => {
        try {
          return execPid(id);
        } catch {
          return undefined;
        }
      },
      10_000,
    );
    await agent.kill();
    assert.ok(existsSync(`/proc/${pid}`), 'the nested container survives the agent');
    await startAgent();
    // A process of the earlier life: its status is unknowable, so WAIT answers without exit_status.
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
    // Its status died with the runtime process the earlier agent waited on: no exit_status.
    const waited = await call({
      type: Call_Type.WAIT_NESTED_CONTAINER,
      waitNestedContainer: { containerId: id },
    });
    assert.equal(waited.status, 200, waited.text);
    assert.doesNotMatch(waited.text, /exit_status/);
    await eventually(
      'the sleeps gone',
      () =>
        processesRunning('sleep 1001').length + processesRunning('sleep 1005').length === 0
          ? true
          : undefined,
      10_000,
    );
    assert.equal(existsSync(execCgroup(id)), false, 'its cgroup removed');
    const removed = await call({
      type: Call_Type.REMOVE_NESTED_CONTAINER,
      removeNestedContainer: { containerId: id },
    });
    assert.equal(removed.status, 200, removed.text);
  });

  it('a session container outlives an agent crash too: KILL and WAIT reach it after the restart', async () => {
    // The session's stream breaks off with the agent (never awaited); its process stays.
    void session('sleep 1008').catch(() => undefined);
    const id = create(ContainerIDSchema, { value: `session-${sessions}`, parent: taskContainer });
    const pid = await eventually(
      'the exec pid',
      () => {
        try {
          return execPid(id);
        } catch {
          return undefined;
        }
      },
      10_000,
    );
    await agent.kill();
    assert.ok(existsSync(`/proc/${pid}`), 'the session survives the agent');
    await startAgent();
    const killed = await eventually(
      'KILL after the restart',
      async () => {
        const answer = await call({
          type: Call_Type.KILL_NESTED_CONTAINER,
          killNestedContainer: { containerId: id, signal: 9 },
        });
        return answer.status === 503 ? undefined : answer;
      },
      30_000,
    );
    assert.equal(killed.status, 200, killed.text);
    const waited = await call({
      type: Call_Type.WAIT_NESTED_CONTAINER,
      waitNestedContainer: { containerId: id },
    });
    assert.equal(waited.status, 200, waited.text);
    assert.doesNotMatch(waited.text, /exit_status/);
    await eventually(
      'the sleep gone',
      () => (processesRunning('sleep 1008').length === 0 ? true : undefined),
      10_000,
    );
    assert.equal(existsSync(execCgroup(id)), false, 'its cgroup removed');
  });

  /** The freezer cgroup of an exec'd nested container (nested-exec.ts), below its container's. */
  function execCgroup(id: ContainerID): string {
    const freezer = detectCgroupLayout().controllers.get('freezer') ?? '/sys/fs/cgroup/freezer';
    return join(freezer, CGROUPS_ROOT, taskContainer.value, `exec-${taskContainer.value}.${id.value}`);
  }

  it('KILL with SIGKILL ends the whole nested container, a daemon it left included; so does its end', async () => {
    const id = create(ContainerIDSchema, { value: 'daemons', parent: taskContainer });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: { containerId: id, command: { value: '(sleep 1002 &); sleep 1003' } },
    });
    assert.equal(launched.status, 200, launched.text);
    const [daemon] = await eventually(
      'the daemon',
      () => {
        const found = processesRunning('sleep 1002');
        return found.length === 1 ? found : undefined;
      },
      10_000,
    );
    // Re-parented away from the nested container's process, into the container's own init.
    const ppid = Number(readFileSync(`/proc/${daemon}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    assert.notEqual(ppid, execPid(id));
    const members = readFileSync(join(execCgroup(id), 'cgroup.procs'), 'utf8');
    assert.ok(members.split('\n').includes(String(daemon)), `the daemon in ${execCgroup(id)}: ${members}`);
    const killed = await call({
      type: Call_Type.KILL_NESTED_CONTAINER,
      killNestedContainer: { containerId: id, signal: 9 },
    });
    assert.equal(killed.status, 200, killed.text);
    assert.equal(await waitNested(id), 9);
    await eventually(
      'every sleep gone',
      () =>
        processesRunning('sleep 1002').length + processesRunning('sleep 1003').length === 0
          ? true
          : undefined,
      10_000,
    );
    assert.equal(existsSync(execCgroup(id)), false, 'its cgroup removed');

    // Its main process ending ends it too (Mesos destroys a nested container whose process ended).
    const quick = create(ContainerIDSchema, { value: 'leaves-daemon', parent: taskContainer });
    assert.equal(
      (
        await call({
          type: Call_Type.LAUNCH_NESTED_CONTAINER,
          launchNestedContainer: { containerId: quick, command: { value: '(sleep 1004 &); exit 0' } },
        })
      ).status,
      200,
    );
    assert.equal(await waitNested(quick), 0);
    assert.deepEqual(processesRunning('sleep 1004'), []);
    assert.equal(existsSync(execCgroup(quick)), false, 'its cgroup removed');
  });

  it('a task group’s tasks run inside the default executor’s container', async () => {
    const offer = (await scheduler.nextOfType(Event_Type.OFFERS, 20_000)).offers!.offers[0]!;
    const scalar = (name: string, value: number) => ({ name, type: 0, scalar: { value } });
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
                executorId: { value: 'group' },
                frameworkId: { value: scheduler.frameworkId },
                resources: [scalar('cpus', 0.1), scalar('mem', 64), scalar('disk', 32)],
              },
              taskGroup: {
                tasks: [
                  {
                    name: 'member',
                    taskId: { value: 'member' },
                    agentId: offer.agentId!,
                    resources: [scalar('cpus', 0.1), scalar('mem', 32)],
                    command: { value: "cat /proc/self/cgroup; echo pid1=$(tr '\\0' ' ' </proc/1/cmdline)" },
                  },
                ],
              },
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    assert.equal(accepted.status, 202, accepted.body);
    for (;;) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === 'member',
        60_000,
        'member finished',
      );
      const status = event.update!.status!;
      if (status.uuid.length > 0)
        await scheduler.call({
          type: SchedulerCall.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      if (status.state === TaskState.TASK_FINISHED) break;
      assert.ok(
        [TaskState.TASK_STARTING, TaskState.TASK_RUNNING].includes(status.state),
        `${TaskState[status.state]} ${status.message}`,
      );
    }
    const stdout = spawnSync('sh', [
      '-c',
      `cat ${join(work, 'agent')}/slaves/*/frameworks/*/executors/group/runs/latest/containers/*/stdout`,
    ]).stdout.toString();
    assert.match(stdout, new RegExp(`memory:/${CGROUPS_ROOT}/`));
    // pid 1 of the pid namespace is the default executor, not the host's init.
    assert.match(stdout, /pid1=.*executor/);
  });

  it('killing the task ends the nested containers still running in it and leaves no cgroup behind', async () => {
    const id = create(ContainerIDSchema, { value: 'left-running', parent: taskContainer });
    const launched = await call({
      type: Call_Type.LAUNCH_NESTED_CONTAINER,
      launchNestedContainer: { containerId: id, command: { value: '(sleep 1006 &); sleep 1007' } },
    });
    assert.equal(launched.status, 200, launched.text);
    await eventually(
      'its daemon',
      () => (processesRunning('sleep 1006').length === 1 ? true : undefined),
      10_000,
    );
    assert.ok(existsSync(execCgroup(id)));
    await scheduler.call({ type: SchedulerCall.KILL, kill: { taskId: { value: 'box' } } });
    await scheduler.next(
      (e) =>
        e.type === Event_Type.UPDATE &&
        e.update?.status?.taskId?.value === 'box' &&
        e.update.status.state === TaskState.TASK_KILLED,
      30_000,
      'box killed',
    );
    boxKilled = true;
    await eventually(
      'every sleep gone',
      () =>
        processesRunning('sleep 1006').length + processesRunning('sleep 1007').length === 0
          ? true
          : undefined,
      10_000,
    );
    await eventually('no cgroup left', () => (cgroupLeftovers().length === 0 ? true : undefined), 10_000);
  });
});
