/**
 * The pure rules of maintenance.ts: schedule validation (Mesos' `maintenance::validation`),
 * machine lists for START/STOP_MAINTENANCE, machine identity, and the registry operations that
 * store maintenance and agent control (with old snapshots lacking them read as empty).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  agentMachine,
  machineKey,
  scheduleMessage,
  validateMachineList,
  validateSchedule,
} from '../../../src/master/maintenance.js';
import { LocalStoreRegistry } from '../../../src/master/registry/local-store.js';
import { applyOperation, emptyRegistryState } from '../../../src/master/registry/registry.js';
import { ScheduleSchema } from '../../../src/wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import { MachineIDSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const HOUR_NS = 3_600_000_000_000n;

function schedule(init: MessageInitShape<typeof ScheduleSchema>) {
  return create(ScheduleSchema, init);
}

function window(
  machines: Array<{ hostname?: string; ip?: string }>,
  start = 1n,
  duration: bigint | null = HOUR_NS,
) {
  return {
    machineIds: machines,
    unavailability: {
      start: { nanoseconds: start },
      ...(duration === null ? {} : { duration: { nanoseconds: duration } }),
    },
  };
}

function error(result: { error: string } | object): string | undefined {
  return 'error' in result ? (result.error as string) : undefined;
}

describe('validateSchedule', () => {
  it('accepts windows of distinct machines and stores them', () => {
    const result = validateSchedule(
      schedule({
        windows: [
          window([{ hostname: 'a.example' }, { ip: '10.0.0.2' }]),
          window([{ hostname: 'b', ip: '10.0.0.3' }], 5n, null),
        ],
      }),
      [],
    );
    assert.ok('maintenance' in result);
    assert.deepEqual(result.maintenance, {
      windows: [
        { machines: [{ hostname: 'a.example' }, { ip: '10.0.0.2' }], start: '1', duration: String(HOUR_NS) },
        { machines: [{ hostname: 'b', ip: '10.0.0.3' }], start: '5' },
      ],
      down: [],
    });
    // And back to the message, unchanged.
    const back = scheduleMessage(result.maintenance);
    assert.equal(back.windows[0]!.machineIds[1]!.ip, '10.0.0.2');
    assert.equal(back.windows[1]!.unavailability!.duration, undefined);
  });

  it('accepts an empty schedule when no machine is down', () => {
    assert.equal(error(validateSchedule(schedule({}), [])), undefined);
  });

  it('refuses a machine without hostname and ip', () => {
    assert.equal(
      error(validateSchedule(schedule({ windows: [window([{ hostname: '', ip: '' }])] }), [])),
      "Both 'hostname' and 'ip' for a machine are empty",
    );
  });

  it('refuses an ip that is not an IPv4 address', () => {
    assert.match(
      error(validateSchedule(schedule({ windows: [window([{ ip: 'not-an-ip' }])] }), [])) ?? '',
      /Invalid 'ip' 'not-an-ip'/,
    );
  });

  it('refuses a window without machines', () => {
    assert.equal(
      error(validateSchedule(schedule({ windows: [window([{ hostname: 'a' }]), window([])] }), [])),
      'List of machines in maintenance window 1 is empty',
    );
  });

  it('refuses a negative duration', () => {
    assert.equal(
      error(validateSchedule(schedule({ windows: [window([{ hostname: 'a' }], 1n, -1n)] }), [])),
      "Unavailability 'duration' of maintenance window 0 is negative",
    );
  });

  it('refuses a machine in two windows (overlapping windows), hostnames compared case-insensitively', () => {
    assert.equal(
      error(
        validateSchedule(
          schedule({
            windows: [window([{ hostname: 'A.example' }]), window([{ hostname: 'a.EXAMPLE' }], 2n * HOUR_NS)],
          }),
          [],
        ),
      ),
      'Machine {"hostname":"a.EXAMPLE"} appears more than once in the schedule',
    );
    assert.match(
      error(validateSchedule(schedule({ windows: [window([{ hostname: 'a' }, { hostname: 'a' }])] }), [])) ??
        '',
      /appears more than once/,
    );
  });

  it('refuses to drop a DOWN machine, and keeps it when it stays', () => {
    const down = [{ hostname: 'a' }];
    assert.equal(
      error(validateSchedule(schedule({ windows: [window([{ hostname: 'b' }])] }), down)),
      'Machine {"hostname":"a"} is DOWN and cannot be removed from the schedule (bring it up first)',
    );
    const kept = validateSchedule(
      schedule({ windows: [window([{ hostname: 'A' }, { hostname: 'b' }])] }),
      down,
    );
    assert.ok('maintenance' in kept);
    assert.deepEqual(kept.maintenance.down, down);
  });
});

describe('validateMachineList', () => {
  const ids = (list: Array<{ hostname?: string; ip?: string }>) =>
    list.map((m) => create(MachineIDSchema, m));
  it('refuses an empty list, an empty machine and duplicates', () => {
    assert.equal(error(validateMachineList([])), 'List of machines is empty');
    assert.equal(error(validateMachineList(ids([{}]))), "Both 'hostname' and 'ip' for a machine are empty");
    assert.equal(
      error(validateMachineList(ids([{ hostname: 'x' }, { hostname: 'X' }]))),
      'Machine {"hostname":"X"} is listed more than once',
    );
  });
  it('returns the machines as stored', () => {
    assert.deepEqual(validateMachineList(ids([{ hostname: 'x', ip: '' }, { ip: '1.2.3.4' }])), {
      machines: [{ hostname: 'x' }, { ip: '1.2.3.4' }],
    });
  });
});

describe('machine identity', () => {
  it('keys hostnames case-insensitively and ips exactly', () => {
    assert.equal(machineKey({ hostname: 'Host' }), machineKey({ hostname: 'host' }));
    assert.notEqual(machineKey({ hostname: 'host' }), machineKey({ hostname: 'host', ip: '1.2.3.4' }));
  });
  it('takes an agent machine from its hostname and pid', () => {
    const agent = { info: { hostname: 'h' }, pid: 'slave(1)@10.1.2.3:5051' } as Parameters<
      typeof agentMachine
    >[0];
    assert.deepEqual(agentMachine(agent), { hostname: 'h', ip: '10.1.2.3' });
  });
});

describe('registry: maintenance and agent control', () => {
  it('applies update-maintenance and update-agent-control; remove-agent forgets the control', () => {
    let state = emptyRegistryState();
    state = applyOperation(state, {
      type: 'update-maintenance',
      maintenance: { windows: [{ machines: [{ hostname: 'a' }], start: '1' }], down: [{ hostname: 'a' }] },
    });
    state = applyOperation(state, {
      type: 'update-agent-control',
      agentId: 'S1',
      control: { deactivated: true },
    });
    assert.deepEqual(state.maintenance.down, [{ hostname: 'a' }]);
    assert.deepEqual(state.agentControl, { S1: { deactivated: true } });
    state = applyOperation(state, { type: 'remove-agent', agentId: 'S1' });
    assert.deepEqual(state.agentControl, {});
  });

  it('reads a snapshot written before maintenance existed with empty defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-registry-'));
    writeFileSync(
      join(dir, 'registry.json'),
      JSON.stringify({
        version: 1,
        state: { masterId: 'm', agents: {}, unreachable: {}, weights: { a: 2 }, quota: {} },
      }),
    );
    const registry = new LocalStoreRegistry(dir);
    assert.deepEqual(registry.get().maintenance, { windows: [], down: [] });
    assert.deepEqual(registry.get().agentControl, {});
    assert.deepEqual(registry.get().weights, { a: 2 });
    await registry.apply({ type: 'update-agent-control', agentId: 'S2', control: { deactivated: true } });
    await registry.close();
    assert.deepEqual(new LocalStoreRegistry(dir).get().agentControl, { S2: { deactivated: true } });
  });
});
