import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createLogger } from '../../../src/common/log.js';
import { AgentApiClient } from '../../../src/executors/agent-api-client.js';
import { codec, MEDIA_TYPE_JSON } from '../../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  Response_Type,
  ResponseSchema,
} from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import { CommandInfoSchema, ContainerIDSchema, TaskState } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  call: Call;
}

/** Answers operator calls from a script: status and body per call type. */
describe('AgentApiClient against a local HTTP server', () => {
  const received: Received[] = [];
  let answer: (call: Call) => { status: number; body?: string | Uint8Array } = () => ({ status: 200 });
  let server: Server;
  let url = '';
  const logger = createLogger('test', 'silent');
  const containerId = create(ContainerIDSchema, { value: 'child', parent: { value: 'executor' } });

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const call = codec.decode(CallSchema, new Uint8Array(Buffer.concat(chunks)), MEDIA_TYPE_JSON);
        received.push({ path: request.url ?? '', headers: request.headers, call });
        const { status, body } = answer(call);
        response.writeHead(status, body === undefined ? {} : { 'Content-Type': MEDIA_TYPE_JSON });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slave(1)/api/v1`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('LAUNCH_NESTED_CONTAINER: JSON call with container id, command and container; 200 / 202 / refusal', async () => {
    const client = new AgentApiClient({ url, logger, authenticationToken: 'tok' });
    answer = () => ({ status: 200 });
    const launched = await client.launch({
      containerId,
      command: create(CommandInfoSchema, { value: 'sleep 1' }),
    });
    assert.deepEqual(launched, { kind: 'ok', value: true });
    const last = received.at(-1)!;
    assert.equal(last.path, '/slave(1)/api/v1');
    assert.equal(last.headers['content-type'], 'application/json');
    assert.equal(last.headers['accept'], 'application/json');
    assert.equal(last.headers['authorization'], 'Bearer tok');
    assert.equal(last.call.type, Call_Type.LAUNCH_NESTED_CONTAINER);
    assert.equal(last.call.launchNestedContainer?.containerId?.value, 'child');
    assert.equal(last.call.launchNestedContainer?.containerId?.parent?.value, 'executor');
    assert.equal(last.call.launchNestedContainer?.command?.value, 'sleep 1');
    assert.equal(last.call.launchNestedContainer?.container, undefined);

    answer = () => ({ status: 202 });
    assert.deepEqual(await client.launch({ containerId }), { kind: 'ok', value: false });
    answer = () => ({ status: 400, body: 'Unsupported container' });
    assert.deepEqual(await client.launch({ containerId }), {
      kind: 'rejected',
      httpStatus: 400,
      detail: 'Unsupported container',
    });
  });

  it('WAIT_NESTED_CONTAINER: decodes the answer; 404 is a refusal; garbage counts as unreachable', async () => {
    const client = new AgentApiClient({ url, logger });
    answer = () => ({
      status: 200,
      body: codec.encode(
        ResponseSchema,
        create(ResponseSchema, {
          type: Response_Type.WAIT_NESTED_CONTAINER,
          waitNestedContainer: { exitStatus: 256, state: TaskState.TASK_FAILED, message: 'x' },
        }),
        MEDIA_TYPE_JSON,
      ),
    });
    assert.deepEqual(await client.wait(containerId), {
      kind: 'ok',
      value: { exitStatus: 256, state: TaskState.TASK_FAILED, message: 'x' },
    });
    const last = received.at(-1)!;
    assert.equal(last.call.type, Call_Type.WAIT_NESTED_CONTAINER);
    assert.equal(last.call.waitNestedContainer?.containerId?.value, 'child');
    assert.equal(last.headers['authorization'], undefined);

    answer = () => ({ status: 404 });
    assert.deepEqual(await client.wait(containerId), {
      kind: 'rejected',
      httpStatus: 404,
      detail: '(no body)',
    });
    answer = () => ({ status: 200, body: '{"type": "WAIT_NESTED_CONTAINER"' });
    assert.equal((await client.wait(containerId)).kind, 'unreachable');
    answer = () => ({ status: 200, body: '{"type": "GET_HEALTH"}' });
    assert.equal((await client.wait(containerId)).kind, 'unreachable');
  });

  it('KILL_NESTED_CONTAINER: carries the signal number', async () => {
    const client = new AgentApiClient({ url, logger });
    answer = () => ({ status: 200 });
    assert.deepEqual(await client.kill(containerId, 15), { kind: 'ok', value: undefined });
    const last = received.at(-1)!;
    assert.equal(last.call.type, Call_Type.KILL_NESTED_CONTAINER);
    assert.equal(last.call.killNestedContainer?.signal, 15);
    assert.equal(last.call.killNestedContainer?.containerId?.value, 'child');
    answer = () => ({ status: 404 });
    assert.equal((await client.kill(containerId, 9)).kind, 'rejected');
  });

  it('an agent that is not there is unreachable, not an exception', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new AgentApiClient({ url: `http://127.0.0.1:${port}/slave(1)/api/v1`, logger });
    const outcome = await client.kill(containerId, 15);
    assert.equal(outcome.kind, 'unreachable');
    assert.match(
      outcome.kind === 'unreachable' ? outcome.detail : '',
      /KILL_NESTED_CONTAINER failed: .*ECONNREFUSED/,
    );
  });
});
