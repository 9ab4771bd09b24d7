import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
  MasterToAgentSchema,
} from '../../../src/wire/gen/strata/internal/v1/link_pb.js';
import { acceptLinks, connectLink, LINK_PATH, type LinkConnection } from '../../../src/wire/link.js';

describe('strata-link/1', () => {
  let server: Server;
  let port: number;
  const serverSide: LinkConnection<typeof AgentToMasterSchema, typeof MasterToAgentSchema>[] = [];

  before(async () => {
    server = createServer((_req, res) => res.end('plain http'));
    acceptLinks(server, AgentToMasterSchema, MasterToAgentSchema, (link) => {
      serverSide.push(link);
      link.attach({
        onMessage: (m: AgentToMaster) => {
          if (m.type === AgentToMaster_Type.PONG) {
            link.send(
              create(MasterToAgentSchema, {
                type: MasterToAgent_Type.PING,
                ping: { sequence: (m.pong?.sequence ?? 0n) + 1n, connected: true },
              }),
            );
          }
        },
        onClose: () => {},
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('carries protobuf envelopes both ways, in order', async () => {
    const link = await connectLink('127.0.0.1', port, MasterToAgentSchema, AgentToMasterSchema);
    const received: MasterToAgent[] = [];
    const done = new Promise<void>((resolve) =>
      link.attach({
        onMessage: (m) => {
          received.push(m);
          if (received.length === 100) resolve();
        },
        onClose: () => {},
      }),
    );
    for (let i = 0; i < 100; i++) {
      link.send(
        create(AgentToMasterSchema, { type: AgentToMaster_Type.PONG, pong: { sequence: BigInt(i) } }),
      );
    }
    await done;
    assert.deepEqual(
      received.map((m) => m.ping?.sequence),
      Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
    );
    link.close();
  });

  it('reports the close to the other side', async () => {
    const before = serverSide.length;
    const link = await connectLink('127.0.0.1', port, MasterToAgentSchema, AgentToMasterSchema);
    link.attach({ onMessage: () => {}, onClose: () => {} });
    while (serverSide.length === before) await new Promise((r) => setTimeout(r, 5));
    const peer = serverSide[serverSide.length - 1]!;
    const closed = new Promise<string>((resolve) => peer.attach({ onMessage: () => {}, onClose: resolve }));
    link.close();
    assert.match(await closed, /closed/);
    assert.equal(link.send(create(AgentToMasterSchema, { type: AgentToMaster_Type.PONG })), false);
  });

  it('closes a link whose peer sends garbage, without crashing', async () => {
    const before = serverSide.length;
    const socket = connect(port, '127.0.0.1');
    socket.write(
      `GET ${LINK_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: strata-link/1\r\n\r\n`,
    );
    while (serverSide.length === before) await new Promise((r) => setTimeout(r, 5));
    const peer = serverSide[serverSide.length - 1]!;
    const closed = new Promise<string>((resolve) => peer.attach({ onMessage: () => {}, onClose: resolve }));
    socket.write('12x\nnot a length');
    assert.match(await closed, /bad framing/);
    socket.destroy();
  });

  it('refuses other upgrades and reports an unreachable master clearly', async () => {
    await assert.rejects(
      connectLink('127.0.0.1', 1, MasterToAgentSchema, AgentToMasterSchema, 2000),
      /cannot reach master at 127\.0\.0\.1:1/,
    );
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /other HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    let text = '';
    for await (const chunk of socket) text += chunk;
    assert.match(text, /^HTTP\/1\.1 400/);
  });
});
