import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agentTotalResources,
  detectedAmounts,
  parseCpuMax,
  parseMemoryLimit,
  parseProcCgroup,
} from '../../../src/agent/resources.js';
import { legacySummaryValues } from '../../../src/resources/index.js';

const GB = 1024 ** 3;
const facts = {
  cpuCount: 8,
  cgroupCpuLimit: undefined,
  memTotalBytes: 16 * GB,
  cgroupMemLimitBytes: undefined,
  diskFreeBytes: 100 * GB,
};

describe('resource detection', () => {
  it('leaves Mesos-like headroom on a plain machine', () => {
    assert.deepEqual(detectedAmounts(facts), { cpus: 8, mem: 15 * 1024, disk: 95 * 1024 });
  });

  it('halves small memory and disk', () => {
    const small = detectedAmounts({ ...facts, memTotalBytes: 1.5 * GB, diskFreeBytes: 8 * GB });
    assert.equal(small.mem, 768);
    assert.equal(small.disk, 4 * 1024);
  });

  it('respects cgroup CPU quotas and memory limits below the machine', () => {
    const limited = detectedAmounts({ ...facts, cgroupCpuLimit: 1.5, cgroupMemLimitBytes: 4 * GB });
    assert.equal(limited.cpus, 1.5);
    assert.equal(limited.mem, 3 * 1024);
    const generous = detectedAmounts({ ...facts, cgroupCpuLimit: 64, cgroupMemLimitBytes: 64 * GB });
    assert.equal(generous.cpus, 8);
    assert.equal(generous.mem, 15 * 1024);
  });

  it('falls back to 10 GB of disk when the work dir cannot be measured, and at least one CPU', () => {
    const unknown = detectedAmounts({ ...facts, cpuCount: 0, diskFreeBytes: undefined });
    assert.equal(unknown.disk, 10 * 1024);
    assert.equal(unknown.cpus, 1);
  });

  it('reads cgroup files', () => {
    assert.equal(parseCpuMax('max 100000\n'), undefined);
    assert.equal(parseCpuMax('150000 100000\n'), 1.5);
    assert.equal(parseMemoryLimit('max\n'), undefined);
    assert.equal(parseMemoryLimit('9223372036854771712\n'), undefined);
    assert.equal(parseMemoryLimit('1073741824\n'), GB);
    const v2 = parseProcCgroup('0::/user.slice/session-1.scope\n');
    assert.equal(v2.v2Path, '/user.slice/session-1.scope');
    const v1 = parseProcCgroup('12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n');
    assert.equal(v1.v2Path, undefined);
    assert.equal(v1.v1.get('memory'), '/docker/abc');
    assert.equal(v1.v1.get('cpuacct'), '/docker/abc');
  });
});

describe('agent total resources', () => {
  const detect = () => ({ cpus: 3, mem: 1000, disk: 2000 });

  it('detects everything when --resources is unset', () => {
    const total = legacySummaryValues(agentTotalResources(undefined, '*', detect));
    assert.equal(total.cpus, 3);
    assert.equal(total.mem, 1000);
    assert.equal(total.disk, 2000);
    assert.equal(total.ports, '[31000-32000]');
  });

  it('detects only what --resources does not name', () => {
    let probed = false;
    const total = legacySummaryValues(
      agentTotalResources('cpus:1;mem:512;disk:100;ports:[1-2]', '*', () => {
        probed = true;
        return detect();
      }),
    );
    assert.equal(probed, false);
    assert.deepEqual([total.cpus, total.mem, total.disk, total.ports], [1, 512, 100, '[1-2]']);
    const partial = legacySummaryValues(agentTotalResources('cpus:2;gpus:0', '*', detect));
    assert.deepEqual([partial.cpus, partial.mem, partial.disk], [2, 1000, 2000]);
  });

  it('treats an explicit zero as none rather than as a request to detect', () => {
    const total = legacySummaryValues(agentTotalResources('cpus:0;mem:64', '*', detect));
    assert.equal(total.cpus, 0);
    assert.equal(total.mem, 64);
    assert.equal(total.disk, 2000);
  });

  it('accepts the JSON form and the default role', () => {
    const total = agentTotalResources(
      '[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]',
      'web',
      detect,
    );
    assert.deepEqual([...total.reservations().keys()], ['web']);
  });
});
