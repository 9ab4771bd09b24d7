import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attributesFromMessages,
  attributesToLegacyJson,
  attributesToMessages,
  formatAttribute,
  formatAttributes,
  parseAttributes,
} from '../../../src/resources/attributes.js';
import { formatResources, parseResources } from '../../../src/resources/flags.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { parseTextValue } from '../../../src/resources/text-values.js';
import { AttributeSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import { stringifyJson } from '../../../src/wire/json-text.js';
import { toMesosJsonText } from '../../../src/wire/mesos-json.js';
import { strataError } from './helpers.js';

describe('--resources simple syntax', () => {
  it('parses the documented example', () => {
    const resources = parseResources(
      'cpus:2;mem:1024;ports:[31000-32000,33000-34000];disk(role):10;disks:{sda,sdb}',
    );
    assert.equal(resources.cpus(), 2);
    assert.equal(resources.mem(), 1024);
    assert.equal(resources.ports()?.toString(), '[31000-32000, 33000-34000]');
    assert.equal(resources.reserved('role').disk(), 10);
    assert.ok(resources.items().find((item) => item.name === 'disk')?.isStaticallyReserved);
    assert.deepEqual(resources.set('disks')?.items(), ['sda', 'sdb']);
  });

  it('tolerates whitespace and empty tokens', () => {
    const spaced = parseResources(' cpus : 2 ; mem(eng) : 1 024 ;; ports:[ 1-2 , 5-6 ];\n disks:{ a , b };');
    assert.ok(spaced.equals(parseResources('cpus:2;mem(eng):1024;ports:[1-2,5-6];disks:{a,b}')));
    assert.ok(parseResources('').isEmpty());
  });

  it('adds up duplicate names like Mesos; (*) means unreserved; zero vanishes', () => {
    assert.ok(parseResources('cpus:1;cpus:2.5').equals(parseResources('cpus:3.5')));
    assert.ok(parseResources('ports:[1-5];ports:[3-9,20-21]').equals(parseResources('ports:[1-9,20-21]')));
    assert.ok(parseResources('ports:[1-5,3-7]').equals(parseResources('ports:[1-7]')), 'overlap coalesces');
    assert.ok(parseResources('disks:{a};disks:{b,a}').equals(parseResources('disks:{a,b}')));
    assert.ok(parseResources('cpus(*):1;cpus:1').equals(parseResources('cpus:2')));
    assert.equal(parseResources('cpus(eng):1;cpus:1').size, 2);
    assert.ok(parseResources('gpus:0;cpus:1').equals(parseResources('cpus:1')));
    assert.equal(parseResources('cpus:1', { defaultRole: 'eng' }).reserved('eng').cpus(), 1);
    assert.ok(
      parseResources('ports:[18446744073709551615-18446744073709551615]').ports()?.has(18446744073709551615n),
    );
  });

  it('names the bad token in RESOURCES_PARSE errors', () => {
    const cases: [string, RegExp][] = [
      ['cpus', /missing or extra ':' in 'cpus'/],
      ['cpus:1;mem', /missing or extra ':' in 'mem'/],
      ['cpus:1:2', /missing or extra ':' in 'cpus:1:2'/],
      ['cpus(eng:1', /mismatched parentheses in 'cpus\(eng:1'/],
      ['cpus)eng(:1', /mismatched parentheses/],
      ['cpus(eng)x:1', /mismatched parentheses/],
      ['cpus:abc', /Bad type for resource cpus value abc type TEXT/],
      ['ports:[1-2', /Failed to parse resource ports value \[1-2 error Mismatched brackets/],
      ['ports:[1-2,x]', /the element 'x' has invalid format/],
      ['ports:[5-1]', /has begin > end/],
      ['ports:[1-18446744073709551616]', /out of the range of uint64/],
      ['cpus:-1', /Resource 'cpus:-1' is invalid: Invalid scalar resource: value < 0/],
      ['disks:{a,a}', /Invalid set resource: duplicated elements/],
      ['cpus(-eng):1', /starts with a dash/],
      [':1', /missing or extra ':'/],
      ['(eng):1', /Empty resource name/],
      ['cpus:1;cpus:[1-2]', /'cpus' is given both as SCALAR and as RANGES/],
      ['gpus:1.5', /The 'gpus' resource must be an unsigned integer/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(() => parseResources(text), strataError('RESOURCES_PARSE', pattern), text);
    }
    try {
      parseResources('cpus:2;mem');
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(error instanceof Error && 'params' in error);
      assert.equal((error as { params: Record<string, unknown> }).params.token, 'mem');
      assert.match(error.message, /^invalid resources 'cpus:2;mem': /);
    }
  });
});

describe('--resources JSON array form', () => {
  it('reads Mesos-JSON resources and applies the default role', () => {
    const text =
      '[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},' +
      '{"name":"mem","type":"SCALAR","scalar":{"value":1024},"role":"eng"},' +
      '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]}},' +
      '{"name":"disk","type":"SCALAR","scalar":{"value":100},"disk":{"source":{"type":"MOUNT","mount":{"root":"/mnt/a"}}}}]';
    const resources = parseResources(text);
    assert.equal(resources.cpus(), 2);
    assert.equal(resources.reserved('eng').mem(), 1024);
    assert.equal(resources.items().find((item) => item.name === 'disk')?.diskSourceType, 'MOUNT');
    assert.equal(parseResources(text, { defaultRole: 'ops' }).reserved('ops').cpus(), 2);
  });

  it('reports malformed JSON and invalid elements as RESOURCES_PARSE', () => {
    assert.throws(() => parseResources('[{"name":"cpus",'), strataError('RESOURCES_PARSE', /invalid JSON/));
    assert.throws(
      () => parseResources('[{"name":"cpus","type":"BOGUS","scalar":{"value":1}}]'),
      strataError('RESOURCES_PARSE', /Some JSON resources were not formatted properly: \[0\]/),
    );
    assert.throws(
      () => parseResources('[{"name":"cpus","type":"SCALAR","scalar":{"value":-2}}]'),
      strataError('RESOURCES_PARSE', /Invalid scalar resource: value < 0/),
    );
  });
});

describe('formatting --resources', () => {
  it('prints the simple syntax and parses back equal', () => {
    const text = 'cpus:2;mem:1024;ports:[31000-32000,33000-34000];disk(role):10;disks:{sda,sdb}';
    const resources = parseResources(text);
    assert.equal(formatResources(resources), text);
    assert.ok(parseResources(formatResources(resources)).equals(resources));
    assert.equal(formatResources(parseResources('cpus:0.5;cpus:0.25')), 'cpus:0.75');
    assert.equal(formatResources(Resources.EMPTY), '');
  });

  it('falls back to the JSON form for what the simple syntax cannot express', () => {
    const rich = parseResources('cpus:1')
      .add(
        Resources.of(
          ResourceItem.scalar('mem', 8, { reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }] }),
        ),
      )
      .add(
        Resources.of(
          ResourceItem.scalar('disk', 100, { disk: { source: { type: 'MOUNT', mount: { root: '/m' } } } }),
        ),
      )
      .add(Resources.of(ResourceItem.set('odd names', ['a;b'])));
    const text = formatResources(rich);
    assert.ok(text.startsWith('['));
    assert.ok(parseResources(text).equals(rich));
    assert.ok(
      parseResources(text, { defaultRole: 'ops' }).equals(rich),
      'explicit roles survive a default role',
    );
  });
});

describe('text values', () => {
  it('classifies scalars, ranges, sets and text', () => {
    assert.deepEqual(parseTextValue('3'), { type: 'SCALAR', scalar: 3 });
    assert.deepEqual(parseTextValue('1e3'), { type: 'SCALAR', scalar: 1000 });
    assert.deepEqual(parseTextValue('.5'), { type: 'SCALAR', scalar: 0.5 });
    assert.deepEqual(parseTextValue('0x10'), { type: 'TEXT', text: '0x10' });
    assert.deepEqual(parseTextValue('[]'), { type: 'RANGES', ranges: [] });
    assert.deepEqual(parseTextValue('{a,,b}'), { type: 'SET', set: ['a', 'b'] });
    assert.deepEqual(parseTextValue(' r 1 '), { type: 'TEXT', text: 'r1' });
    assert.deepEqual(parseTextValue('   '), { error: 'Expecting non-empty string' });
    assert.deepEqual(parseTextValue('a}'), { error: 'Mismatched brackets' });
  });
});

describe('--attributes', () => {
  const text = 'rack:r1;zone:z;level:3;ports:[1-5];tags:{a,b}';

  it('parses scalar, ranges, set and text values', () => {
    const attributes = parseAttributes(text);
    assert.deepEqual(
      attributes.map((attribute) => [attribute.name, attribute.type]),
      [
        ['rack', 'TEXT'],
        ['zone', 'TEXT'],
        ['level', 'SCALAR'],
        ['ports', 'RANGES'],
        ['tags', 'SET'],
      ],
    );
    assert.equal(formatAttributes(attributes), text);
    assert.deepEqual(parseAttributes(formatAttributes(attributes)), attributes);
    assert.equal(formatAttribute(attributes[3]!), 'ports:[1-5]');
    assert.deepEqual(parseAttributes('url:http://x:80\nhost : h1'), [
      { name: 'url', type: 'TEXT', text: 'http://x:80' },
      { name: 'host', type: 'TEXT', text: 'h1' },
    ]);
    assert.deepEqual(
      parseAttributes('weight:2.71'),
      [{ name: 'weight', type: 'SCALAR', scalar: 2.71 }],
      'full double',
    );
  });

  it('converts to messages and to legacy JSON', () => {
    const attributes = parseAttributes(text);
    const messages = attributesToMessages(attributes);
    assert.equal(
      messages.map((message) => toMesosJsonText(AttributeSchema, message)).join(','),
      '{"name":"rack","type":"TEXT","text":{"value":"r1"}},{"name":"zone","type":"TEXT","text":{"value":"z"}},' +
        '{"name":"level","type":"SCALAR","scalar":{"value":3.0}},' +
        '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":5}]}},' +
        '{"name":"tags","type":"SET","set":{"item":["a","b"]}}',
    );
    assert.deepEqual(attributesFromMessages(messages), attributes);
    assert.equal(
      stringifyJson(attributesToLegacyJson(attributes)),
      '{"rack":"r1","zone":"z","level":3.0,"ports":"[1-5]","tags":"{a, b}"}',
    );
  });

  it('names the bad token in ATTRIBUTES_PARSE errors', () => {
    assert.throws(
      () => parseAttributes('rack'),
      strataError('ATTRIBUTES_PARSE', /Invalid attribute key:value pair 'rack'/),
    );
    assert.throws(() => parseAttributes('rack:'), strataError('ATTRIBUTES_PARSE', /'rack:'/));
    assert.throws(() => parseAttributes(':r1'), strataError('ATTRIBUTES_PARSE', /':r1'/));
    assert.throws(
      () => parseAttributes('a:1;ports:[1-'),
      strataError('ATTRIBUTES_PARSE', /Failed to parse attribute ports text \[1- error Mismatched brackets/),
    );
    assert.deepEqual(parseAttributes(' ; '), []);
  });
});
