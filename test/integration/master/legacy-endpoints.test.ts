/**
 * Reference mesos-v1-api.md sections 1.2, 5.3 and 8.6 (L1-L13): the legacy JSON endpoints tools
 * scrape, against an in-process master with one spec-written scheduler and one agent simulated
 * over strata-link/1 (REGISTER, then status updates as an agent would send them).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { RunningMaster } from '../../../src/master/process.js';
import {
  AgentInfo_Capability_Type,
  FrameworkInfo_Capability_Type,
  Offer_Operation_Type,
  Resource_ReservationInfo_Type,
  TaskState,
  TaskStatus_Source,
  Value_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import {
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
  MasterToAgentSchema,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { connectLink, type LinkConnection } from '../../../src/wire/link.js';
import { startTestMaster } from '../../support/master.js';
import { post, TestScheduler, withTimeout } from '../../support/scheduler-client.js';

type JsonObject = Record<string, unknown>;

interface Fetched {
  status: number;
  contentType: string | null;
  location: string | null;
  text: string;
}

const STATE_KEYS = [
  'version',
  'build_date',
  'build_time',
  'build_user',
  'start_time',
  'elected_time',
  'id',
  'pid',
  'hostname',
  'capabilities',
  'activated_slaves',
  'deactivated_slaves',
  'unreachable_slaves',
  'leader',
  'leader_info',
  'cluster',
  'flags',
  'slaves',
  'recovered_slaves',
  'frameworks',
  'completed_frameworks',
  'orphan_tasks',
  'unregistered_frameworks',
];
const AGENT_KEYS = [
  'id',
  'hostname',
  'port',
  'attributes',
  'pid',
  'registered_time',
  'resources',
  'used_resources',
  'offered_resources',
  'reserved_resources',
  'unreserved_resources',
  'active',
  'deactivated',
  'version',
  'capabilities',
];
const AGENT_FULL_KEYS = [
  'reserved_resources_full',
  'unreserved_resources_full',
  'used_resources_full',
  'offered_resources_full',
];
const FRAMEWORK_SUMMARY_KEYS = [
  'id',
  'name',
  'used_resources',
  'offered_resources',
  'capabilities',
  'hostname',
  'webui_url',
  'active',
  'connected',
  'recovered',
];
const FRAMEWORK_KEYS = [
  ...FRAMEWORK_SUMMARY_KEYS,
  'user',
  'failover_timeout',
  'checkpoint',
  'registered_time',
  'unregistered_time',
  'principal',
  'resources',
  'roles',
  'tasks',
  'unreachable_tasks',
  'completed_tasks',
  'offers',
  'executors',
  'labels',
  'offer_constraints',
  // Strata extension: the allocator's reasons for the last cycle, counted (STRATA_EXPLAIN_OFFERS).
  'strata_offer_summary',
];
const TASK_KEYS = [
  'id',
  'name',
  'framework_id',
  'executor_id',
  'slave_id',
  'state',
  'resources',
  'role',
  'statuses',
  'user',
];
const SUMMARY_COUNTS = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_KILLED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_UNREACHABLE',
];
const RESOURCE_SUMMARY_KEYS = ['cpus', 'gpus', 'mem', 'disk'];

const sorted = (keys: Iterable<string>) => [...keys].sort();

function assertKeys(value: unknown, expected: readonly string[], what: string): asserts value is JsonObject {
  assert.equal(typeof value, 'object', `${what} is an object`);
  assert.deepEqual(sorted(Object.keys(value as JsonObject)), sorted(expected), `${what} keys`);
}

function assertSummary(value: unknown, what: string, extra: readonly string[] = []): void {
  assertKeys(value, [...RESOURCE_SUMMARY_KEYS, ...extra], what);
  for (const key of RESOURCE_SUMMARY_KEYS)
    assert.equal(typeof (value as JsonObject)[key], 'number', `${what}.${key}`);
}

/** A simulated agent: registers over the link, answers pings, records what the master sends. */
class TestAgent {
  agentId = '';
  readonly received: MasterToAgent[] = [];
  private readonly waiters: Array<{ match: (m: MasterToAgent) => boolean; resolve: () => void }> = [];

  private constructor(readonly link: LinkConnection<typeof MasterToAgentSchema, typeof AgentToMasterSchema>) {
    link.attach({
      onMessage: (message) => {
        if (message.type === MasterToAgent_Type.PING) {
          link.send(
            create(AgentToMasterSchema, {
              type: AgentToMaster_Type.PONG,
              pong: { sequence: message.ping?.sequence ?? 0n },
            }),
          );
          return;
        }
        this.received.push(message);
        for (const waiter of this.waiters.splice(0)) {
          if (waiter.match(message)) waiter.resolve();
          else this.waiters.push(waiter);
        }
      },
      onClose: () => {},
    });
  }

  static async register(port: number, hostname: string): Promise<TestAgent> {
    const link = await connectLink('127.0.0.1', port, MasterToAgentSchema, AgentToMasterSchema);
    const agent = new TestAgent(link);
    const registered = agent.until((m) => m.type === MasterToAgent_Type.REGISTERED);
    const scalar = (name: string, value: number) => ({ name, type: Value_Type.SCALAR, scalar: { value } });
    link.send(
      create(AgentToMasterSchema, {
        type: AgentToMaster_Type.REGISTER,
        register: {
          agentInfo: {
            hostname,
            port: 5051,
            resources: [
              scalar('cpus', 4),
              scalar('mem', 4096),
              scalar('disk', 10240),
              { name: 'ports', type: Value_Type.RANGES, ranges: { range: [{ begin: 31000n, end: 32000n }] } },
              {
                ...scalar('cpus', 1),
                reservations: [{ type: Resource_ReservationInfo_Type.STATIC, role: 'eng' }],
              },
            ],
            attributes: [{ name: 'rack', type: Value_Type.TEXT, text: { value: 'r1' } }],
          },
          capabilities: [{ type: AgentInfo_Capability_Type.MULTI_ROLE }],
          version: '0.1.0',
          pid: 'slave(1)@127.0.0.1:5051',
          address: { hostname, ip: '127.0.0.1', port: 5051 },
        },
      }),
    );
    await registered;
    const message = agent.received.find((m) => m.type === MasterToAgent_Type.REGISTERED);
    agent.agentId = message?.registered?.agentId?.value ?? '';
    return agent;
  }

  until(match: (m: MasterToAgent) => boolean, what = 'a message from the master'): Promise<void> {
    if (this.received.some(match)) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.waiters.push({ match, resolve })), 10_000, what);
  }

  runTasks(): string[] {
    return this.received
      .filter((m) => m.type === MasterToAgent_Type.RUN_TASK)
      .map((m) => m.runTask?.task?.taskId?.value ?? '');
  }

  sendRunning(frameworkId: string, taskId: string, timestamp: number): void {
    this.link.send(
      create(AgentToMasterSchema, {
        type: AgentToMaster_Type.STATUS_UPDATE,
        statusUpdate: {
          frameworkId: { value: frameworkId },
          status: {
            taskId: { value: taskId },
            agentId: { value: this.agentId },
            state: TaskState.TASK_RUNNING,
            source: TaskStatus_Source.EXECUTOR,
            timestamp,
            uuid: new Uint8Array(16).fill(timestamp % 251),
            healthy: true,
            containerStatus: { networkInfos: [{ ipAddresses: [{ ipAddress: '10.1.2.3' }] }] },
          },
          latestState: TaskState.TASK_RUNNING,
        },
      }),
    );
  }

  close(): void {
    this.link.close('test done');
  }
}

describe('legacy master endpoints', () => {
  let master: RunningMaster & { url: string };
  let scheduler: TestScheduler;
  let agent: TestAgent;
  const taskIds = ['task-early', 'task-late', 'task-middle'];
  const timestamps = [1_700_000_100.25, 1_700_000_300.5, 1_700_000_200];

  const get = async (path: string, init: RequestInit = {}): Promise<Fetched> => {
    const res = await fetch(`${master.url}${path}`, { redirect: 'manual', ...init });
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      location: res.headers.get('location'),
      text: await res.text(),
    };
  };
  const getJson = async (path: string): Promise<JsonObject> => {
    const res = await get(path);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assert.equal(res.contentType, 'application/json', path);
    return JSON.parse(res.text) as JsonObject;
  };
  const metrics = async () => (await getJson('/metrics/snapshot')) as Record<string, number>;

  before(async () => {
    master = await startTestMaster([
      '--allocation_interval=50ms',
      '--cluster=test-cluster',
      '--heartbeat_interval=1secs',
    ]);
  });
  after(async () => {
    scheduler?.close();
    agent?.close();
    await master.close();
  });

  it('L13: metrics before anything joined, then slaves_active after an agent registers', async () => {
    const before = await metrics();
    assert.equal(before['master/elected'], 1);
    assert.equal(before['master/slaves_active'], 0);
    assert.equal(before['master/frameworks_active'], 0);
    agent = await TestAgent.register(master.address.port, 'agent-1.test');
    assert.notEqual(agent.agentId, '');
    const afterAgent = await metrics();
    assert.equal(afterAgent['master/slaves_active'], 1);
    assert.equal(afterAgent['master/slaves_connected'], 1);
    assert.equal(afterAgent['master/cpus_total'], 5);
    assert.equal(afterAgent['master/mem_total'], 4096);
    assert.equal(afterAgent['master/messages_register_slave'], 1);
  });

  it('frameworks_active changes after a scheduler subscribes; tasks launch and run', async () => {
    scheduler = new TestScheduler(master.url);
    await scheduler.subscribe({
      user: 'tester',
      name: 'legacy-endpoints',
      principal: 'ops',
      roles: ['*'],
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
      labels: { labels: [{ key: 'team', value: 'infra' }] },
    });
    assert.equal(scheduler.status, 200);
    const offers = await scheduler.nextOfType(Event_Type.OFFERS);
    const offer = offers.offers?.offers[0];
    assert.ok(offer, 'an offer');
    assert.equal((await metrics())['master/frameworks_active'], 1);
    const task = (id: string) => ({
      name: id,
      taskId: { value: id },
      agentId: { value: agent.agentId },
      resources: [
        { name: 'cpus', type: Value_Type.SCALAR, scalar: { value: 0.5 }, allocationInfo: { role: '*' } },
        { name: 'mem', type: Value_Type.SCALAR, scalar: { value: 64 }, allocationInfo: { role: '*' } },
      ],
      command: { value: 'sleep 1000' },
    });
    const accepted = await scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [{ type: Offer_Operation_Type.LAUNCH, launch: { taskInfos: taskIds.map(task) } }],
      },
    });
    assert.equal(accepted.status, 202, accepted.body);
    await agent.until(() => agent.runTasks().length === taskIds.length, 'RUN_TASK for every task');
    taskIds.forEach((id, i) => {
      agent.sendRunning(scheduler.frameworkId, id, timestamps[i]!);
    });
    for (let i = 0; i < taskIds.length; i++) await scheduler.nextOfType(Event_Type.UPDATE);
    const after = await metrics();
    assert.equal(after['master/tasks_running'], 3);
    assert.equal(after['master/cpus_used'], 1.5);
    assert.equal(after['master/mem_used'], 192);
    assert.equal(after['master/cpus_percent'], 0.3);
    assert.equal(after['master/valid_status_updates'], 3);
    assert.equal(after['master/messages_launch_tasks'], 1);
  });

  it('L1: /master/state has every key of section 5.3 with the right types', async () => {
    const res = await get('/master/state');
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'application/json');
    const state = JSON.parse(res.text) as JsonObject;
    assertKeys(state, STATE_KEYS, 'state');
    assert.equal(state.version, '1.11.0');
    for (const key of ['build_time', 'start_time', 'elected_time']) assert.equal(typeof state[key], 'number');
    // Seconds are doubles, written with a decimal point as Mesos writes them.
    assert.match(res.text, /"start_time":\d+\.\d+/);
    assert.match(res.text, /"registered_time":\d+\.\d+/);
    assert.equal(state.pid, `master@127.0.0.1:${master.address.port}`);
    assert.equal(state.leader, state.pid);
    assertKeys(state.leader_info, ['id', 'pid', 'port', 'hostname'], 'leader_info');
    assert.equal((state.leader_info as JsonObject).port, master.address.port);
    assert.deepEqual(state.capabilities, []);
    assert.equal(state.activated_slaves, 1);
    assert.equal(state.deactivated_slaves, 0);
    assert.equal(state.unreachable_slaves, 0);
    assert.equal(state.cluster, 'test-cluster');
    const flags = state.flags as JsonObject;
    assert.equal(flags.cluster, 'test-cluster');
    for (const value of Object.values(flags)) assert.equal(typeof value, 'string');
    assert.deepEqual(state.orphan_tasks, []);
    assert.deepEqual(state.unregistered_frameworks, []);
    assert.deepEqual(state.recovered_slaves, []);
    assert.deepEqual(state.completed_frameworks, []);

    const [slave] = state.slaves as JsonObject[];
    assertKeys(slave, AGENT_KEYS, 'slave');
    assert.equal(slave.id, agent.agentId);
    assert.equal(slave.hostname, 'agent-1.test');
    assert.equal(slave.pid, 'slave(1)@127.0.0.1:5051');
    assert.equal(slave.port, 5051);
    assert.deepEqual(slave.attributes, { rack: 'r1' });
    assert.equal(slave.active, true);
    assert.equal(slave.deactivated, false);
    assert.deepEqual(slave.capabilities, ['MULTI_ROLE']);
    assertSummary(slave.resources, 'slave.resources', ['ports']);
    assert.equal((slave.resources as JsonObject).cpus, 5);
    assert.equal((slave.resources as JsonObject).ports, '[31000-32000]');
    assertKeys(slave.reserved_resources, ['eng'], 'reserved_resources');
    assert.deepEqual((slave.reserved_resources as JsonObject).eng, { cpus: 1, gpus: 0, mem: 0, disk: 0 });
    assert.equal((slave.unreserved_resources as JsonObject).cpus, 4);
    assert.deepEqual(slave.used_resources, { cpus: 1.5, gpus: 0, mem: 192, disk: 0 });
    // Whatever is on offer right now (the allocator may or may not have re-offered the rest yet).
    for (const key of RESOURCE_SUMMARY_KEYS)
      assert.equal(typeof (slave.offered_resources as JsonObject)[key], 'number', `offered_resources.${key}`);

    const [framework] = state.frameworks as JsonObject[];
    assertKeys(framework, FRAMEWORK_KEYS, 'framework');
    assert.equal(framework.id, scheduler.frameworkId);
    assert.equal(framework.name, 'legacy-endpoints');
    assert.deepEqual(framework.roles, ['*']);
    assert.deepEqual(framework.capabilities, ['MULTI_ROLE']);
    assert.equal(framework.active, true);
    assert.equal(framework.connected, true);
    assert.equal(framework.recovered, false);
    assert.equal(framework.principal, 'ops');
    assert.equal(framework.user, 'tester');
    assert.equal(framework.checkpoint, false);
    assert.equal(framework.failover_timeout, 0);
    assert.equal(framework.unregistered_time, 0);
    assert.deepEqual(framework.offer_constraints, {});
    assert.deepEqual(framework.labels, [{ key: 'team', value: 'infra' }]);
    assert.deepEqual(framework.used_resources, { cpus: 1.5, gpus: 0, mem: 192, disk: 0 });
    assert.deepEqual(framework.executors, []);
    assert.deepEqual(framework.unreachable_tasks, []);
    assert.deepEqual(framework.completed_tasks, []);

    const tasks = framework.tasks as JsonObject[];
    assert.equal(tasks.length, 3);
    for (const task of tasks) {
      assertKeys(task, TASK_KEYS, 'task');
      assert.equal(task.executor_id, '', 'command tasks have an empty executor_id');
      assert.equal(task.framework_id, scheduler.frameworkId);
      assert.equal(task.slave_id, agent.agentId);
      assert.equal(task.state, 'TASK_RUNNING');
      assert.equal(task.role, '*');
      assert.deepEqual(task.resources, { cpus: 0.5, gpus: 0, mem: 64, disk: 0 });
      const [status] = task.statuses as JsonObject[];
      assertKeys(status, ['state', 'timestamp', 'container_status', 'healthy'], 'status');
      assert.equal(status.state, 'TASK_RUNNING');
      assert.equal(typeof status.timestamp, 'number');
      assert.equal(status.healthy, true);
      assert.deepEqual(status.container_status, {
        network_infos: [{ ip_addresses: [{ protocol: 'IPv4', ip_address: '10.1.2.3' }] }],
      });
    }
    const offers = framework.offers as JsonObject[];
    for (const offer of offers) {
      assertKeys(offer, ['id', 'framework_id', 'allocation_info', 'slave_id', 'resources'], 'offer');
      assert.deepEqual(offer.allocation_info, { role: '*' });
    }
  });

  it('every endpoint answers with and without the /master prefix, and the pre-1.7 .json aliases', async () => {
    for (const path of ['/state', '/state-summary', '/frameworks', '/slaves', '/tasks', '/roles', '/flags']) {
      const prefixed = await get(`/master${path}`);
      const bare = await get(path);
      assert.equal(prefixed.status, 200, `/master${path}`);
      assert.equal(bare.status, 200, path);
      assert.deepEqual(
        sorted(Object.keys(JSON.parse(bare.text) as JsonObject)),
        sorted(Object.keys(JSON.parse(prefixed.text) as JsonObject)),
        path,
      );
    }
    for (const path of ['/master/state.json', '/master/tasks.json', '/master/roles.json', '/state.json']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.contentType, 'application/json', path);
    }
    const stateJson = JSON.parse((await get('/master/state.json')).text) as JsonObject;
    assertKeys(stateJson, STATE_KEYS, 'state.json');
  });

  it('concurrent identical /state requests are all answered (they share one render)', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => get('/master/state')));
    for (const answer of answers) assert.equal(answer.status, 200);
    assert.equal(new Set(answers.map((a) => a.text)).size, 1);
    const [plain, wrapped] = await Promise.all([get('/master/state'), get('/master/state?jsonp=cb')]);
    assert.equal(plain.contentType, 'application/json');
    assert.equal(wrapped.contentType, 'text/javascript');
  });

  it('L3: ?jsonp=cb wraps every JSON endpoint as text/javascript', async () => {
    for (const path of [
      '/master/state',
      '/state-summary',
      '/frameworks',
      '/slaves',
      '/tasks',
      '/roles',
      '/flags',
      '/version',
      '/metrics/snapshot',
      '/master/state.json',
    ]) {
      const res = await get(`${path}?jsonp=cb`);
      assert.equal(res.status, 200, path);
      assert.equal(res.contentType, 'text/javascript', path);
      assert.ok(res.text.startsWith('cb({') && res.text.endsWith('});'), `${path}: ${res.text.slice(0, 40)}`);
      JSON.parse(res.text.slice(3, -2));
    }
    const bad = await get('/master/state?jsonp=alert(1)');
    assert.equal(bad.status, 400);
  });

  it('/state-summary counts tasks per state and lists the ids on the other side', async () => {
    const summary = await getJson('/master/state-summary');
    assertKeys(summary, ['hostname', 'cluster', 'slaves', 'frameworks'], 'state-summary');
    const [slave] = summary.slaves as JsonObject[];
    assertKeys(slave, [...AGENT_KEYS, ...SUMMARY_COUNTS, 'framework_ids'], 'summary slave');
    assert.equal(slave.TASK_RUNNING, 3);
    assert.equal(slave.TASK_STAGING, 0);
    assert.deepEqual(slave.framework_ids, [scheduler.frameworkId]);
    const [framework] = summary.frameworks as JsonObject[];
    assertKeys(framework, [...FRAMEWORK_SUMMARY_KEYS, ...SUMMARY_COUNTS, 'slave_ids'], 'summary framework');
    assert.equal(framework.TASK_RUNNING, 3);
    assert.deepEqual(framework.slave_ids, [agent.agentId]);
  });

  it('/frameworks and /slaves filter by id; /slaves has the *_full arrays in endpoint format', async () => {
    const frameworks = await getJson(`/master/frameworks?framework_id=${scheduler.frameworkId}`);
    assertKeys(frameworks, ['frameworks', 'completed_frameworks', 'unregistered_frameworks'], 'frameworks');
    assert.equal((frameworks.frameworks as JsonObject[]).length, 1);
    assertKeys((frameworks.frameworks as JsonObject[])[0], FRAMEWORK_KEYS, 'framework');
    const none = await getJson('/frameworks?framework_id=nope');
    assert.deepEqual(none.frameworks, []);

    const slaves = await getJson(`/master/slaves?slave_id=${agent.agentId}`);
    assertKeys(slaves, ['slaves', 'recovered_slaves'], 'slaves');
    const [slave] = slaves.slaves as JsonObject[];
    assertKeys(slave, [...AGENT_KEYS, ...AGENT_FULL_KEYS], 'slave (full)');
    const reservedFull = slave.reserved_resources_full as Record<string, JsonObject[]>;
    assert.deepEqual(Object.keys(reservedFull), ['eng']);
    assert.deepEqual(reservedFull.eng, [
      {
        name: 'cpus',
        type: 'SCALAR',
        scalar: { value: 1 },
        role: 'eng',
        reservations: [{ type: 'STATIC', role: 'eng' }],
      },
    ]);
    const unreservedFull = slave.unreserved_resources_full as JsonObject[];
    assert.ok(unreservedFull.every((r) => r.role === '*' && !('reservations' in r)));
    assert.deepEqual(
      unreservedFull.map((r) => r.name),
      ['cpus', 'mem', 'disk', 'ports'],
    );
    const usedFull = slave.used_resources_full as JsonObject[];
    assert.deepEqual(
      usedFull.map((r) => [r.name, (r.scalar as JsonObject).value]),
      [
        ['cpus', 1.5],
        ['mem', 192],
      ],
    );
    assert.ok(Array.isArray(slave.offered_resources_full));
    assert.deepEqual((await getJson('/slaves?slave_id=nope')).slaves, []);
  });

  it('L9: /tasks pages by limit and offset and orders by the first status timestamp', async () => {
    const ids = async (query: string) =>
      ((await getJson(`/master/tasks${query}`)).tasks as JsonObject[]).map((t) => t.id);
    assert.deepEqual(await ids(''), ['task-late', 'task-middle', 'task-early'], 'default order is des');
    assert.deepEqual(await ids('?limit=1&order=asc'), ['task-early']);
    assert.deepEqual(await ids('?limit=1&order=des'), ['task-late']);
    assert.deepEqual(await ids('?limit=1&offset=1&order=asc'), ['task-middle']);
    assert.deepEqual(await ids('?offset=5'), []);
    assert.deepEqual(await ids('?limit=2&offset=1&order=asc'), ['task-middle', 'task-late']);
    // Mesos reads a negative limit into a size_t: no limit at all.
    assert.deepEqual(await ids('?limit=-1&order=asc'), ['task-early', 'task-middle', 'task-late']);
    assert.deepEqual(await ids('?limit=junk&order=asc'), ['task-early', 'task-middle', 'task-late']);
    assert.deepEqual(await ids('?task_id=task-middle'), ['task-middle']);
    assert.deepEqual(await ids(`?framework_id=${scheduler.frameworkId}&limit=2`), [
      'task-late',
      'task-middle',
    ]);
    assert.deepEqual(await ids('?framework_id=other'), []);
    const [task] = (await getJson('/tasks?limit=1')).tasks as JsonObject[];
    assertKeys(task, TASK_KEYS, 'task');
  });

  it('/roles lists each known role with quantities and its frameworks', async () => {
    const roles = await getJson('/master/roles');
    const list = roles.roles as JsonObject[];
    assert.deepEqual(
      list.map((r) => r.name),
      ['*', 'eng'],
    );
    const star = list[0]!;
    assertKeys(
      star,
      ['name', 'weight', 'quota', 'resources', 'allocated', 'offered', 'reserved', 'frameworks'],
      'role',
    );
    assert.equal(star.weight, 1);
    assert.deepEqual(star.frameworks, [scheduler.frameworkId]);
    assert.deepEqual(star.allocated, { cpus: 1.5, mem: 192 });
    assertKeys(star.quota, ['role', 'guarantee', 'limit', 'consumed'], 'quota');
    assert.deepEqual(list[1]!.reserved, { cpus: 1 });
    assert.deepEqual(list[1]!.frameworks, []);
  });

  it('/flags is GET only; /health, /version and /redirect answer as Mesos does', async () => {
    const flags = await getJson('/master/flags');
    assertKeys(flags, ['flags'], 'flags');
    assert.equal((flags.flags as JsonObject).allocation_interval, '50ms');
    const posted = await post(`${master.url}/master/flags`, '', {});
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.allow, 'GET');
    assert.equal(posted.body, "405 Method Not Allowed. Expecting one of { 'GET' }, but received 'POST'.");

    for (const path of ['/health', '/master/health']) {
      const health = await get(path);
      assert.equal(health.status, 200);
      assert.equal(health.text, '');
    }
    const version = await getJson('/version');
    for (const key of ['version', 'build_date', 'build_time', 'build_user'])
      assert.ok(key in version, `version.${key}`);
    assert.equal(version.version, '1.11.0');
    assert.equal(typeof version.build_time, 'number');

    for (const path of ['/redirect', '/master/redirect']) {
      const redirect = await get(path);
      assert.equal(redirect.status, 307, path);
      assert.equal(redirect.location, `//127.0.0.1:${master.address.port}`);
    }
    assert.equal((await get('/master/redirect/x')).status, 404);
  });

  it('/metrics/snapshot has the master keys tools poll, all numbers, and accepts ?timeout=', async () => {
    const snapshot = await metrics();
    const expected = [
      'master/elected',
      'master/uptime_secs',
      ...['active', 'connected', 'disconnected', 'inactive', 'unreachable'].map((s) => `master/slaves_${s}`),
      ...['active', 'connected', 'disconnected', 'inactive'].map((s) => `master/frameworks_${s}`),
      ...[
        'staging',
        'starting',
        'running',
        'killing',
        'finished',
        'failed',
        'killed',
        'lost',
        'error',
        'dropped',
        'unreachable',
        'gone',
        'gone_by_operator',
      ].map((s) => `master/tasks_${s}`),
      'master/outstanding_offers',
      ...['cpus', 'mem', 'disk', 'gpus'].flatMap((r) =>
        ['total', 'used', 'percent', 'revocable_total', 'revocable_used', 'revocable_percent'].map(
          (s) => `master/${r}_${s}`,
        ),
      ),
      'master/valid_status_updates',
      'master/invalid_status_updates',
      'master/messages_decline_offers',
      'master/messages_launch_tasks',
      'master/messages_status_update',
      'master/messages_register_framework',
      'system/cpus_total',
      'system/mem_total_bytes',
      'system/mem_free_bytes',
      'system/load_1min',
      'system/load_5min',
      'system/load_15min',
    ];
    for (const key of expected) assert.ok(key in snapshot, `missing ${key}`);
    for (const [key, value] of Object.entries(snapshot)) assert.equal(typeof value, 'number', key);
    assert.ok(snapshot['master/uptime_secs']! > 0);
    assert.ok(snapshot['system/cpus_total']! >= 1);
    assert.equal(snapshot['master/messages_status_update'], 3);
    const raw = await get('/metrics/snapshot');
    assert.match(raw.text, /"master\/elected":1\.0/);
    assert.equal((await get('/metrics/snapshot?timeout=5secs')).status, 200);
    assert.equal((await get('/metrics/snapshot?timeout=soon')).status, 400);
  });

  it('L7: /teardown removes the framework; errors are 400 with clear text, GET is 405', async () => {
    const url = `${master.url}/master/teardown`;
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const getTeardown = await post(url, '', {}, 'GET');
    assert.equal(getTeardown.status, 405);
    assert.equal(getTeardown.headers.allow, 'POST');
    const missing = await post(url, '', form);
    assert.equal(missing.status, 400);
    assert.equal(missing.body, "Missing 'frameworkId' query parameter");
    const unknown = await post(url, 'frameworkId=no-such-framework', form);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body, 'No framework found with specified ID');

    const done = await post(`${master.url}/teardown`, `frameworkId=${scheduler.frameworkId}`, form);
    assert.equal(done.status, 200);
    await scheduler.untilClosed();
    const state = await getJson('/master/state');
    assert.deepEqual(state.frameworks, []);
    const [completed] = state.completed_frameworks as JsonObject[];
    assertKeys(completed, FRAMEWORK_KEYS, 'completed framework');
    assert.equal(completed.id, scheduler.frameworkId);
    assert.equal(completed.active, false);
    assert.equal(completed.connected, false);
    assert.match(JSON.stringify(completed.unregistered_time), /^\d/);
    assert.ok((completed.unregistered_time as number) > 0);
    const killed = completed.completed_tasks as JsonObject[];
    assert.equal(killed.length, 3);
    assert.ok(killed.every((t) => t.state === 'TASK_KILLED'));
    const after = await metrics();
    assert.equal(after['master/frameworks_active'], 0);
    assert.equal(after['master/tasks_killed'], 3);
    assert.equal(after['master/cpus_used'], 0);
    // Completed tasks of completed frameworks are still listed by /tasks.
    assert.equal(((await getJson('/tasks')).tasks as JsonObject[]).length, 3);
  });
});
