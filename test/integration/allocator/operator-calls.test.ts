/**
 * The operator side of resource sharing with real processes: RESERVE_RESOURCES (O17, O19),
 * CREATE/DESTROY_VOLUMES, UNRESERVE_RESOURCES, weights and quota (O23) in JSON and protobuf,
 * refusals that leave nothing half-applied, and weights and quota surviving a master restart.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WireMediaType } from '../../../src/wire/codec.js';
import { Call_Type, Response_Type } from '../../../src/wire/gen/mesos/v1/master/master_pb.js';
import { eventually } from '../../support/eventually.js';
import { operatorCall } from '../../support/operator-client.js';
import { freePort, StrataProcess, startAgentProcess, tempDir } from '../../support/processes.js';

const SCALAR = 0;
const DYNAMIC = 2;

const reservedTo = (role: string, name: string, value: number) => ({
  name,
  type: SCALAR,
  scalar: { value },
  reservations: [{ type: DYNAMIC, role, principal: 'operator' }],
});

describe('operator calls for reservations, volumes, weights and quota', { timeout: 120_000 }, () => {
  const workDir = tempDir('master-allocation');
  let port = 0;
  let masterProcess: StrataProcess | undefined;
  let agent: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
  let agentId = '';
  const url = () => `http://127.0.0.1:${port}`;

  async function startMaster(): Promise<void> {
    if (port === 0) port = await freePort();
    masterProcess = new StrataProcess('master', [
      'master',
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--work_dir=${workDir}`,
      '--logging_level=warn',
      '--weights=legacy=5',
    ]);
    await masterProcess.waitForHealth(`${url()}/health`);
  }

  async function agentReserved(): Promise<Record<string, Record<string, number>>> {
    const state = (await (await fetch(`${agent!.url}/state`)).json()) as {
      reserved_resources: Record<string, Record<string, number>>;
    };
    return state.reserved_resources;
  }

  before(async () => {
    await startMaster();
    agent = await startAgentProcess(port, [
      '--resources=cpus:4;mem:1024;disk:1000',
      '--registration_backoff_factor=100ms',
    ]);
    agentId = await eventually('the agent to register', async () => {
      const state = (await (await fetch(`${agent!.url}/state`)).json()) as { id?: string };
      return state.id || undefined;
    });
  });
  after(async () => {
    await agent?.process.stop();
    await masterProcess?.stop();
  });

  for (const media of ['application/json', 'application/x-protobuf'] as WireMediaType[]) {
    it(`O17/O19: RESERVE_RESOURCES then UNRESERVE_RESOURCES (${media})`, async () => {
      const reserve = await operatorCall(
        url(),
        {
          type: Call_Type.RESERVE_RESOURCES,
          reserveResources: {
            agentId: { value: agentId },
            resources: [reservedTo('ops', 'cpus', 1), reservedTo('ops', 'mem', 10)],
          },
        },
        media,
      );
      assert.equal(reserve.status, 202, reserve.body);
      assert.deepEqual((await agentReserved()).ops, { cpus: 1, disk: 0, gpus: 0, mem: 10 });

      const unknown = await operatorCall(
        url(),
        {
          type: Call_Type.RESERVE_RESOURCES,
          reserveResources: {
            agentId: { value: 'no-such-agent' },
            resources: [reservedTo('ops', 'cpus', 1)],
          },
        },
        media,
      );
      assert.equal(unknown.status, 400);
      assert.match(unknown.body, /No agent found with specified ID 'no-such-agent'/);

      const tooMuch = await operatorCall(
        url(),
        {
          type: Call_Type.RESERVE_RESOURCES,
          reserveResources: { agentId: { value: agentId }, resources: [reservedTo('ops', 'cpus', 100)] },
        },
        media,
      );
      assert.equal(tooMuch.status, 409);
      assert.match(tooMuch.body, /does not contain/);
      assert.deepEqual((await agentReserved()).ops, { cpus: 1, disk: 0, gpus: 0, mem: 10 }, 'unchanged');

      const unreserve = await operatorCall(
        url(),
        {
          type: Call_Type.UNRESERVE_RESOURCES,
          unreserveResources: {
            agentId: { value: agentId },
            resources: [reservedTo('ops', 'cpus', 1), reservedTo('ops', 'mem', 10)],
          },
        },
        media,
      );
      assert.equal(unreserve.status, 202, unreserve.body);
      assert.deepEqual(await agentReserved(), {});
    });
  }

  it('CREATE_VOLUMES and DESTROY_VOLUMES on reserved disk: the directory follows', async () => {
    const reserve = await operatorCall(url(), {
      type: Call_Type.RESERVE_RESOURCES,
      reserveResources: { agentId: { value: agentId }, resources: [reservedTo('ops', 'disk', 50)] },
    });
    assert.equal(reserve.status, 202, reserve.body);
    const volume = {
      ...reservedTo('ops', 'disk', 50),
      disk: {
        persistence: { id: 'logs', principal: 'operator' },
        volume: { containerPath: 'logs', mode: 1 },
      },
    };
    const unreserveVolume = await operatorCall(url(), {
      type: Call_Type.UNRESERVE_RESOURCES,
      unreserveResources: { agentId: { value: agentId }, resources: [reservedTo('ops', 'disk', 50)] },
    });
    const created = await operatorCall(url(), {
      type: Call_Type.CREATE_VOLUMES,
      createVolumes: { agentId: { value: agentId }, volumes: [volume] },
    });
    // The unreserve above ran first, so there was no reserved disk left for the volume.
    assert.equal(unreserveVolume.status, 202, unreserveVolume.body);
    assert.equal(created.status, 409, created.body);

    assert.equal(
      (
        await operatorCall(url(), {
          type: Call_Type.RESERVE_RESOURCES,
          reserveResources: { agentId: { value: agentId }, resources: [reservedTo('ops', 'disk', 50)] },
        })
      ).status,
      202,
    );
    const create = await operatorCall(url(), {
      type: Call_Type.CREATE_VOLUMES,
      createVolumes: { agentId: { value: agentId }, volumes: [volume] },
    });
    assert.equal(create.status, 202, create.body);
    const directory = join(agent!.workDir, 'volumes', 'roles', 'ops', 'logs');
    await eventually('the volume directory', async () => (existsSync(directory) ? true : undefined));
    const duplicate = await operatorCall(url(), {
      type: Call_Type.CREATE_VOLUMES,
      createVolumes: { agentId: { value: agentId }, volumes: [volume] },
    });
    assert.equal(duplicate.status, 400);
    assert.match(duplicate.body, /logs/);

    const destroy = await operatorCall(url(), {
      type: Call_Type.DESTROY_VOLUMES,
      destroyVolumes: { agentId: { value: agentId }, volumes: [volume] },
    });
    assert.equal(destroy.status, 202, destroy.body);
    await eventually('the volume directory removed', async () => (existsSync(directory) ? undefined : true));
    const again = await operatorCall(url(), {
      type: Call_Type.DESTROY_VOLUMES,
      destroyVolumes: { agentId: { value: agentId }, volumes: [volume] },
    });
    assert.equal(again.status, 400);
    assert.match(again.body, /Persistent volumes not found/);
    assert.equal(
      (
        await operatorCall(url(), {
          type: Call_Type.UNRESERVE_RESOURCES,
          unreserveResources: { agentId: { value: agentId }, resources: [reservedTo('ops', 'disk', 50)] },
        })
      ).status,
      202,
    );
  });

  it('weights and quota (O23): updates, refusals that change nothing, GET_ROLES, and a master restart', async () => {
    const initial = await operatorCall(url(), { type: Call_Type.GET_WEIGHTS });
    assert.deepEqual(
      initial.response?.getWeights?.weightInfos.map((w) => [w.role, w.weight]),
      [['legacy', 5]],
      'seeded from --weights',
    );
    const weights = await operatorCall(url(), {
      type: Call_Type.UPDATE_WEIGHTS,
      updateWeights: {
        weightInfos: [
          { role: 'eng', weight: 2 },
          { role: 'eng/web', weight: 3.5 },
        ],
      },
    });
    assert.equal(weights.status, 200, weights.body);
    const badWeight = await operatorCall(url(), {
      type: Call_Type.UPDATE_WEIGHTS,
      updateWeights: {
        weightInfos: [
          { role: 'ops', weight: 4 },
          { role: 'bad', weight: -1 },
        ],
      },
    });
    assert.equal(badWeight.status, 400);
    assert.match(badWeight.body, /weights must be positive/);

    const quota = await operatorCall(
      url(),
      {
        type: Call_Type.UPDATE_QUOTA,
        updateQuota: {
          quotaConfigs: [
            {
              role: 'eng',
              guarantees: { cpus: { value: 1 } },
              limits: { cpus: { value: 2 }, mem: { value: 512 } },
            },
          ],
        },
      },
      'application/x-protobuf',
    );
    assert.equal(quota.status, 200, quota.body);
    const inverted = await operatorCall(url(), {
      type: Call_Type.UPDATE_QUOTA,
      updateQuota: {
        quotaConfigs: [
          { role: 'ops', guarantees: { cpus: { value: 1 } } },
          { role: 'eng', guarantees: { cpus: { value: 3 } }, limits: { cpus: { value: 2 } } },
        ],
      },
    });
    assert.equal(inverted.status, 400);
    assert.match(inverted.body, /guarantee 'cpus:3' is greater than limit 'cpus:2'/);
    const beyond = await operatorCall(url(), {
      type: Call_Type.UPDATE_QUOTA,
      updateQuota: { quotaConfigs: [{ role: 'big', guarantees: { cpus: { value: 64 } } }] },
    });
    assert.equal(beyond.status, 409);
    assert.match(beyond.body, /exceed the cluster's 'cpus:4'/);
    const childOverParent = await operatorCall(url(), {
      type: Call_Type.UPDATE_QUOTA,
      updateQuota: { quotaConfigs: [{ role: 'eng/web', limits: { cpus: { value: 3 } } }] },
    });
    assert.equal(childOverParent.status, 400);
    assert.match(childOverParent.body, /greater than limit 'cpus:2' of its parent 'eng'/);

    const check = async () => {
      const got = await operatorCall(url(), { type: Call_Type.GET_QUOTA }, 'application/x-protobuf');
      assert.equal(got.status, 200);
      assert.equal(got.response?.type, Response_Type.GET_QUOTA);
      const configs = got.response?.getQuota?.status?.configs ?? [];
      assert.deepEqual(
        configs.map((c) => [
          c.role,
          Object.fromEntries(Object.entries(c.guarantees).map(([k, v]) => [k, v.value])),
          Object.fromEntries(Object.entries(c.limits).map(([k, v]) => [k, v.value])),
        ]),
        [['eng', { cpus: 1 }, { cpus: 2, mem: 512 }]],
        'only the accepted update, nothing of the refused ones',
      );
      const roles = await operatorCall(url(), { type: Call_Type.GET_ROLES });
      const byName = new Map(roles.response?.getRoles?.roles.map((r) => [r.name, r.weight]));
      assert.equal(byName.get('eng'), 2);
      assert.equal(byName.get('eng/web'), 3.5);
      assert.equal(byName.has('ops'), false, 'the refused weight update set nothing');
      const weightsNow = await operatorCall(url(), { type: Call_Type.GET_WEIGHTS });
      assert.deepEqual(
        weightsNow.response?.getWeights?.weightInfos.map((w) => [w.role, w.weight]),
        [
          ['eng', 2],
          ['eng/web', 3.5],
          ['legacy', 5],
        ],
      );
    };
    await check();

    // The registry keeps both across a restart (and --weights does not override stored weights).
    await masterProcess!.stop();
    await startMaster();
    await check();

    const removed = await operatorCall(url(), {
      type: Call_Type.UPDATE_QUOTA,
      updateQuota: { quotaConfigs: [{ role: 'eng' }] },
    });
    assert.equal(removed.status, 200, removed.body);
    const none = await operatorCall(url(), { type: Call_Type.GET_QUOTA });
    assert.deepEqual(none.response?.getQuota?.status?.configs, []);
  });
  it('the legacy endpoints: /reserve, /unreserve, /create-volumes, /destroy-volumes, /weights, /quota', async () => {
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    await eventually('the agent back after the master restart', async () => {
      const state = (await (await fetch(`${url()}/master/state`)).json()) as { slaves: unknown[] };
      return state.slaves.length === 1 ? true : undefined;
    });
    const disk = JSON.stringify([
      {
        name: 'disk',
        type: 'SCALAR',
        scalar: { value: 20 },
        reservations: [{ type: 'DYNAMIC', role: 'web', principal: 'p' }],
      },
    ]);
    const reserve = await fetch(`${url()}/master/reserve`, form({ slaveId: agentId, resources: disk }));
    assert.equal(reserve.status, 202, await reserve.text());
    assert.deepEqual((await agentReserved()).web, { cpus: 0, disk: 20, gpus: 0, mem: 0 });
    assert.equal((await fetch(`${url()}/master/reserve`)).status, 405);
    const missing = await fetch(`${url()}/master/reserve`, form({ resources: disk }));
    assert.equal(missing.status, 400);
    assert.match(await missing.text(), /slaveId/);
    const garbled = await fetch(
      `${url()}/master/reserve`,
      form({ slaveId: agentId, resources: '[{"name":' }),
    );
    assert.equal(garbled.status, 400);

    const volumes = JSON.stringify([
      {
        name: 'disk',
        type: 'SCALAR',
        scalar: { value: 20 },
        reservations: [{ type: 'DYNAMIC', role: 'web', principal: 'p' }],
        disk: {
          persistence: { id: 'cache', principal: 'p' },
          volume: { container_path: 'cache', mode: 'RW' },
        },
      },
    ]);
    const created = await fetch(`${url()}/master/create-volumes`, form({ slaveId: agentId, volumes }));
    assert.equal(created.status, 202, await created.text());
    const destroyed = await fetch(`${url()}/master/destroy-volumes`, form({ slaveId: agentId, volumes }));
    assert.equal(destroyed.status, 202, await destroyed.text());
    const unreserve = await fetch(`${url()}/master/unreserve`, form({ slaveId: agentId, resources: disk }));
    assert.equal(unreserve.status, 202, await unreserve.text());
    assert.equal((await agentReserved()).web, undefined);

    const put = await fetch(`${url()}/weights`, {
      method: 'PUT',
      body: JSON.stringify([{ role: 'web', weight: 4 }]),
    });
    assert.equal(put.status, 200, await put.text());
    const weights = (await (await fetch(`${url()}/weights`)).json()) as Array<{
      role: string;
      weight: number;
    }>;
    assert.deepEqual(
      weights.find((w) => w.role === 'web'),
      { role: 'web', weight: 4 },
    );

    const setQuota = await fetch(`${url()}/quota`, {
      method: 'POST',
      body: JSON.stringify({
        role: 'web',
        guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }],
      }),
    });
    assert.equal(setQuota.status, 200, await setQuota.text());
    const status = (await (await fetch(`${url()}/quota`)).json()) as {
      configs: Array<{
        role: string;
        guarantees: Record<string, { value: number }>;
        limits: Record<string, { value: number }>;
      }>;
    };
    assert.deepEqual(status.configs, [
      { role: 'web', guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 1 } } },
    ]);
    const removed = await fetch(`${url()}/quota/web`, { method: 'DELETE' });
    assert.equal(removed.status, 200, await removed.text());
    assert.deepEqual(
      ((await (await fetch(`${url()}/quota`)).json()) as { configs?: unknown[] }).configs ?? [],
      [],
    );
  });
});
