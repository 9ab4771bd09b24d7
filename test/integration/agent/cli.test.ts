/**
 * `strata agent` as a real process: it waits for a master that is not up yet, registers, serves
 * its endpoints, stops cleanly on SIGTERM (executors shut down, nothing left running, exit 0) and
 * exits non-zero with the master's message when refused.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TaskState } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { AgentToMaster_Type, MasterToAgent_Type } from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { FakeMaster } from '../../support/fake-master.js';
import { freePort, StrataProcess, tempDir } from '../../support/processes.js';

const TEST_EXECUTOR = fileURLToPath(new URL('../../support/test-executor.js', import.meta.url));

/** Pids of processes whose working directory is inside `directory`. */
function processesUnder(directory: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(directory)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

describe('strata agent (process)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function spawnAgent(masterPort: number, extra: string[] = []) {
    const port = await freePort();
    const workDir = tempDir('agent-cli');
    const agent = new StrataProcess(`agent:${port}`, [
      'agent',
      `--master=127.0.0.1:${masterPort}`,
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${workDir}`,
      '--resources=cpus:2;mem:512;disk:512',
      '--registration_backoff_factor=50ms',
      '--switch_user=false', // the fake frameworks' users do not exist here
      ...extra,
    ]);
    cleanups.push(async () => {
      await agent.stop(2000);
      for (const pid of processesUnder(workDir)) process.kill(pid, 'SIGKILL');
      rmSync(workDir, { recursive: true, force: true });
    });
    return { agent, port, workDir, url: `http://127.0.0.1:${port}` };
  }

  it('waits for a master that is down, registers once it is up, and stops cleanly on SIGTERM', async () => {
    const masterPort = await freePort();
    const { agent, url, workDir } = await spawnAgent(masterPort, ['--executor_shutdown_grace_period=1secs']);
    await agent.waitForHealth(`${url}/health`);
    // Nobody listens yet: the agent keeps trying and says so.
    const deadline = Date.now() + 10_000;
    while (!agent.output.includes('is not reachable') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(agent.output, /is not reachable/);
    assert.ok(agent.running);

    const master = new FakeMaster();
    await master.start(masterPort);
    cleanups.push(() => master.stop());
    await master.nextOfType(AgentToMaster_Type.REGISTER, 15_000);

    const flags = (await (await fetch(`${url}/slave(1)/flags`)).json()) as { flags: Record<string, string> };
    assert.equal(flags.flags.master, `127.0.0.1:${masterPort}`);
    assert.equal(flags.flags.executor_shutdown_grace_period, '1secs');
    const version = (await (await fetch(`${url}/version`)).json()) as { version: string };
    assert.equal(version.version, '1.11.0');
    assert.equal((await fetch(`${url}/flags`, { method: 'POST' })).status, 405);

    master.send({
      type: MasterToAgent_Type.RUN_TASK,
      runTask: {
        frameworkInfo: { user: 'tester', name: 'cli', id: { value: 'fw-cli' } },
        task: {
          name: 'long',
          taskId: { value: 'long' },
          agentId: { value: master.agentId },
          executor: {
            executorId: { value: 'cli-exec' },
            command: { value: `exec "${process.execPath}" "${TEST_EXECUTOR}"` },
          },
        },
      },
    });
    const starting = await master.next(
      (m) =>
        m.type === AgentToMaster_Type.STATUS_UPDATE &&
        m.statusUpdate?.status?.state === TaskState.TASK_STARTING,
      15_000,
      'TASK_STARTING',
    );
    master.send({
      type: MasterToAgent_Type.ACKNOWLEDGE,
      acknowledge: {
        frameworkId: { value: 'fw-cli' },
        taskId: { value: 'long' },
        uuid: starting.statusUpdate!.status!.uuid,
      },
    });
    const running = await master.next(
      (m) =>
        m.type === AgentToMaster_Type.STATUS_UPDATE &&
        m.statusUpdate?.status?.state === TaskState.TASK_RUNNING,
      15_000,
      'TASK_RUNNING',
    );
    master.send({
      type: MasterToAgent_Type.ACKNOWLEDGE,
      acknowledge: {
        frameworkId: { value: 'fw-cli' },
        taskId: { value: 'long' },
        uuid: running.statusUpdate!.status!.uuid,
      },
    });
    assert.ok(processesUnder(workDir).length > 0, 'the executor runs in its sandbox');
    // Let the acknowledgement land, so the TASK_KILLED of the shutdown is not queued behind RUNNING.
    await new Promise((r) => setTimeout(r, 300));

    const code = await agent.stop(15_000);
    assert.equal(code, 0, agent.output);
    // It leaves the master after its executors are gone (their TASK_KILLED went out first).
    await master.nextOfType(AgentToMaster_Type.UNREGISTER, 1000);
    const killed = master.messages.find(
      (m) =>
        m.type === AgentToMaster_Type.STATUS_UPDATE &&
        m.statusUpdate?.status?.state === TaskState.TASK_KILLED,
    );
    assert.ok(killed, 'the executor reported its task killed on SHUTDOWN');
    assert.deepEqual(processesUnder(workDir), [], 'no executor outlives the agent');
  });

  it("exits with status 1 and the master's message when the master refuses it", async () => {
    const master = new FakeMaster();
    master.refuseWith = 'Agent version is not supported';
    await master.start();
    cleanups.push(() => master.stop());
    const { agent } = await spawnAgent(master.port);
    const code = await Promise.race([
      agent.waitForExit(),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 15_000).unref()),
    ]);
    assert.equal(code, 1, agent.output);
    assert.match(
      agent.output,
      /strata agent: Registration refused by the master: Agent version is not supported/,
    );
  });
});
