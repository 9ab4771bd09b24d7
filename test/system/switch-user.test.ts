/**
 * `--switch_user` (root only): executors and tasks run as the framework's user, or the task's
 * own, with the sandbox handed to that user; with the flag off, as the agent's user; an unknown
 * user fails the launch. Both on a plain agent and on a containerizing one (hosted executor).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectCgroupLayout } from '../../src/containerizer/isolators/cgroups.js';
import {
  FrameworkInfo_Capability_Type,
  TaskState,
  type TaskStatus,
} from '../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { isTerminalState } from '../../src/wire/task-states.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../support/processes.js';
import { TestScheduler } from '../support/scheduler-client.js';

const isRoot = process.getuid?.() === 0;
const hasRuntime = ['/usr/bin/crun', '/usr/sbin/runc', '/usr/bin/runc'].some((p) => existsSync(p));
const skip = !isRoot ? 'needs root (run as root, as CI does): only root may switch users' : false;
if (skip) console.log(`# switch-user system tests skipped: ${skip}`);
const NOBODY_UID = 65534;
const CGROUPS_ROOT = `strata-user-test-${process.pid}`;

describe('--switch_user', { skip, timeout: 120_000 }, () => {
  let master: Awaited<ReturnType<typeof startMasterProcess>>;
  const agents: StrataProcess[] = [];

  before(async () => {
    master = await startMasterProcess(['--allocation_interval=50ms', '--logging_level=warn']);
  });
  after(async () => {
    for (const agent of agents) await agent.stop();
    await master?.process.stop();
    // The runtime leaves the (empty) --cgroups_root directories behind.
    const layout = detectCgroupLayout();
    for (const mount of new Set([
      ...layout.controllers.values(),
      '/sys/fs/cgroup/systemd',
      '/sys/fs/cgroup/unified',
    ]))
      try {
        rmdirSync(join(mount, CGROUPS_ROOT));
      } catch {
        // not there
      }
  });

  async function withAgent(flags: string[]): Promise<{ workDir: string; stop: () => Promise<void> }> {
    const port = await freePort();
    const workDir = tempDir('agent-user');
    // The user must be able to reach its sandbox below the work dir (mkdtemp makes it 0700).
    chmodSync(workDir, 0o755);
    const agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${workDir}`,
      '--logging_level=warn',
      ...flags,
    ]);
    agents.push(agent);
    await agent.waitForHealth(`http://127.0.0.1:${port}/health`, 20_000);
    return {
      workDir,
      stop: async () => {
        await agent.stop();
      },
    };
  }

  /** Runs `command` for a framework of `user` (and the task's own `taskUser`); its end and sandbox. */
  async function run(
    user: string,
    command: string,
    taskUser = '',
  ): Promise<{ status: TaskStatus; sandbox: string }> {
    const scheduler = await new TestScheduler(master.url).subscribe({
      user,
      name: 'who',
      roles: ['*'],
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
    try {
      const offer = await scheduler.nextFittingOffer({ cpus: 0.3, mem: 96 });
      const taskId = `who-${Math.random().toString(36).slice(2, 8)}`;
      const accepted = await scheduler.call({
        type: Call_Type.ACCEPT,
        accept: {
          offerIds: [offer.id!],
          operations: [
            {
              type: 1,
              launch: {
                taskInfos: [
                  {
                    name: taskId,
                    taskId: { value: taskId },
                    agentId: offer.agentId!,
                    command: { value: command, user: taskUser },
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
      assert.equal(accepted.status, 202, accepted.body);
      for (;;) {
        const event = await scheduler.next(
          (e) => e.type === Event_Type.UPDATE && e.update?.status?.taskId?.value === taskId,
          30_000,
          `${taskId} ends`,
        );
        const status = event.update!.status!;
        if (status.uuid.length > 0)
          await scheduler.call({
            type: Call_Type.ACKNOWLEDGE,
            acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
          });
        if (!isTerminalState(status.state)) continue;
        const sandbox = join(
          'slaves',
          status.agentId!.value,
          'frameworks',
          scheduler.frameworkId,
          'executors',
          taskId,
          'runs',
          'latest',
        );
        return { status, sandbox };
      }
    } finally {
      scheduler.close();
    }
  }

  async function check(flags: string[], label: string) {
    const agent = await withAgent(flags);
    try {
      // The framework's user.
      const asNobody = await run('nobody', 'id -u; touch mine');
      assert.equal(TaskState[asNobody.status.state], 'TASK_FINISHED', `${label}: ${asNobody.status.message}`);
      const sandbox = join(agent.workDir, asNobody.sandbox);
      assert.equal(
        readFileSync(join(sandbox, 'stdout'), 'utf8').trim().split('\n').pop(),
        String(NOBODY_UID),
        label,
      );
      assert.equal(statSync(sandbox).uid, NOBODY_UID, `${label}: the sandbox belongs to the user`);
      assert.equal(statSync(join(sandbox, 'mine')).uid, NOBODY_UID, label);
      // The framework's user is root: the task's own user wins.
      const own = await run('root', 'id -u', 'nobody');
      assert.equal(TaskState[own.status.state], 'TASK_FINISHED', `${label}: ${own.status.message}`);
      assert.equal(
        readFileSync(join(agent.workDir, own.sandbox, 'stdout'), 'utf8')
          .trim()
          .split('\n')
          .pop(),
        String(NOBODY_UID),
        label,
      );
      // A user this host does not have.
      const unknown = await run('no-such-user-here', 'true');
      assert.equal(TaskState[unknown.status.state], 'TASK_FAILED', label);
      assert.match(unknown.status.message, /no-such-user-here/, label);
    } finally {
      await agent.stop();
    }
  }

  it('a plain agent runs the executor and task as the framework user, or the task user', async () => {
    await check([], 'posix');
  });

  it('an isolating agent does too (the hosted executor runs the task container as the user)', {
    skip: hasRuntime ? false : 'no crun/runc',
  }, async () => {
    await check(
      [
        '--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/posix',
        `--cgroups_root=${CGROUPS_ROOT}`,
      ],
      'containers',
    );
  });

  it('--switch_user=false runs everything as the agent user', async () => {
    const agent = await withAgent(['--switch_user=false']);
    try {
      const result = await run('nobody', 'id -u');
      assert.equal(TaskState[result.status.state], 'TASK_FINISHED', result.status.message);
      assert.equal(
        readFileSync(join(agent.workDir, result.sandbox, 'stdout'), 'utf8')
          .trim()
          .split('\n')
          .pop(),
        '0',
      );
    } finally {
      await agent.stop();
    }
  });
});
