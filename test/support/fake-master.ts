/**
 * A stand-in master for agent tests: accepts strata-link/1 connections on loopback, answers
 * REGISTER/REREGISTER, records every message an agent sends and lets the test send anything back.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  MasterToAgent_Type,
  MasterToAgentSchema,
} from '../../src/wire/gen/strata/internal/v1/link_pb.js';
import { acceptLinks, type LinkConnection } from '../../src/wire/link.js';

type MasterLinkEnd = LinkConnection<typeof AgentToMasterSchema, typeof MasterToAgentSchema>;

interface Waiter {
  predicate: (message: AgentToMaster) => boolean;
  resolve: (message: AgentToMaster) => void;
}

export class FakeMaster {
  readonly messages: AgentToMaster[] = [];
  /** Messages no waiter has consumed yet, in arrival order. */
  private readonly unread: AgentToMaster[] = [];
  private readonly waiters: Waiter[] = [];
  private server: Server | undefined;
  link: MasterLinkEnd | undefined;
  links = 0;
  port = 0;
  agentId = 'fake-master-S0';
  /** When false the master swallows registrations (tests of the agent's patience). */
  answerRegistrations = true;
  /** The ping budget announced to agents on registration. */
  pingTimeoutSeconds = 30;
  /** Set to make the next registration be refused with this message. */
  refuseWith: string | undefined;

  /** Listens on loopback, on `port` when given (an agent may already be trying it), else any. */
  async start(port = 0): Promise<void> {
    const server = createServer((_req, res) => res.end('fake master'));
    acceptLinks(server, AgentToMasterSchema, MasterToAgentSchema, (link) => this.accept(link));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.link?.close('fake master stopping');
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(link: MasterLinkEnd): void {
    this.links++;
    this.link = link;
    link.attach({
      onMessage: (message) => {
        this.messages.push(message);
        if (message.type === AgentToMaster_Type.REGISTER || message.type === AgentToMaster_Type.REREGISTER) {
          this.answerRegistration(link, message);
        }
        const waiter = this.waiters.findIndex((w) => w.predicate(message));
        if (waiter >= 0) this.waiters.splice(waiter, 1)[0]!.resolve(message);
        else this.unread.push(message);
      },
      onClose: () => {
        if (this.link === link) this.link = undefined;
      },
    });
  }

  private answerRegistration(link: MasterLinkEnd, message: AgentToMaster): void {
    if (this.refuseWith !== undefined) {
      link.send(
        create(MasterToAgentSchema, {
          type: MasterToAgent_Type.REFUSED,
          refused: { message: this.refuseWith },
        }),
      );
      return;
    }
    if (!this.answerRegistrations) return;
    const reregister = message.type === AgentToMaster_Type.REREGISTER;
    const id = reregister ? (message.reregister?.agentInfo?.id?.value ?? this.agentId) : this.agentId;
    link.send(
      create(MasterToAgentSchema, {
        type: reregister ? MasterToAgent_Type.REREGISTERED : MasterToAgent_Type.REGISTERED,
        registered: {
          agentId: { value: id },
          masterInfo: { id: 'fake-master', ip: 0, port: this.port, hostname: 'fake-master-host' },
          pingTimeoutSeconds: this.pingTimeoutSeconds,
        },
      }),
    );
  }

  send(init: MessageInitShape<typeof MasterToAgentSchema>): void {
    if (!this.link) throw new Error('no agent is linked');
    this.link.send(create(MasterToAgentSchema, init));
  }

  /** The next (unread) message matching `predicate`, waiting up to `timeoutMs`. */
  next(
    predicate: (message: AgentToMaster) => boolean,
    timeoutMs = 10_000,
    what = 'message',
  ): Promise<AgentToMaster> {
    const index = this.unread.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const seen = this.messages.map((m) => AgentToMaster_Type[m.type]).join(', ');
        reject(new Error(`no ${what} within ${timeoutMs} ms; the agent sent: ${seen}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  nextOfType(type: AgentToMaster_Type, timeoutMs = 10_000): Promise<AgentToMaster> {
    return this.next((m) => m.type === type, timeoutMs, AgentToMaster_Type[type]);
  }

  /** Forgets unread messages (between test steps). */
  drain(): void {
    this.unread.length = 0;
  }
}
