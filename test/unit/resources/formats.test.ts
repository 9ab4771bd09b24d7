import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, isFieldSet } from '@bufbuild/protobuf';
import {
  resourceInputFromMessage,
  resourceInputToMessage,
  resourcesFromMessages,
  resourcesToJson,
  resourcesToMessages,
  validateResourceMessages,
} from '../../../src/resources/messages.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { legacySummaryValues, toLegacySummary } from '../../../src/resources/summary.js';
import { ResourceSchema, Value_Type } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { stringifyJson } from '../../../src/wire/json-text.js';
import { fromMesosJson, toMesosJsonText } from '../../../src/wire/mesos-json.js';
import { r, strataError } from './helpers.js';

const json = (resources: Resources, format: Parameters<typeof resourcesToJson>[1]) =>
  resourcesToJson(resources, format).map((object) => stringifyJson(object));

const fromJsonText = (text: string) => fromMesosJson(ResourceSchema, text);

describe('reservation formats (§5.2)', () => {
  const dynamic = Resources.of(
    ResourceItem.scalar('cpus', 1.5, {
      reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p', labels: [{ key: 'k', value: 'v' }] }],
      allocationInfo: { role: 'eng' },
    }),
  );

  it('post-refinement: only reservations', () => {
    assert.deepEqual(json(r('cpus:1'), 'post-refinement'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.0}}',
    ]);
    assert.deepEqual(json(dynamic, 'post-refinement'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"allocation_info":{"role":"eng"},' +
        '"reservations":[{"type":"DYNAMIC","role":"eng","principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}}]}',
    ]);
  });

  it('pre-refinement: role and reservation', () => {
    assert.deepEqual(json(r('cpus:1'), 'pre-refinement'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*"}',
    ]);
    assert.deepEqual(json(r('cpus(eng):2'), 'pre-refinement'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":2.0},"role":"eng"}',
    ]);
    assert.deepEqual(json(dynamic, 'pre-refinement'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"role":"eng","allocation_info":{"role":"eng"},' +
        '"reservation":{"principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}}}',
    ]);
    const refined = r('cpus(eng):1').pushReservation({ type: 'DYNAMIC', role: 'eng/web' });
    assert.throws(
      () => refined.toInputs('pre-refinement'),
      strataError('RESOURCES_INVALID', /refined reservations/),
    );
  });

  it('endpoint: both, role only with at most one reservation', () => {
    assert.deepEqual(json(r('cpus:1'), 'endpoint'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*"}',
    ]);
    assert.deepEqual(json(r('cpus(eng):2'), 'endpoint'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":2.0},"role":"eng","reservations":[{"type":"STATIC","role":"eng"}]}',
    ]);
    const refined = r('cpus(eng):1').pushReservation({ type: 'DYNAMIC', role: 'eng/web' });
    assert.deepEqual(json(refined, 'endpoint'), [
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"reservations":[{"type":"STATIC","role":"eng"},{"type":"DYNAMIC","role":"eng/web"}]}',
    ]);
    for (const format of ['endpoint', 'pre-refinement', 'post-refinement'] as const) {
      assert.ok(resourcesFromMessages(resourcesToMessages(dynamic, format)).equals(dynamic), format);
    }
  });

  it('reads the §5.2 examples in either format to the same resources', () => {
    const pre = fromJsonText(
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"role":"eng","reservation":{"principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}},"allocation_info":{"role":"eng"}}',
    );
    const post = fromJsonText(
      '{"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"allocation_info":{"role":"eng"},"reservations":[{"type":"DYNAMIC","role":"eng","principal":"p","labels":{"labels":[{"key":"k","value":"v"}]}}]}',
    );
    assert.ok(resourcesFromMessages([pre]).equals(dynamic));
    assert.ok(resourcesFromMessages([post]).equals(dynamic));
    const ports = fromJsonText(
      '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]}}',
    );
    const disks = fromJsonText('{"name":"disks","type":"SET","set":{"item":["sda","sdb"]}}');
    assert.ok(resourcesFromMessages([ports, disks]).equals(r('ports:[31000-32000];disks:{sda,sdb}')));
  });
});

describe('message conversion', () => {
  it('round-trips every field with presence', () => {
    const text =
      '{"provider_id":{"value":"rp"},"name":"disk","type":"SCALAR","scalar":{"value":64.0},' +
      '"allocation_info":{"role":"eng/web"},' +
      '"reservations":[{"type":"STATIC","role":"eng"},{"type":"DYNAMIC","role":"eng/web","principal":"p","labels":{"labels":[{"key":"a"},{"key":"b","value":""}]}}],' +
      '"disk":{"persistence":{"id":"v1","principal":"p"},"volume":{"mode":"RO","container_path":"data"},' +
      '"source":{"type":"MOUNT","mount":{"root":"/mnt/a"},"vendor":"acme","id":"d1","metadata":{"labels":[{"key":"x","value":"y"}]},"profile":"fast"}},' +
      '"shared":{}}';
    const message = fromJsonText(text);
    const back = resourceInputToMessage(resourceInputFromMessage(message));
    assert.equal(toMesosJsonText(ResourceSchema, back), toMesosJsonText(ResourceSchema, message));
    const viaCollection = resourcesToMessages(resourcesFromMessages([message]));
    assert.equal(
      toMesosJsonText(ResourceSchema, viaCollection[0]!),
      toMesosJsonText(ResourceSchema, message),
    );
  });

  it('keeps unset fields unset and uint64 bounds exact', () => {
    const message = create(ResourceSchema, {
      name: 'ports',
      type: Value_Type.RANGES,
      ranges: { range: [{ begin: 18446744073709551000n, end: 18446744073709551615n }] },
    });
    const input = resourceInputFromMessage(message);
    assert.equal(input.role, undefined);
    const back = resourcesToMessages(resourcesFromMessages([message]))[0]!;
    assert.equal(back.ranges?.range[0]?.end, 18446744073709551615n);
    assert.equal(isFieldSet(back, ResourceSchema.field.role), false);
    assert.equal(
      toMesosJsonText(ResourceSchema, back),
      '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":18446744073709551000,"end":18446744073709551615}]}}',
    );
  });

  it('validates messages with Mesos messages', () => {
    const bad = fromJsonText('{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}');
    assert.equal(
      validateResourceMessages([bad]),
      "Resource 'cpus:-1' is invalid: Invalid scalar resource: value < 0",
    );
    assert.throws(() => resourcesFromMessages([bad]), strataError('RESOURCES_INVALID'));
    assert.ok(resourcesFromMessages([bad], { invalid: 'skip' }).isEmpty());
  });
});

describe('legacy summary', () => {
  it('always has cpus, gpus, mem and disk', () => {
    const agent = r('cpus:4;mem:7168;disk:10240;ports:[31000-32000]');
    assert.equal(
      stringifyJson(toLegacySummary(agent)),
      '{"cpus":4.0,"gpus":0.0,"mem":7168.0,"disk":10240.0,"ports":"[31000-32000]"}',
    );
    assert.equal(
      stringifyJson(toLegacySummary(Resources.EMPTY)),
      '{"cpus":0.0,"gpus":0.0,"mem":0.0,"disk":0.0}',
    );
  });

  it('sums across metadata, splits revocable, prints ranges and sets', () => {
    const mixed = r('cpus:1;cpus(eng):0.1;ports:[1-2];ports(eng):[3-4,10-12];disks:{a,b}')
      .add(r('cpus:0.2').allocate('x'))
      .add(Resources.of(ResourceItem.scalar('cpus', 2, { revocable: true })));
    assert.deepEqual(legacySummaryValues(mixed), {
      cpus: 1.3,
      gpus: 0,
      mem: 0,
      disk: 0,
      cpus_revocable: 2,
      ports: '[1-4, 10-12]',
      disks: '{a, b}',
    });
  });
});
