/**
 * Reference mesos-v1-api.md section 8.1 (scheduler endpoint transport) and the status-code
 * matrix of section 1.7, each run with JSON and with protobuf bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { RunningMaster } from '../../../src/master/process.js';
import { codec, type WireMediaType } from '../../../src/wire/codec.js';
import { Call_Type, CallSchema, Event_Type } from '../../../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { startTestMaster } from '../../support/master.js';
import { post, TestScheduler } from '../../support/scheduler-client.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const framework = { user: 'test', name: 'default', roles: ['*'], capabilities: [{ type: 6 }, { type: 7 }] };

describe('scheduler endpoint transport', () => {
  let master: RunningMaster & { url: string };
  const open: TestScheduler[] = [];
  before(async () => {
    master = await startTestMaster(['--heartbeat_interval=300ms']);
  });
  after(async () => {
    for (const s of open) s.close();
    await master.close();
  });
  const scheduler = (mediaType: WireMediaType = 'application/json') => {
    const s = new TestScheduler(master.url, mediaType);
    open.push(s);
    return s;
  };

  it('S3: valid JSON that is not a Call is a 400', async () => {
    const res = await post(`${master.url}/api/v1/scheduler`, '{"string":"valid_json"}', {
      'Content-Type': 'application/json',
    });
    assert.equal(res.status, 400);
    assert.equal(res.body, "Failed to validate scheduler::Call: Expecting 'type' to be present");
  });

  it('rejects GET with 405 and Allow', async () => {
    const res = await post(`${master.url}/api/v1/scheduler`, '', {}, 'GET');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
    assert.equal(res.body, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.");
  });

  it('missing Content-Type is 400; JSON syntax and conversion errors have Mesos texts', async () => {
    const url = `${master.url}/api/v1/scheduler`;
    const missing = await post(url, '{}', {});
    assert.equal(missing.status, 400);
    assert.equal(missing.body, "Expecting 'Content-Type' to be present");
    const syntax = await post(url, '{"type":', { 'Content-Type': 'application/json' });
    assert.equal(syntax.status, 400);
    assert.match(syntax.body, /^Failed to parse body into JSON: /);
    const convert = await post(url, '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":5}}}', {
      'Content-Type': 'application/json',
    });
    assert.equal(convert.status, 400);
    assert.match(convert.body, /^Failed to convert JSON into Call protobuf: /);
    const proto = await post(url, new Uint8Array([0xff, 0xff, 0xff]), {
      'Content-Type': 'application/x-protobuf',
    });
    assert.equal(proto.status, 400);
    assert.equal(proto.body, 'Failed to parse body into Call protobuf');
  });

  it('a prefixed path and ignored query strings reach the same endpoint', async () => {
    const res = await post(`${master.url}/master/api/v1/scheduler?_ts=123`, '{"type":"SUBSCRIBE"}', {
      'Content-Type': 'application/json',
    });
    assert.equal(res.status, 400);
    assert.equal(res.body, "Failed to validate scheduler::Call: Expecting 'subscribe' to be present");
  });

  for (const mediaType of ['application/json', 'application/x-protobuf'] as const) {
    describe(mediaType, () => {
      it('S5: unknown Content-Type is 415', async () => {
        const body = codec.encode(
          CallSchema,
          create(CallSchema, { type: Call_Type.SUBSCRIBE, subscribe: { frameworkInfo: framework } }),
          mediaType,
        );
        const res = await post(`${master.url}/api/v1/scheduler`, body, {
          'Content-Type': 'application/unknown-media-type',
        });
        assert.equal(res.status, 415);
      });

      it('S7: SUBSCRIBE streams SUBSCRIBED, then HEARTBEAT at once and on the interval', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        assert.equal(s.status, 200);
        assert.match(s.streamId, UUID);
        assert.equal(s.contentType, mediaType);
        const first = await s.next(() => true);
        assert.equal(first.type, Event_Type.SUBSCRIBED);
        assert.ok(first.subscribed?.frameworkId?.value);
        assert.equal(first.subscribed?.heartbeatIntervalSeconds, 0.3);
        assert.equal((await s.next(() => true)).type, Event_Type.HEARTBEAT);
        assert.equal((await s.next(() => true, 2000)).type, Event_Type.HEARTBEAT);
        s.close();
      });

      it('S9: no Accept header yields JSON events', async () => {
        const s = await scheduler(mediaType).subscribe(framework, { accept: null });
        assert.equal(s.status, 200);
        assert.equal(s.contentType, 'application/json');
        assert.equal((await s.next(() => true)).type, Event_Type.SUBSCRIBED);
        s.close();
      });

      it('S11: SUBSCRIBE with a Mesos-Stream-Id header is 400', async () => {
        const s = await scheduler(mediaType).subscribe(framework, { headers: { 'Mesos-Stream-Id': 'x' } });
        assert.equal(s.status, 400);
        assert.equal(s.errorBody, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
      });

      it('S13: re-subscribing with the framework id fails over the old stream', async () => {
        const first = await scheduler(mediaType).subscribe({ ...framework, failoverTimeout: 60 });
        await first.nextOfType(Event_Type.SUBSCRIBED);
        const id = first.frameworkId;
        const second = await scheduler(mediaType).subscribe(
          { ...framework, id: { value: id } },
          { frameworkId: id },
        );
        const subscribed = await second.nextOfType(Event_Type.SUBSCRIBED);
        assert.equal(subscribed.subscribed?.frameworkId?.value, id);
        assert.equal((await second.next(() => true)).type, Event_Type.HEARTBEAT);
        assert.notEqual(second.streamId, first.streamId);
        const error = await first.nextOfType(Event_Type.ERROR);
        assert.equal(error.error?.message, 'Framework failed over');
        await first.untilClosed();
        second.close();
      });

      it('S15/S19: non-SUBSCRIBE calls need the stream id and the framework id', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const noStream = await s.call({ type: Call_Type.TEARDOWN }, { streamId: null });
        assert.equal(noStream.status, 400);
        assert.equal(noStream.body, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
        const wrong = await s.call({ type: Call_Type.TEARDOWN }, { streamId: 'not-it' });
        assert.equal(wrong.status, 400);
        assert.match(wrong.body, /^The stream ID 'not-it' included in this request didn't match/);
        const body = codec.encode(CallSchema, create(CallSchema, { type: Call_Type.TEARDOWN }), mediaType);
        const noFramework = await post(`${master.url}/api/v1/scheduler`, body, { 'Content-Type': mediaType });
        assert.equal(noFramework.status, 400);
        assert.equal(
          noFramework.body,
          "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
        );
        const teardown = await s.call({ type: Call_Type.TEARDOWN });
        assert.equal(teardown.status, 202);
        await s.untilClosed();
      });

      it('S17: ACKNOWLEDGE with a uuid that is not 16 bytes is 400', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const res = await s.call({
          type: Call_Type.ACKNOWLEDGE,
          acknowledge: {
            agentId: { value: 'a' },
            taskId: { value: 't' },
            uuid: new TextEncoder().encode('bad-uuid'),
          },
        });
        assert.equal(res.status, 400);
        assert.equal(res.body, 'Failed to validate scheduler::Call: Not a valid UUID');
        s.close();
      });

      it('S21: calls for a disconnected framework are 403', async () => {
        const s = await scheduler(mediaType).subscribe({ ...framework, failoverTimeout: 3600 });
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const streamId = s.streamId;
        s.close();
        await new Promise((r) => setTimeout(r, 100));
        const res = await s.call(
          { type: Call_Type.DECLINE, decline: { offerIds: [{ value: 'o' }] } },
          { streamId },
        );
        assert.equal(res.status, 403);
        assert.equal(res.body, 'Framework is not subscribed');
      });

      it('an unknown framework id is 400 Framework cannot be found', async () => {
        const s = scheduler(mediaType);
        s.frameworkId = 'no-such-framework';
        const res = await s.call({ type: Call_Type.REVIVE }, { streamId: 'x' });
        assert.equal(res.status, 400);
        assert.equal(res.body, 'Framework cannot be found');
      });

      it('refuses bad FrameworkInfo in-band: 200, ERROR, then close', async () => {
        const s = await scheduler(mediaType).subscribe({ ...framework, roles: ['/test/test1'] });
        assert.equal(s.status, 200);
        const error = await s.nextOfType(Event_Type.ERROR);
        assert.match(error.error?.message ?? '', /test1/);
        await s.untilClosed();
      });

      it('F23/F25: a removed framework cannot subscribe again', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const id = s.frameworkId;
        assert.equal((await s.call({ type: Call_Type.TEARDOWN })).status, 202);
        await s.untilClosed();
        const again = await scheduler(mediaType).subscribe(
          { ...framework, id: { value: id } },
          { frameworkId: id },
        );
        assert.equal(again.status, 200);
        assert.equal((await again.nextOfType(Event_Type.ERROR)).error?.message, 'Framework has been removed');
        await again.untilClosed();
      });

      it('F25: a framework whose failover timeout expires is removed', async () => {
        const s = await scheduler(mediaType).subscribe({ ...framework, failoverTimeout: 0.2 });
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const id = s.frameworkId;
        s.close();
        await new Promise((r) => setTimeout(r, 600));
        const again = await scheduler(mediaType).subscribe(
          { ...framework, id: { value: id } },
          { frameworkId: id },
        );
        assert.equal((await again.nextOfType(Event_Type.ERROR)).error?.message, 'Framework has been removed');
      });

      it('F27: re-subscribing with another user keeps the original user', async () => {
        const s = await scheduler(mediaType).subscribe({ ...framework, failoverTimeout: 60 });
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const id = s.frameworkId;
        const again = await scheduler(mediaType).subscribe(
          { ...framework, user: 'someone-else', id: { value: id } },
          { frameworkId: id },
        );
        await again.nextOfType(Event_Type.SUBSCRIBED);
        const state = JSON.parse((await post(`${master.url}/master/frameworks`, '', {}, 'GET')).body) as {
          frameworks: Array<{ id: string; user: string }>;
        };
        assert.equal(state.frameworks.find((f) => f.id === id)?.user, 'test');
        again.close();
      });

      it('F29: UPDATE_FRAMEWORK refuses a changed user and applies a new name', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const id = { value: s.frameworkId };
        const refused = await s.call({
          type: Call_Type.UPDATE_FRAMEWORK,
          updateFramework: { frameworkInfo: { ...framework, id, user: 'other' } },
        });
        assert.equal(refused.status, 400);
        assert.match(refused.body, /^FrameworkInfo update is not valid: .*user/);
        const ok = await s.call({
          type: Call_Type.UPDATE_FRAMEWORK,
          updateFramework: { frameworkInfo: { ...framework, id, name: 'renamed' } },
        });
        assert.equal(ok.status, 200);
        const state = JSON.parse((await post(`${master.url}/master/frameworks`, '', {}, 'GET')).body) as {
          frameworks: Array<{ id: string; name: string }>;
        };
        assert.equal(state.frameworks.find((f) => f.id === id.value)?.name, 'renamed');
        const mismatch = await s.call({
          type: Call_Type.UPDATE_FRAMEWORK,
          updateFramework: { frameworkInfo: { ...framework, id: { value: 'other' } } },
        });
        assert.equal(mismatch.status, 400);
        s.close();
      });

      it('type UNKNOWN is 501; RECONCILE_OPERATIONS answers in-band', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const unknown = await s.call({ type: Call_Type.UNKNOWN });
        assert.equal(unknown.status, 501);
        const reconcile = await s.call({
          type: Call_Type.RECONCILE_OPERATIONS,
          reconcileOperations: { operations: [{ operationId: { value: 'op-1' } }] },
        });
        assert.equal(reconcile.status, 202);
        const update = await s.nextOfType(Event_Type.UPDATE_OPERATION_STATUS);
        assert.equal(update.updateOperationStatus?.status?.operationId?.value, 'op-1');
        assert.equal(update.updateOperationStatus?.status?.state, 9 /* OPERATION_UNKNOWN */);
        s.close();
      });

      it('F15: REQUEST is accepted and does nothing', async () => {
        const s = await scheduler(mediaType).subscribe(framework);
        await s.nextOfType(Event_Type.SUBSCRIBED);
        const res = await s.call({ type: Call_Type.REQUEST, request: { requests: [{}] } });
        assert.equal(res.status, 202);
        assert.equal(res.body, '');
        s.close();
      });
    });
  }
});
