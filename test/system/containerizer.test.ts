/**
 * The containerizer with real parts: a master and an agent process, crun, cgroups v1/v2,
 * namespaces and mounts. Root only (skipped with a printed reason otherwise), except the flag
 * checks. Everything made here (cgroups below a per-run --cgroups_root, container state, mounts)
 * is checked gone at the end.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { detectCgroupLayout } from '../../src/containerizer/isolators/cgroups.js';
import {
  FrameworkInfo_Capability_Type,
  type HealthCheckSchema,
  TaskState,
  TaskStatus_Reason,
} from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, type Event, Event_Type } from '../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { isTerminalState } from '../../src/wire/task-states.js';
import { cgroupLeftovers as allCgroupLeftovers, removeCgroupsRoot } from '../support/containers.js';
import { eventually } from '../support/eventually.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../support/processes.js';
import { TestScheduler } from '../support/scheduler-client.js';

const isRoot = process.getuid?.() === 0;
const hasRuntime = ['/usr/bin/crun', '/usr/sbin/runc', '/usr/bin/runc'].some((p) => existsSync(p));
const skip = !isRoot
  ? 'needs root (run as root, as CI does)'
  : !hasRuntime
    ? 'no crun/runc (scripts/setup-host.sh installs them)'
    : false;
if (skip) console.log(`# containerizer system tests skipped: ${skip}`);

const CGROUPS_ROOT = `strata-test-${process.pid}`;
const ISOLATION =
  'cgroups/cpu,cgroups/mem,cgroups/pids,cgroups/devices,namespaces/pid,namespaces/ipc,namespaces/uts,filesystem/posix';

describe('agent flags: bad isolation combinations are refused at start', { timeout: 30_000 }, () => {
  async function refused(flags: string[]): Promise<string> {
    const port = await freePort();
    const agent = new StrataProcess('agent', [
      'agent',
      '--master=127.0.0.1:1',
      `--port=${port}`,
      `--work_dir=${tempDir('agent-flags')}`,
      ...flags,
    ]);
    const code = await agent.waitForExit();
    assert.equal(code, 2, agent.output);
    return agent.output;
  }
  it('docker/runtime without filesystem/linux', async () => {
    assert.match(await refused(['--isolation=docker/runtime']), /docker\/runtime needs filesystem\/linux/);
  });
  it('an unknown isolator, a duplicate, two filesystems, another containerizer', async () => {
    assert.match(await refused(['--isolation=cgroups/bogus']), /unknown isolator 'cgroups\/bogus'/);
    assert.match(await refused(['--isolation=posix/cpu,process']), /given twice/);
    assert.match(
      await refused(['--isolation=filesystem/posix,filesystem/linux']),
      /only one filesystem isolator/,
    );
    assert.match(await refused(['--containerizers=docker']), /only the 'mesos' containerizer/);
  });
  it('namespaces with the posix launcher', async () => {
    assert.match(await refused(['--isolation=namespaces/pid', '--launcher=posix']), /needs --launcher=linux/);
  });
});

const cgroupLeftovers = () => allCgroupLeftovers(CGROUPS_ROOT);

describe('isolated executors (crun, cgroups, namespaces)', { skip, timeout: 180_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  let agent: StrataProcess;
  let agentPort: number;
  let workDir: string;
  let scheduler: TestScheduler;
  const updates: Event[] = [];

  function startAgent(): Promise<void> {
    agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${agentPort}`,
      `--work_dir=${workDir}`,
      `--isolation=${ISOLATION}`,
      `--cgroups_root=${CGROUPS_ROOT}`,
      '--logging_level=warn',
    ]);
    return agent.waitForHealth(`http://127.0.0.1:${agentPort}/health`, 20_000);
  }

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
    agentPort = await freePort();
    workDir = tempDir('agent-iso');
    await startAgent();
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'iso',
      roles: ['*'],
      checkpoint: true,
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
  });

  after(async () => {
    scheduler?.close();
    await agent?.stop();
    await master?.process.stop();
    // /run/strata/hostroot stays: every agent on the host shares it, and other test files running
    // at the same time may be using it (an agent never removes it either).
    await eventually(
      'cgroups removed',
      () => (cgroupLeftovers().length === 0 ? true : undefined),
      10_000,
    ).catch(() => undefined);
    removeCgroupsRoot(CGROUPS_ROOT);
  });

  /** Launches one command task from the next offer; resolves with its id. */
  async function launch(
    id: string,
    command: string,
    opts: {
      cpus?: number;
      mem?: number;
      labels?: Record<string, string>;
      healthCheck?: MessageInitShape<typeof HealthCheckSchema>;
    } = {},
  ): Promise<string> {
    // The executor's own 0.1 cpus and 32 MB ride on top of the task's.
    const offer = await scheduler.nextFittingOffer({
      cpus: (opts.cpus ?? 0.2) + 0.1,
      mem: (opts.mem ?? 64) + 32,
    });
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
                  command: { value: command },
                  ...(opts.healthCheck ? { healthCheck: opts.healthCheck } : {}),
                  ...(opts.labels
                    ? {
                        labels: {
                          labels: Object.entries(opts.labels).map(([key, value]) => ({ key, value })),
                        },
                      }
                    : {}),
                  resources: [
                    { name: 'cpus', type: 0, scalar: { value: opts.cpus ?? 0.2 } },
                    { name: 'mem', type: 0, scalar: { value: opts.mem ?? 64 } },
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
    return id;
  }

  /** Acknowledges every update of `id` until one in `states` comes (one update is in flight per task). */
  async function until(id: string, states: TaskState[], timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await scheduler.next(
        (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === id,
        Math.max(1, deadline - Date.now()),
        `${id} ${states.map((s) => TaskState[s]).join('|')}`,
      );
      updates.push(event);
      const status = event.update!.status!;
      if (status.uuid.length > 0) {
        await scheduler.call({
          type: Call_Type.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      }
      if (states.includes(status.state)) return status;
      if (isTerminalState(status.state))
        throw new Error(`${id} ended ${TaskState[status.state]} while waiting: ${status.message}`);
    }
  }

  it('the task sees its own pid 1 and no host process', async () => {
    const id = await launch(
      'pidns',
      'n=$(ls /proc | grep -c "^[0-9]"); echo "procs=$n"; test -e /proc/1 && test "$n" -lt 10 && ! test -e /proc/' +
        process.pid,
    );
    const status = await until(id, [TaskState.TASK_FINISHED, TaskState.TASK_FAILED]);
    assert.equal(TaskState[status.state], 'TASK_FINISHED', status.message);
  });

  it('cpu shares follow cpus; pids.max follows the label; devices outside the allow-list give EPERM', async () => {
    const id = await launch(
      'limits',
      'mknod /tmp/strata-mem-$$ c 1 1; head -c1 /tmp/strata-mem-$$ > /tmp/strata-mem-$$.out 2>&1; r=$?; ' +
        'grep -q "Operation not permitted" /tmp/strata-mem-$$.out; g=$?; rm -f /tmp/strata-mem-$$ /tmp/strata-mem-$$.out; ' +
        'test $r -ne 0 && test $g -eq 0 && sleep 30',
      { cpus: 0.5, labels: { STRATA_PIDS_LIMIT: '64' } },
    );
    const running = await until(id, [TaskState.TASK_RUNNING, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
    assert.equal(TaskState[running.state], 'TASK_RUNNING', running.message);
    const containerId = running.containerStatus?.containerId?.value ?? '';
    const layout = detectCgroupLayout();
    const cpuDir = join(layout.controllers.get('cpu')!, CGROUPS_ROOT, containerId);
    // cpus 0.5 + the command executor's 0.1 → 614 shares (1024 per cpu).
    if (layout.version === 1) assert.equal(readFileSync(join(cpuDir, 'cpu.shares'), 'utf8').trim(), '614');
    const pidsDir = join(layout.controllers.get('pids')!, CGROUPS_ROOT, containerId);
    assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '64');
    // The devices check ran before `sleep`: still running means mknod'ed 1:1 could not be opened.
    await scheduler.call({
      type: Call_Type.KILL,
      kill: { taskId: { value: id }, agentId: running.agentId! },
    });
    const end = await until(id, [TaskState.TASK_KILLED, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
    assert.equal(TaskState[end.state], 'TASK_KILLED');
  });

  it('/monitor/statistics and GET_CONTAINERS report the container from its cgroups', async () => {
    // The shell holds ~40 MB in a variable, then sleeps.
    const id = await launch('usage', `x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ready; sleep 60`, {
      cpus: 0.3,
      mem: 256,
    });
    const running = await until(id, [TaskState.TASK_RUNNING, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
    assert.equal(TaskState[running.state], 'TASK_RUNNING', running.message);
    const containerId = running.containerStatus?.containerId?.value ?? '';
    const layout = detectCgroupLayout();
    const memDir = join(layout.controllers.get('memory')!, CGROUPS_ROOT, containerId);
    const v1 = layout.version === 1;
    const cgroupRss = () => {
      const stat = readFileSync(join(memDir, 'memory.stat'), 'utf8');
      const key = v1 ? 'total_rss' : 'anon';
      return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(stat)?.[1]);
    };
    const cgroupLimit = Number(
      readFileSync(join(memDir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), 'utf8').trim(),
    );
    type Stats = Record<
      | 'mem_rss_bytes'
      | 'mem_limit_bytes'
      | 'mem_total_bytes'
      | 'cpus_limit'
      | 'cpus_nr_periods'
      | 'cpus_user_time_secs'
      | 'cpus_system_time_secs'
      | 'processes',
      number
    >;
    const monitor = async (): Promise<Stats | undefined> => {
      const res = await fetch(`http://127.0.0.1:${agentPort}/monitor/statistics`);
      const list = (await res.json()) as { executor_id: string; statistics: Stats }[];
      return list.find((e) => e.executor_id === id)?.statistics;
    };
    // Wait until the allocation shows and has settled (the pipeline that built it has ended), and
    // the agent's figure matches the cgroup's, read right after it.
    let last = '';
    const stats = await eventually(
      'rss of the allocation, as the cgroup reports it',
      async () => {
        const s = await monitor();
        const rss = cgroupRss();
        last = `${s?.mem_rss_bytes} vs cgroup ${rss}`;
        return s && s.mem_rss_bytes > 40_000_000 && Math.abs(s.mem_rss_bytes - rss) < 8 * 1024 * 1024
          ? s
          : undefined;
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
    assert.equal(stats.mem_limit_bytes, cgroupLimit);
    // cpus 0.3 + the command executor's 0.1.
    assert.ok(Math.abs(stats.cpus_limit - 0.4) < 1e-9, String(stats.cpus_limit));
    assert.ok(stats.processes >= 2, JSON.stringify(stats));
    assert.ok(stats.mem_total_bytes >= stats.mem_rss_bytes, JSON.stringify(stats));
    assert.equal(typeof stats.cpus_nr_periods, 'number', JSON.stringify(stats));
    assert.ok(stats.cpus_user_time_secs + stats.cpus_system_time_secs > 0, JSON.stringify(stats));
    // GET_CONTAINERS carries the same figures.
    const res = await fetch(`http://127.0.0.1:${agentPort}/api/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ type: 'GET_CONTAINERS' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      get_containers: { containers: { container_id: { value: string }; resource_statistics?: Stats }[] };
    };
    const entry = body.get_containers.containers.find((c) => c.container_id.value === containerId);
    assert.ok(entry?.resource_statistics, JSON.stringify(body));
    assert.equal(entry.resource_statistics.mem_limit_bytes, cgroupLimit);
    assert.ok(Math.abs(entry.resource_statistics.mem_rss_bytes - cgroupRss()) < 8 * 1024 * 1024);
    assert.ok(Math.abs(entry.resource_statistics.cpus_limit - 0.4) < 1e-9);
    await scheduler.call({
      type: Call_Type.KILL,
      kill: { taskId: { value: id }, agentId: running.agentId! },
    });
    const end = await until(id, [TaskState.TASK_KILLED, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
    assert.equal(TaskState[end.state], 'TASK_KILLED');
  });

  it('a 64 MB task allocating 256 MB fails with the memory reason', async () => {
    const id = await launch('oom', 'dd if=/dev/zero of=/dev/null bs=256M count=1', { mem: 64 });
    const status = await until(id, [TaskState.TASK_FINISHED, TaskState.TASK_FAILED, TaskState.TASK_KILLED]);
    assert.equal(TaskState[status.state], 'TASK_FAILED', status.message);
    assert.equal(TaskStatus_Reason[status.reason], 'CONTAINER_LIMITATION_MEMORY', status.message);
  });

  it('a container outlives an agent restart and its end is reported afterwards', async () => {
    const id = await launch('survivor', 'sleep 4');
    const running = await until(id, [TaskState.TASK_RUNNING]);
    const containerId = running.containerStatus?.containerId?.value ?? '';
    const stateDir = join(workDir, 'runtime', 'containerizer', containerId);
    const pid = Number(readFileSync(join(stateDir, 'pid'), 'utf8'));
    await agent.kill();
    assert.ok(existsSync(`/proc/${pid}`), 'the container survives the agent');
    await startAgent();
    const end = await until(id, [TaskState.TASK_FINISHED, TaskState.TASK_FAILED], 40_000);
    assert.equal(TaskState[end.state], 'TASK_FINISHED', end.message);
    await eventually('container state removed', () => (existsSync(stateDir) ? undefined : true), 15_000);
  });

  it('the command executor is hosted by the agent (tini is pid 1) unless the task has a COMMAND check', async () => {
    const hosted = await launch('hosted', 'tr "\\0" " " < /proc/1/cmdline; echo');
    assert.equal(
      TaskState[(await until(hosted, [TaskState.TASK_FINISHED, TaskState.TASK_FAILED])).state],
      'TASK_FINISHED',
    );
    const checked = await launch('in-container', 'tr "\\0" " " < /proc/1/cmdline; echo; sleep 30', {
      healthCheck: {
        type: 1, // COMMAND: it must run inside the container, so the Node executor runs there
        command: { value: 'test -d /proc/1' },
        delaySeconds: 0,
        intervalSeconds: 0.5,
        gracePeriodSeconds: 5,
      },
    });
    const healthy = await until(checked, [TaskState.TASK_RUNNING, TaskState.TASK_FAILED], 30_000);
    assert.equal(TaskState[healthy.state], 'TASK_RUNNING', healthy.message);
    let status = healthy;
    while (status.healthy !== true) status = await until(checked, [TaskState.TASK_RUNNING], 30_000);
    await scheduler.call({
      type: Call_Type.KILL,
      kill: { taskId: { value: checked }, agentId: status.agentId! },
    });
    await until(checked, [TaskState.TASK_KILLED, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
    const sandboxOf = (taskId: string) => {
      const runs = join(
        workDir,
        'slaves',
        status.agentId!.value,
        'frameworks',
        scheduler.frameworkId,
        'executors',
        taskId,
        'runs',
        'latest',
      );
      return readFileSync(join(runs, 'stdout'), 'utf8');
    };
    assert.match(sandboxOf(hosted), /^\/usr\/bin\/tini-static -g -- \/bin\/sh -c /m);
    assert.match(sandboxOf(checked), /command-executor/);
  });

  it('a hosted task killed at once ends TASK_KILLED, whether or not its container had started', async () => {
    for (const name of ['kill-early-1', 'kill-early-2', 'kill-early-3']) {
      const id = await launch(name, 'sleep 30');
      // Killed as soon as the first update shows: the container may not have started yet.
      const first = await until(id, [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FAILED]);
      const offerAgent = first.agentId!;
      await scheduler.call({ type: Call_Type.KILL, kill: { taskId: { value: id }, agentId: offerAgent } });
      const end = await until(id, [TaskState.TASK_KILLED, TaskState.TASK_FAILED, TaskState.TASK_FINISHED]);
      assert.equal(TaskState[end.state], 'TASK_KILLED', end.message);
    }
  });

  it('cleanup leaves no cgroup, mount or runtime state behind', async () => {
    await eventually(
      'no container cgroups',
      () => (cgroupLeftovers().length === 0 ? true : undefined),
      15_000,
    );
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(workDir), 'no mount below the work dir');
    const states = join(workDir, 'runtime', 'containerizer');
    await eventually(
      'no container state',
      () =>
        !existsSync(states) || readdirSync(states).filter((d) => !d.startsWith('.')).length === 0
          ? true
          : undefined,
      15_000,
    );
  });
});
