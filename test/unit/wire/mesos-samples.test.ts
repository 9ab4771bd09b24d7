// Hand-written Mesos v1 JSON samples (reference §2, §5.1, §5.2) through the real mesos.v1 schemas:
// what a framework sends must parse, and what we send must look exactly like what Mesos sends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, equals, isFieldSet } from '@bufbuild/protobuf';
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import {
  codec,
  decodeBinary,
  encodeBinary,
  MEDIA_TYPE_JSON,
  MEDIA_TYPE_PROTOBUF,
} from '../../../src/wire/codec.js';
import {
  CommandInfoSchema,
  FiltersSchema,
  FrameworkInfo_Capability_Type,
  FrameworkInfoSchema,
  HealthCheckSchema,
  MasterInfoSchema,
  ResourceSchema,
  TaskState,
  TaskStatus_Source,
  TaskStatusSchema,
  Value_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';
import {
  Call_Type,
  CallSchema,
  Event_Type,
  EventSchema,
} from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { fromMesosJson, toMesosJson, toMesosJsonText } from '../../../src/wire/mesos-json.js';

/** Compact JSON text from a readable, indented literal: drops whitespace outside strings, keeps every lexeme. */
function compact(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (!/\s/.test(ch)) {
      out += ch;
    }
  }
  return out;
}

function isCode(code: ErrorCode, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(isStrataError(err), `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

/** The same message through JSON and protobuf: both decode paths give the same Mesos JSON. */
function assertBothEncodings(schema: typeof CallSchema | typeof EventSchema, json: string): void {
  const fromJson = codec.decode(schema, new TextEncoder().encode(json), MEDIA_TYPE_JSON);
  const binary = codec.encode(schema, fromJson, MEDIA_TYPE_PROTOBUF);
  const fromBinary = codec.decode(schema, binary, MEDIA_TYPE_PROTOBUF);
  assert.ok(equals(schema, fromBinary, fromJson));
  assert.equal(toMesosJsonText(schema, fromBinary), toMesosJsonText(schema, fromJson));
  assert.equal(
    new TextDecoder().decode(codec.encode(schema, fromBinary, MEDIA_TYPE_JSON)),
    toMesosJsonText(schema, fromJson),
  );
}

const subscribe = compact(`{
  "type": "SUBSCRIBE",
  "subscribe": {
    "framework_info": {
      "user": "foo",
      "name": "Example HTTP Framework",
      "roles": ["test"],
      "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}]
    }
  }
}`);

const accept = compact(`{
  "framework_id": {"value": "12220-3440-12532-2345"},
  "type": "ACCEPT",
  "accept": {
    "offer_ids": [{"value": "12220-3440-12532-O12"}],
    "operations": [{
      "type": "LAUNCH",
      "launch": {
        "task_infos": [{
          "name": "My Task",
          "task_id": {"value": "12220-3440-12532-my-task"},
          "agent_id": {"value": "12220-3440-12532-S1233"},
          "command": {"value": "sleep 1000", "environment": {"variables": [{"name": "A", "value": "1"}]}},
          "resources": [
            {"allocation_info": {"role": "engineering"}, "name": "cpus", "role": "*", "type": "SCALAR", "scalar": {"value": 1.0}},
            {"allocation_info": {"role": "engineering"}, "name": "mem", "role": "*", "type": "SCALAR", "scalar": {"value": 128}}
          ],
          "limits": {"cpus": {"value": "Infinity"}, "mem": {"value": 256}},
          "data": "aGVsbG8="
        }]
      }
    }],
    "filters": {"refuse_seconds": 5.0}
  }
}`);

const subscribed = compact(`{
  "type": "SUBSCRIBED",
  "subscribed": {
    "framework_id": {"value": "c7d1d0a4-5b3e-4a35-9b7a-3c2f1e7f6c10-0000"},
    "heartbeat_interval_seconds": 15.0,
    "master_info": {
      "id": "c7d1d0a4-5b3e-4a35-9b7a-3c2f1e7f6c10",
      "ip": 16777226,
      "port": 5050,
      "pid": "master@10.0.0.1:5050",
      "hostname": "m1",
      "version": "1.11.0",
      "address": {"hostname": "m1", "ip": "10.0.0.1", "port": 5050},
      "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {"type": "QUOTA_V2"}]
    }
  }
}`);

const offers = compact(`{
  "type": "OFFERS",
  "offers": {
    "offers": [{
      "id": {"value": "m-O1"},
      "framework_id": {"value": "m-0000"},
      "agent_id": {"value": "m-S0"},
      "hostname": "agent1",
      "url": {"scheme": "http", "address": {"hostname": "agent1", "ip": "10.0.0.2", "port": 5051}, "path": "/slave(1)"},
      "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "allocation_info": {"role": "eng"}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}, {"begin": 33000, "end": 34000}]}, "allocation_info": {"role": "eng"}},
        {"name": "disks", "type": "SET", "set": {"item": ["sda", "sdb"]}, "allocation_info": {"role": "eng"}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "allocation_info": {"role": "eng"},
         "reservations": [{"type": "STATIC", "role": "eng"}, {"type": "DYNAMIC", "role": "eng/frontend", "principal": "p", "labels": {"labels": [{"key": "k", "value": "v"}]}}]},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 2048.0}, "role": "eng",
         "reservation": {"principal": "p"},
         "disk": {"persistence": {"id": "vol1", "principal": "p"}, "volume": {"mode": "RW", "container_path": "data"}}},
        {"name": "gpus", "type": "SCALAR", "scalar": {"value": 1.0}, "revocable": {}, "shared": {}}
      ],
      "attributes": [
        {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
        {"name": "level", "type": "SCALAR", "scalar": {"value": 3.0}},
        {"name": "slots", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 4}]}},
        {"name": "tags", "type": "SET", "set": {"item": ["ssd"]}}
      ],
      "executor_ids": [{"value": "e1"}],
      "allocation_info": {"role": "eng"}
    }]
  }
}`);

const update = compact(`{
  "type": "UPDATE",
  "update": {
    "status": {
      "task_id": {"value": "t1"},
      "state": "TASK_RUNNING",
      "source": "SOURCE_EXECUTOR",
      "reason": "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
      "agent_id": {"value": "m-S0"},
      "executor_id": {"value": "t1"},
      "timestamp": 1470000000.123,
      "uuid": "ABEiM0RVZneImaq7zN3u/w==",
      "healthy": true,
      "unreachable_time": {"nanoseconds": 1470000000123456789}
    }
  }
}`);

describe('scheduler Call samples', () => {
  it('SUBSCRIBE parses and is written back with the FrameworkInfo defaults Mesos emits', () => {
    const call = fromMesosJson(CallSchema, subscribe);
    assert.equal(call.type, Call_Type.SUBSCRIBE);
    const info = call.subscribe?.frameworkInfo;
    assert.equal(info?.user, 'foo');
    assert.deepEqual(info?.roles, ['test']);
    assert.deepEqual(
      info?.capabilities.map((c) => c.type),
      [FrameworkInfo_Capability_Type.MULTI_ROLE, FrameworkInfo_Capability_Type.PARTITION_AWARE],
    );
    assert.equal(
      toMesosJsonText(CallSchema, call),
      '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo","name":"Example HTTP Framework",' +
        '"failover_timeout":0.0,"checkpoint":false,"roles":["test"],' +
        '"capabilities":[{"type":"MULTI_ROLE"},{"type":"PARTITION_AWARE"}]}}}',
      'failover_timeout/checkpoint defaults emitted; deprecated FrameworkInfo.role (default "*") not',
    );
    assertBothEncodings(CallSchema, subscribe);
  });

  it('SUBSCRIBE structural problems name the field path', () => {
    assert.throws(
      () => fromMesosJson(CallSchema, '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}'),
      isCode('WIRE_MISSING_REQUIRED', 'Missing required fields: subscribe.framework_info.user'),
    );
    assert.throws(
      () =>
        fromMesosJson(
          CallSchema,
          '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":5,"name":"x"}}}',
        ),
      isCode('WIRE_JSON_TYPE', /subscribe\.framework_info\.user/),
    );
    assert.throws(
      () =>
        fromMesosJson(
          CallSchema,
          '{"type":"SUBSCRIBE","subscribe":{"frameworkInfo":{"user":"u","name":"x"}}}',
        ),
      isCode('WIRE_MISSING_REQUIRED', 'Missing required fields: subscribe.framework_info'),
      'camelCase keys are not recognised',
    );
    assert.throws(
      () =>
        fromMesosJson(
          CallSchema,
          '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"x","roles":"r"}}}',
        ),
      isCode('WIRE_JSON_TYPE', /subscribe\.framework_info\.roles/),
    );
    const unknownType = fromMesosJson(CallSchema, '{"type":"SUBSCRIBE_PLEASE"}');
    assert.equal(
      isFieldSet(unknownType, CallSchema.field.type!),
      false,
      'unknown optional enum name → unset',
    );
  });

  it('ACCEPT with LAUNCH: limits accept "Infinity", defaults are filled in on output', () => {
    const call = fromMesosJson(CallSchema, accept);
    const task = call.accept?.operations[0]?.launch?.taskInfos[0];
    assert.ok(task);
    assert.equal(task.limits.cpus?.value, Number.POSITIVE_INFINITY);
    assert.equal(task.limits.mem?.value, 256);
    assert.deepEqual(task.data, new TextEncoder().encode('hello'));
    assert.equal(task.resources[0]?.role, '*');
    assert.equal(call.accept?.filters?.refuseSeconds, 5);
    const written = toMesosJsonText(CallSchema, call);
    assert.ok(
      written.includes(
        '"command":{"environment":{"variables":[{"name":"A","type":"VALUE","value":"1"}]},"shell":true,"value":"sleep 1000"}',
      ),
      written,
    );
    assert.ok(written.includes('"limits":{"cpus":{"value":Infinity},"mem":{"value":256.0}}'), written);
    assert.ok(
      written.includes(
        '{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*","allocation_info":{"role":"engineering"}}',
      ),
      'an explicitly set deprecated role is written',
    );
    assert.ok(written.endsWith('"filters":{"refuse_seconds":5.0}}}'), written);
    assertBothEncodings(CallSchema, accept);
  });

  it('limits values must be Value.Scalar objects', () => {
    const bare = accept.replace('"cpus":{"value":"Infinity"}', '"cpus":"Infinity"');
    assert.throws(
      () => fromMesosJson(CallSchema, bare),
      isCode('WIRE_JSON_NOT_OBJECT', /accept\.operations\[0\]\.launch\.task_infos\[0\]\.limits\["cpus"\]/),
    );
  });

  it('ACKNOWLEDGE carries the uuid as base64 bytes; bad base64 is a 400 naming the field', () => {
    const ack = fromMesosJson(
      CallSchema,
      '{"framework_id":{"value":"f"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"ABEiM0RVZneImaq7zN3u/w=="}}',
    );
    assert.equal(ack.acknowledge?.uuid.length, 16);
    assert.throws(
      () =>
        fromMesosJson(
          CallSchema,
          '{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"not base64!"}}',
        ),
      (err: unknown) =>
        isStrataError(err, 'WIRE_BAD_BASE64') && err.status === 400 && /acknowledge\.uuid/.test(err.message),
    );
  });

  it('DECLINE with empty filters gets refuse_seconds 5.0 written', () => {
    const decline = fromMesosJson(
      CallSchema,
      '{"framework_id":{"value":"f"},"type":"DECLINE","decline":{"offer_ids":[{"value":"o"}],"filters":{}}}',
    );
    assert.equal(
      toMesosJsonText(CallSchema, decline),
      '{"framework_id":{"value":"f"},"type":"DECLINE","decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":5.0}}}',
    );
    assert.equal(toMesosJsonText(FiltersSchema, create(FiltersSchema)), '{"refuse_seconds":5.0}');
  });
});

describe('scheduler Event samples', () => {
  it('SUBSCRIBED round-trips byte for byte', () => {
    const event = fromMesosJson(EventSchema, subscribed);
    assert.equal(event.type, Event_Type.SUBSCRIBED);
    assert.equal(event.subscribed?.masterInfo?.ip, 16777226);
    assert.equal(toMesosJsonText(EventSchema, event), subscribed);
    assertBothEncodings(EventSchema, subscribed);
  });

  it('OFFERS with ranges, sets, reservations, allocation_info round-trips byte for byte', () => {
    const event = fromMesosJson(EventSchema, offers);
    const offer = event.offers?.offers[0];
    assert.ok(offer);
    const ports = offer.resources[1];
    assert.equal(ports?.type, Value_Type.RANGES);
    assert.deepEqual(
      ports?.ranges?.range.map((r) => [r.begin, r.end]),
      [
        [31000n, 32000n],
        [33000n, 34000n],
      ],
    );
    assert.equal(isFieldSet(offer.resources[0]!, ResourceSchema.field.role!), false);
    assert.equal(offer.resources[0]?.role, '*', 'unset deprecated role still reads as its default');
    assert.equal(toMesosJsonText(EventSchema, event), offers, 'no "role":"*" invented for unset roles');
    assertBothEncodings(EventSchema, offers);
  });

  it('UPDATE: uuid as base64, timestamp double, 64-bit nanoseconds exact', () => {
    const event = fromMesosJson(EventSchema, update);
    const status = event.update?.status;
    assert.ok(status);
    assert.equal(status.state, TaskState.TASK_RUNNING);
    assert.equal(status.source, TaskStatus_Source.EXECUTOR);
    assert.deepEqual(
      status.uuid,
      Uint8Array.from([0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 238, 255]),
    );
    assert.equal(status.unreachableTime?.nanoseconds, 1470000000123456789n);
    assert.equal(status.timestamp, 1470000000.123);
    assert.equal(toMesosJsonText(EventSchema, event), update);
    assertBothEncodings(EventSchema, update);
    const tree = toMesosJson(TaskStatusSchema, status);
    assert.equal((tree.unreachable_time as Record<string, unknown>).nanoseconds, 1470000000123456789n);
  });

  it('an unknown required enum name is an error; a status missing its state names it', () => {
    assert.throws(
      () => fromMesosJson(TaskStatusSchema, '{"task_id":{"value":"t"},"state":"TASK_SLEEPING"}'),
      isCode('WIRE_BAD_ENUM', /field 'state': unknown value 'TASK_SLEEPING' of enum mesos\.v1\.TaskState/),
    );
    assert.throws(
      () => fromMesosJson(EventSchema, '{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"}}}}'),
      isCode('WIRE_MISSING_REQUIRED', 'Missing required fields: update.status.state'),
    );
  });

  it('binary events missing required fields are refused (an Offer without hostname)', () => {
    const event = fromMesosJson(EventSchema, offers);
    const offer = event.offers!.offers[0]!;
    delete (offer as { hostname?: string }).hostname;
    assert.throws(
      () => encodeBinary(EventSchema, event),
      isCode('INTERNAL', /offers\.offers\[0\]\.hostname/),
    );
    assert.throws(
      () => codec.encode(EventSchema, event, MEDIA_TYPE_JSON),
      isCode('INTERNAL', /offers\.offers\[0\]\.hostname/),
    );
  });

  it('an unknown enum number in binary reads as unset (optional) or fails (required)', () => {
    // Resource{name:"cpus", type:9} — Value.Type has no 9, and Resource.type is required.
    const resource = Uint8Array.from([0x0a, 0x04, ...new TextEncoder().encode('cpus'), 0x10, 0x09]);
    assert.throws(
      () => decodeBinary(ResourceSchema, resource),
      isCode('WIRE_MISSING_REQUIRED', 'Missing required fields: type'),
    );
    // FrameworkInfo.Capability{type: 99} inside a FrameworkInfo: the capability stays, its type is unset.
    const info = fromMesosJson(
      FrameworkInfoSchema,
      '{"user":"u","name":"n","capabilities":[{"type":"MULTI_ROLE"}]}',
    );
    const bytes = encodeBinary(FrameworkInfoSchema, info);
    const patched = Uint8Array.from(bytes);
    const at = patched.lastIndexOf(0x06);
    patched[at] = 99;
    const decoded = decodeBinary(FrameworkInfoSchema, patched);
    assert.equal(decoded.capabilities.length, 1);
    assert.match(toMesosJsonText(FrameworkInfoSchema, decoded), /"capabilities":\[\{\}\]/);
  });
});

describe('defaults emitted for other message types', () => {
  it('a required field with a default is written with it, yet encoders still refuse it unset', () => {
    const master = create(MasterInfoSchema, { id: 'm', ip: 16777226 });
    assert.equal(toMesosJsonText(MasterInfoSchema, master), '{"id":"m","ip":16777226,"port":5050}');
    assert.throws(() => codec.encode(MasterInfoSchema, master, MEDIA_TYPE_JSON), isCode('INTERNAL', /port/));
    assert.throws(
      () => codec.encode(MasterInfoSchema, master, MEDIA_TYPE_PROTOBUF),
      isCode('INTERNAL', /port/),
    );
    assert.throws(
      () => fromMesosJson(MasterInfoSchema, '{"id":"m","ip":1}'),
      isCode('WIRE_MISSING_REQUIRED', 'Missing required fields: port'),
    );
  });

  it('CommandInfo.shell, HealthCheck timings, Environment.Variable.type', () => {
    assert.equal(toMesosJsonText(CommandInfoSchema, create(CommandInfoSchema)), '{"shell":true}');
    assert.equal(
      toMesosJsonText(HealthCheckSchema, create(HealthCheckSchema)),
      '{"delay_seconds":15.0,"interval_seconds":10.0,"timeout_seconds":20.0,"consecutive_failures":3,"grace_period_seconds":10.0}',
    );
    assert.equal(
      toMesosJsonText(FrameworkInfoSchema, create(FrameworkInfoSchema, { user: 'u', name: 'n' })),
      '{"user":"u","name":"n","failover_timeout":0.0,"checkpoint":false}',
    );
    assert.equal(
      toMesosJsonText(
        ResourceSchema,
        create(ResourceSchema, { name: 'cpus', type: Value_Type.SCALAR, scalar: { value: 2 } }),
      ),
      '{"name":"cpus","type":"SCALAR","scalar":{"value":2.0}}',
    );
  });
});
