/**
 * The real agent (in process, real executors) against a fake master: the `/files` endpoints and
 * LIST_FILES / READ_FILE over a running task's sandbox (including refused escapes), `/state`,
 * `/metrics/snapshot` and GET_METRICS, `/monitor/statistics`, stdout rotation through the
 * logrotate container logger, and sandbox garbage collection.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { agentFlags } from '../../../src/agent/flags.js';
import { type RunningAgent, startAgent } from '../../../src/agent/process.js';
import { parseOptions } from '../../../src/common/options.js';
import {
  type FrameworkInfoSchema,
  TaskInfoSchema,
  TaskState,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  MasterToAgent_Type,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { FakeMaster } from '../../support/fake-master.js';

const FRAMEWORK_ID = 'fw-files';
const frameworkInfo: MessageInitShape<typeof FrameworkInfoSchema> = {
  user: 'tester',
  name: 'sandbox-tests',
  id: { value: FRAMEWORK_ID },
};
const commandExecutorBuilt = existsSync(
  fileURLToPath(new URL('../../../src/executors/command-executor.js', import.meta.url)),
);

const isUpdate = (taskId: string, state: TaskState) => (m: AgentToMaster) =>
  m.type === AgentToMaster_Type.STATUS_UPDATE &&
  m.statusUpdate?.status?.taskId?.value === taskId &&
  m.statusUpdate.status.state === state;

interface TestAgent {
  master: FakeMaster;
  agent: RunningAgent;
  workDir: string;
  url: string;
}

async function startTestAgent(extra: string[] = []): Promise<TestAgent> {
  const master = new FakeMaster();
  await master.start();
  const workDir = mkdtempSync(join(tmpdir(), 'strata-sandbox-test-'));
  const flags = parseOptions(agentFlags, [
    '--switch_user=false', // the fake frameworks' users do not exist here
    `--master=127.0.0.1:${master.port}`,
    '--ip=127.0.0.1',
    '--port=0',
    `--work_dir=${workDir}`,
    '--resources=cpus:4;mem:2048;disk:4096;ports:[31000-31010]',
    '--registration_backoff_factor=20ms',
    '--executor_shutdown_grace_period=2secs',
    ...extra,
  ]).values;
  const agent = await startAgent(flags, {
    installSignalHandlers: false,
    logger: pino({ level: process.env.STRATA_TEST_LOG ?? 'silent' }),
    statusUpdateRetry: { minMs: 300, maxMs: 1200 },
    killEscalationMs: 500,
  });
  await master.nextOfType(AgentToMaster_Type.REGISTER);
  for (let i = 0; i < 100 && agent.agentId() === undefined; i++) await sleep(20);
  return { master, agent, workDir, url: `http://127.0.0.1:${agent.address.port}` };
}

async function stopTestAgent(t: TestAgent | undefined): Promise<void> {
  if (!t) return;
  await t.agent.close();
  await t.master.stop();
  rmSync(t.workDir, { recursive: true, force: true });
}

async function expectUpdate(t: TestAgent, taskId: string, state: TaskState): Promise<AgentToMaster> {
  const message = await t.master.next(isUpdate(taskId, state), 15_000, `${TaskState[state]} for ${taskId}`);
  const update = message.statusUpdate!;
  t.master.send({
    type: MasterToAgent_Type.ACKNOWLEDGE,
    acknowledge: {
      frameworkId: update.frameworkId,
      taskId: update.status!.taskId!,
      uuid: update.status!.uuid,
    },
  });
  return message;
}

function runCommandTask(t: TestAgent, taskId: string, command: string, mem = 64): void {
  t.master.send({
    type: MasterToAgent_Type.RUN_TASK,
    runTask: {
      frameworkInfo,
      task: create(TaskInfoSchema, {
        name: taskId,
        taskId: { value: taskId },
        agentId: { value: 'fake-master-S0' },
        resources: [
          { name: 'cpus', type: 0, scalar: { value: 0.5 }, allocationInfo: { role: '*' } },
          { name: 'mem', type: 0, scalar: { value: mem }, allocationInfo: { role: '*' } },
        ],
        command: { value: command },
      }),
    },
  });
}

async function getJson(url: string): Promise<{ status: number; body: unknown; text: string; res: Response }> {
  const res = await fetch(url);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, res };
}

async function operatorCall(
  t: TestAgent,
  call: object,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${t.url}/api/v1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(call),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

type StateJson = {
  frameworks: { executors: { id: string; directory: string; resources: Record<string, unknown> }[] }[];
  completed_frameworks: { completed_executors: { id: string; directory: string }[] }[];
} & Record<string, unknown>;

async function sandboxOf(t: TestAgent, executorId: string): Promise<string> {
  const state = (await getJson(`${t.url}/state`)).body as StateJson;
  const executor = [
    ...state.frameworks.flatMap((f) => f.executors),
    ...state.completed_frameworks.flatMap((f) => f.completed_executors),
  ].find((e) => e.id === executorId);
  assert.ok(executor, `executor ${executorId} in /state`);
  return executor.directory;
}

const q = encodeURIComponent;

describe('agent sandboxes, files and monitoring endpoints', { skip: !commandExecutorBuilt }, () => {
  let t: TestAgent;
  let sandbox: string;
  const TASK = 'files-task';
  const virtual = `/frameworks/${FRAMEWORK_ID}/executors/${TASK}/runs/latest`;
  let outside: string;

  before(async () => {
    t = await startTestAgent();
    outside = mkdtempSync(join(tmpdir(), 'strata-outside-'));
    writeFileSync(join(outside, 'secret'), 'do not read me');
    runCommandTask(t, TASK, "printf 'hello from the task\\n'; printf 'oops\\n' >&2; exec sleep 60");
    await expectUpdate(t, TASK, TaskState.TASK_STARTING);
    await expectUpdate(t, TASK, TaskState.TASK_RUNNING);
    sandbox = await sandboxOf(t, TASK);
    await waitFor('the task output', () =>
      readFileSync(join(sandbox, 'stdout'), 'utf8').includes('hello from the task') ? true : undefined,
    );
  });

  after(async () => {
    await stopTestAgent(t);
    rmSync(outside, { recursive: true, force: true });
  });

  afterEach(() => t.master.drain());

  it('browses the sandbox by its virtual, real and runs/latest paths', async () => {
    for (const path of [virtual, sandbox, join(sandbox, '..', 'latest')]) {
      const { status, body } = await getJson(`${t.url}/files/browse?path=${q(path)}`);
      assert.equal(status, 200, path);
      const listing = body as { path: string; size: number; mode: string; nlink: number; mtime: number }[];
      const stdout = listing.find((e) => e.path === `${path}/stdout`);
      assert.ok(stdout, `stdout listed under ${path}`);
      assert.equal(stdout.mode[0], '-');
      assert.ok(listing.some((e) => e.path === `${path}/stderr`));
      assert.deepEqual(Object.keys(stdout).sort(), ['gid', 'mode', 'mtime', 'nlink', 'path', 'size', 'uid']);
    }
    const alias = await getJson(`${t.url}/files/browse.json?path=${q(virtual)}`);
    assert.equal(alias.status, 200);
  });

  it("reads a task's stdout with offset and length, and offset=-1 gives the size", async () => {
    const size = statSync(join(sandbox, 'stdout')).size;
    const whole = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=0`);
    assert.equal(whole.status, 200);
    assert.equal(whole.res.headers.get('content-type'), 'application/json');
    assert.deepEqual(whole.body, { offset: 0, data: readFileSync(join(sandbox, 'stdout'), 'utf8') });

    const tail = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=-1`);
    assert.deepEqual(tail.body, { offset: size, data: '' });
    const noOffset = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}`);
    assert.deepEqual(noOffset.body, { offset: size, data: '' });

    const slice = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=6&length=4`);
    assert.deepEqual(slice.body, { offset: 6, data: 'from' });
    const past = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=100000&length=10`);
    assert.deepEqual(past.body, { offset: 100000, data: '' });
    const jsonp = await getJson(
      `${t.url}/files/read.json?path=${q(`${virtual}/stdout`)}&offset=0&length=6&jsonp=cb`,
    );
    assert.equal(jsonp.res.headers.get('content-type'), 'text/javascript');
    assert.equal(jsonp.text, 'cb({"offset":0,"data":"hello "});');
  });

  it('answers bad reads with Mesos texts', async () => {
    const missing = await getJson(`${t.url}/files/read?offset=0`);
    assert.equal(missing.status, 400);
    assert.equal(missing.text, "Expecting 'path=value' in query.\n");
    const negative = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=-2`);
    assert.equal(negative.status, 400);
    assert.equal(negative.text, 'Negative offset provided: -2.\n');
    const garbage = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&length=x`);
    assert.equal(garbage.status, 400);
    assert.match(garbage.text, /^Failed to parse length/);
    const directory = await getJson(`${t.url}/files/read?path=${q(virtual)}&offset=0`);
    assert.equal(directory.status, 400);
    assert.equal(directory.text, 'Cannot read a directory.\n');
    const unknown = await getJson(`${t.url}/files/read?path=${q(`${virtual}/nope`)}&offset=0`);
    assert.equal(unknown.status, 404);
  });

  it('downloads a file with its name and length', async () => {
    const res = await fetch(`${t.url}/files/download?path=${q(`${virtual}/stdout`)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename=stdout');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const body = Buffer.from(await res.arrayBuffer());
    assert.deepEqual(body, readFileSync(join(sandbox, 'stdout')));
    assert.equal(Number(res.headers.get('content-length')), body.length);
    const dir = await getJson(`${t.url}/files/download?path=${q(virtual)}`);
    assert.equal(dir.status, 400);
    assert.equal(dir.text, 'Cannot download a directory.\n');
  });

  it('refuses paths that escape the sandbox: .., absolute paths, symlinks out', async () => {
    symlinkSync(join(outside, 'secret'), join(sandbox, 'secret-link'));
    symlinkSync(outside, join(sandbox, 'outside-dir'));
    symlinkSync('stdout', join(sandbox, 'inside-link'));
    const cases: Array<[string, number]> = [
      [`${virtual}/..`, 400],
      [`${virtual}/${'../'.repeat(30)}etc/passwd`, 400],
      [`${sandbox}/../${TASK}-elsewhere`, 404],
      [`${virtual}/secret-link`, 400],
      [`${virtual}/outside-dir/secret`, 400],
      ['/etc/passwd', 404],
      [join(outside, 'secret'), 404],
      [`/frameworks/${FRAMEWORK_ID}/../../etc/passwd`, 404],
    ];
    for (const [path, status] of cases) {
      for (const endpoint of ['read', 'download', 'browse']) {
        const res = await getJson(`${t.url}/files/${endpoint}?path=${q(path)}&offset=0`);
        assert.equal(res.status, status, `${endpoint} ${path}: ${res.text}`);
        assert.ok(!res.text.includes('do not read me'), `${endpoint} ${path} leaked the secret`);
        if (status === 400) assert.match(res.text, /inaccessible/);
      }
    }
    // A link that stays inside is fine, and the listing shows the outside links only as links.
    const inside = await getJson(`${t.url}/files/read?path=${q(`${virtual}/inside-link`)}&offset=0&length=5`);
    assert.deepEqual(inside.body, { offset: 0, data: 'hello' });
    const listing = (await getJson(`${t.url}/files/browse?path=${q(virtual)}`)).body as {
      path: string;
      mode: string;
    }[];
    assert.equal(listing.find((e) => e.path.endsWith('/secret-link'))?.mode[0], 'l');
    assert.equal(listing.find((e) => e.path.endsWith('/outside-dir'))?.mode[0], 'l');
  });

  it('shows attached paths in /files/debug', async () => {
    const { status, body } = await getJson(`${t.url}/files/debug`);
    assert.equal(status, 200);
    const table = body as Record<string, string>;
    assert.ok(table[virtual], 'the virtual path is attached');
    assert.ok(table[sandbox], 'the real path is attached');
  });

  it('serves LIST_FILES and READ_FILE on /api/v1, with 404 for unknown paths', async () => {
    const list = await operatorCall(t, { type: 'LIST_FILES', list_files: { path: virtual } });
    assert.equal(list.status, 200, list.text);
    const infos = (
      list.body as { type: string; list_files: { file_infos: { path: string; mode: number }[] } }
    ).list_files.file_infos;
    assert.equal((list.body as { type: string }).type, 'LIST_FILES');
    const stdout = infos.find((i) => i.path === `${virtual}/stdout`);
    assert.ok(stdout);
    assert.equal(typeof stdout.mode, 'number');

    const read = await operatorCall(t, {
      type: 'READ_FILE',
      read_file: { path: `${virtual}/stdout`, offset: 6 },
    });
    assert.equal(read.status, 200, read.text);
    const file = (read.body as { read_file: { size: number; data: string } }).read_file;
    assert.equal(file.size, statSync(join(sandbox, 'stdout')).size);
    assert.equal(Buffer.from(file.data, 'base64').toString(), 'from the task\n');
    const limited = await operatorCall(t, {
      type: 'READ_FILE',
      read_file: { path: `${virtual}/stdout`, offset: 0, length: 5 },
    });
    const limitedData = (limited.body as { read_file: { data: string } }).read_file.data;
    assert.equal(Buffer.from(limitedData, 'base64').toString(), 'hello');

    for (const call of [
      { type: 'LIST_FILES', list_files: { path: '/no/such/path' } },
      { type: 'READ_FILE', read_file: { path: '/no/such/path', offset: 0 } },
      { type: 'READ_FILE', read_file: { path: `${virtual}/missing`, offset: 0 } },
    ]) {
      assert.equal((await operatorCall(t, call)).status, 404, JSON.stringify(call));
    }
    const escaping = await operatorCall(t, {
      type: 'READ_FILE',
      read_file: { path: `${virtual}/secret-link`, offset: 0 },
    });
    assert.equal(escaping.status, 400);
    const directory = await operatorCall(t, { type: 'READ_FILE', read_file: { path: virtual, offset: 0 } });
    assert.equal(directory.status, 400);
    const bare = await operatorCall(t, { type: 'LIST_FILES' });
    assert.equal(bare.status, 400);
    assert.equal(bare.text, "Failed to validate agent::Call: Expecting 'list_files' to be present");
  });

  it('has the /state keys of reference section 5.4, with executor directories', async () => {
    const state = (await getJson(`${t.url}/slave(1)/state`)).body as StateJson;
    for (const key of [
      'version',
      'build_date',
      'build_time',
      'build_user',
      'start_time',
      'id',
      'pid',
      'hostname',
      'capabilities',
      'resources',
      'reserved_resources',
      'unreserved_resources',
      'reserved_resources_full',
      'unreserved_resources_full',
      'reserved_resources_allocated',
      'unreserved_resources_allocated',
      'resource_providers',
      'attributes',
      'master_hostname',
      'flags',
      'frameworks',
      'completed_frameworks',
    ]) {
      assert.ok(key in state, `/state has ${key}`);
    }
    const framework = (state.frameworks as unknown as Record<string, unknown>[])[0]!;
    assert.deepEqual(Object.keys(framework), [
      'id',
      'name',
      'user',
      'failover_timeout',
      'checkpoint',
      'hostname',
      'role',
      'executors',
      'completed_executors',
    ]);
    const executor = (framework.executors as Record<string, unknown>[])[0]!;
    assert.deepEqual(Object.keys(executor), [
      'id',
      'name',
      'source',
      'container',
      'directory',
      'resources',
      'role',
      'tasks',
      'queued_tasks',
      'completed_tasks',
    ]);
    assert.equal(executor.directory, sandbox);
    // The command executor's allowance (0.1 cpus, 32 MB) plus its task's resources.
    assert.equal((executor.resources as { cpus: number }).cpus, 0.6);
    assert.equal((executor.resources as { mem: number }).mem, 96);
    const task = (executor.tasks as Record<string, unknown>[])[0]!;
    assert.deepEqual(Object.keys(task).slice(0, 9), [
      'id',
      'name',
      'framework_id',
      'executor_id',
      'slave_id',
      'state',
      'resources',
      'role',
      'statuses',
    ]);
    assert.equal(task.executor_id, '');
    assert.equal((state.flags as Record<string, string>).gc_delay, '1weeks');
  });

  it('reports slave/* metrics on /metrics/snapshot and through GET_METRICS', async () => {
    const { status, body } = await getJson(`${t.url}/metrics/snapshot`);
    assert.equal(status, 200);
    const metrics = body as Record<string, number>;
    for (const key of [
      'slave/uptime_secs',
      'slave/registered',
      'slave/frameworks_active',
      'slave/tasks_staging',
      'slave/tasks_starting',
      'slave/tasks_running',
      'slave/tasks_killing',
      'slave/tasks_finished',
      'slave/tasks_failed',
      'slave/tasks_killed',
      'slave/tasks_lost',
      'slave/tasks_gone',
      'slave/executors_registering',
      'slave/executors_running',
      'slave/executors_terminating',
      'slave/executors_terminated',
      'slave/valid_status_updates',
      'slave/invalid_status_updates',
      'slave/container_launch_errors',
      'slave/executor_directory_max_allowed_age_secs',
      'slave/cpus_total',
      'slave/cpus_used',
      'slave/cpus_percent',
      'slave/mem_total',
      'slave/mem_used',
      'slave/mem_percent',
      'slave/disk_total',
      'slave/disk_used',
      'slave/disk_percent',
      'slave/gpus_total',
      'system/cpus_total',
      'system/mem_total_bytes',
    ]) {
      assert.equal(typeof metrics[key], 'number', key);
    }
    assert.equal(metrics['slave/registered'], 1);
    assert.ok(metrics['slave/tasks_running']! >= 1);
    assert.ok(metrics['slave/executors_running']! >= 1);
    assert.equal(metrics['slave/cpus_total'], 4);
    assert.ok(Math.abs(metrics['slave/cpus_used']! - 0.6) < 1e-9);
    assert.ok(Math.abs(metrics['slave/cpus_percent']! - 0.15) < 1e-9);
    assert.ok(metrics['slave/valid_status_updates']! >= 2);
    // Doubles are written Mesos' way.
    const text = (await getJson(`${t.url}/metrics/snapshot`)).text;
    assert.match(text, /"slave\/registered":1\.0/);

    const api = await operatorCall(t, { type: 'GET_METRICS', get_metrics: {} });
    assert.equal(api.status, 200, api.text);
    const list = (api.body as { get_metrics: { metrics: { name: string; value?: number }[] } }).get_metrics
      .metrics;
    assert.equal(list.find((m) => m.name === 'slave/registered')?.value, 1);
    const bare = await operatorCall(t, { type: 'GET_METRICS' });
    assert.equal(bare.status, 400);
  });

  it("lists a running task's usage on /monitor/statistics", async () => {
    const { status, body } = await getJson(`${t.url}/monitor/statistics`);
    assert.equal(status, 200);
    const entries = body as {
      executor_id: string;
      executor_name: string;
      framework_id: string;
      source: string;
      statistics: Record<string, number>;
    }[];
    const entry = entries.find((e) => e.executor_id === TASK);
    assert.ok(entry, JSON.stringify(entries));
    assert.equal(entry.framework_id, FRAMEWORK_ID);
    assert.equal(entry.source, TASK);
    assert.match(entry.executor_name, /^Command Executor/);
    const stats = entry.statistics;
    assert.ok(Math.abs(stats.timestamp! - Date.now() / 1000) < 60);
    assert.ok(stats.mem_rss_bytes! > 1024 * 1024, 'the executor and its task use memory');
    assert.ok(stats.cpus_user_time_secs! >= 0);
    assert.ok(stats.cpus_system_time_secs! >= 0);
    assert.ok(Math.abs(stats.cpus_limit! - 0.6) < 1e-9);
    assert.equal(stats.mem_limit_bytes, 96 * 1024 * 1024);
    assert.ok(stats.processes! >= 2, 'the executor and the sleeping task');
    const alias = await getJson(`${t.url}/slave(1)/monitor/statistics.json`);
    assert.equal(alias.status, 200);
  });

  it('counts a killed task, and keeps the sandbox readable after the executor is gone', async () => {
    t.master.send({
      type: MasterToAgent_Type.KILL_TASK,
      killTask: { frameworkId: { value: FRAMEWORK_ID }, taskId: { value: TASK } },
    });
    await expectUpdate(t, TASK, TaskState.TASK_KILLED);
    const metrics = await waitFor('the executor to terminate', async () => {
      const m = (await getJson(`${t.url}/metrics/snapshot`)).body as Record<string, number>;
      return m['slave/executors_terminated']! >= 1 ? m : undefined;
    });
    assert.equal(metrics['slave/tasks_killed'], 1);
    const read = await getJson(`${t.url}/files/read?path=${q(`${virtual}/stdout`)}&offset=0&length=5`);
    assert.deepEqual(read.body, { offset: 0, data: 'hello' });
    const usage = (await getJson(`${t.url}/monitor/statistics`)).body as { executor_id: string }[];
    assert.ok(!usage.some((e) => e.executor_id === TASK));
  });
});

describe('stdout rotation with --container_logger=logrotate', { skip: !commandExecutorBuilt }, () => {
  let t: TestAgent;
  before(async () => {
    t = await startTestAgent([
      '--container_logger=logrotate',
      '--logrotate_max_stdout_size=4KB',
      '--logrotate_stdout_options=rotate 2',
    ]);
  });
  after(() => stopTestAgent(t));

  it('rotates stdout by size, keeps two old files, and its loggers end with the task', async () => {
    const line = 'x'.repeat(60);
    runCommandTask(
      t,
      'noisy',
      `i=0; while [ $i -lt 300 ]; do echo "line $i ${line}"; i=$((i+1)); done; echo to-stderr >&2; exec sleep 60`,
    );
    await expectUpdate(t, 'noisy', TaskState.TASK_STARTING);
    await expectUpdate(t, 'noisy', TaskState.TASK_RUNNING);
    const sandbox = await sandboxOf(t, 'noisy');
    await waitFor('the last line', () =>
      existsSync(join(sandbox, 'stdout')) &&
      readFileSync(join(sandbox, 'stdout'), 'utf8').includes('line 299')
        ? true
        : undefined,
    );
    const names = readdirSync(sandbox)
      .filter((n) => n.startsWith('stdout'))
      .sort();
    assert.deepEqual(names, ['stdout', 'stdout.1', 'stdout.2']);
    for (const name of names) assert.ok(statSync(join(sandbox, name)).size <= 4096, name);
    assert.equal(statSync(join(sandbox, 'stdout.1')).size, 4096);
    // What is kept is the end of the output, without gaps.
    const kept = ['stdout.2', 'stdout.1', 'stdout']
      .map((n) => readFileSync(join(sandbox, n), 'utf8'))
      .join('');
    assert.ok(kept.endsWith(`line 299 ${line}\n`));
    const full = Array.from({ length: 300 }, (_, i) => `line ${i} ${line}\n`).join('');
    assert.ok(full.endsWith(kept));
    await waitFor('stderr', () =>
      existsSync(join(sandbox, 'stderr')) &&
      readFileSync(join(sandbox, 'stderr'), 'utf8').includes('to-stderr')
        ? true
        : undefined,
    );

    // The /files endpoints see the rotated files like any other.
    const listing = (await getJson(`${t.url}/files/browse?path=${q(sandbox)}`)).body as { path: string }[];
    assert.ok(listing.some((e) => e.path === `${sandbox}/stdout.2`));

    const loggers = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`--path=${sandbox}/`);
          } catch {
            return false;
          }
        });
    assert.equal(loggers().length, 2, 'one companion per stream');
    t.master.send({
      type: MasterToAgent_Type.KILL_TASK,
      killTask: { frameworkId: { value: FRAMEWORK_ID }, taskId: { value: 'noisy' } },
    });
    await expectUpdate(t, 'noisy', TaskState.TASK_KILLED);
    await waitFor('the companions to exit', () => (loggers().length === 0 ? true : undefined));
  });
});

describe('sandbox garbage collection', { skip: !commandExecutorBuilt }, () => {
  let t: TestAgent;
  before(async () => {
    t = await startTestAgent(['--gc_delay=2secs', '--disk_watch_interval=1secs']);
  });
  after(() => stopTestAgent(t));

  it('deletes a completed executor sandbox after --gc_delay, and /files then answers 404', async () => {
    runCommandTask(t, 'short', 'echo done');
    await expectUpdate(t, 'short', TaskState.TASK_STARTING);
    await expectUpdate(t, 'short', TaskState.TASK_RUNNING);
    await expectUpdate(t, 'short', TaskState.TASK_FINISHED);
    const sandbox = await sandboxOf(t, 'short');
    const executorDir = join(sandbox, '..', '..');
    assert.ok(existsSync(sandbox));
    await waitFor('the sandbox to be collected', () => (existsSync(sandbox) ? undefined : true), 15_000);
    await waitFor(
      'the executor directory to be collected',
      () => (existsSync(executorDir) ? undefined : true),
      15_000,
    );
    const read = await getJson(
      `${t.url}/files/read?path=${q(`/frameworks/${FRAMEWORK_ID}/executors/short/runs/latest/stdout`)}&offset=0`,
    );
    assert.equal(read.status, 404);
    const metrics = (await getJson(`${t.url}/metrics/snapshot`)).body as Record<string, number>;
    assert.ok(metrics['slave/executor_directory_max_allowed_age_secs']! <= 2);
  });
});
