/**
 * The agent's side of strata-link/1: find the master, (re-)register, answer pings, notice when the
 * master is gone and start over (mesos-internals.md section 4.2).
 *
 * States: `connecting` (no link; attempts follow a backoff) → `registering` (link up, REGISTER or
 * REREGISTER sent) → `registered` (REGISTERED/REREGISTERED received; pings watched). A lost link,
 * a ping watchdog expiry, a PING that says `connected=false` or no registration reply in time all
 * return to `connecting`. REFUSED and SHUTDOWN_AGENT are final: `onFatal`.
 *
 * Backoff as Mesos: the first attempt after a random delay in [0, factor], then random delays in
 * [0, max] with max doubling from 2·factor up to one minute.
 */
import { create } from '@bufbuild/protobuf';
import type { Clock, TimerHandle } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import {
  type AgentToMaster,
  AgentToMaster_Type,
  AgentToMasterSchema,
  type MasterToAgent,
  MasterToAgent_Type,
  MasterToAgentSchema,
} from '../wire/gen/strata/internal/v1/link_pb.js';
import { connectLink, type LinkConnection } from '../wire/link.js';

export const MAX_REGISTRATION_BACKOFF_MS = 60_000;
/** How long a sent REGISTER/REREGISTER may go unanswered before the link is dropped and retried. */
export const REGISTRATION_REPLY_TIMEOUT_MS = 30_000;

export type LinkState = 'connecting' | 'registering' | 'registered' | 'stopped';

type AgentLink = LinkConnection<typeof MasterToAgentSchema, typeof AgentToMasterSchema>;

/** The delay bound after an attempt bounded by `currentMax` failed: doubling, at most one minute. */
export function nextBackoffMax(currentMax: number, factorMs: number): number {
  return Math.min(MAX_REGISTRATION_BACKOFF_MS, Math.max(2 * factorMs, currentMax * 2));
}

export interface MasterLinkOptions {
  host: string;
  port: number;
  backoffFactorMs: number;
  clock: Clock;
  log: Logger;
  random?: () => number;
  /** REGISTER when the agent has no id yet, else REREGISTER with what runs here now. */
  registration(): AgentToMaster;
  onRegistered(agentId: string, reregistered: boolean, message: MasterToAgent): void;
  onDisconnected(reason: string): void;
  onMessage(message: MasterToAgent): void;
  onFatal(message: string): void;
}

export class MasterLink {
  private link: AgentLink | undefined;
  private linkState: LinkState = 'connecting';
  private attempt: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private pingTimeoutMs = 75_000;
  private backoffMax: number;
  private failures = 0;
  private readonly random: () => number;

  constructor(private readonly options: MasterLinkOptions) {
    this.backoffMax = options.backoffFactorMs;
    this.random = options.random ?? Math.random;
  }

  get state(): LinkState {
    return this.linkState;
  }

  /** Starts trying to register (first attempt within the backoff factor). */
  start(): void {
    this.schedule(this.options.backoffFactorMs);
  }

  /** Sends when registered; returns false (message dropped) otherwise. */
  send(message: AgentToMaster): boolean {
    if (this.linkState !== 'registered' || !this.link) return false;
    return this.link.send(message);
  }

  /** Sends a last message if registered, then closes for good. */
  /**
   * Stops for good. Resolves once the master has closed its side too (it has read everything sent
   * before: the last status updates reach it before, say, a local cluster stops the master), or
   * after `drainMs`.
   */
  stop(farewell?: AgentToMaster, drainMs = 1000): Promise<void> {
    if (this.linkState === 'stopped') return Promise.resolve();
    if (farewell) this.send(farewell);
    this.linkState = 'stopped';
    this.attempt?.cancel();
    this.watchdog?.cancel();
    const link = this.link;
    this.link = undefined;
    if (!link) return Promise.resolve();
    link.close('agent stopping');
    return Promise.race([link.gone, new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref())]);
  }

  private schedule(bound: number): void {
    if (this.linkState === 'stopped') return;
    this.attempt?.cancel();
    const delay = Math.floor(this.random() * Math.max(0, bound));
    this.attempt = this.options.clock.setTimeout(() => {
      this.attempt = undefined;
      void this.connect();
    }, delay);
  }

  private async connect(): Promise<void> {
    const { host, port, log } = this.options;
    let link: AgentLink;
    try {
      link = await connectLink(host, port, MasterToAgentSchema, AgentToMasterSchema);
    } catch (err) {
      this.retryLater(`master at ${host}:${port} is not reachable: ${(err as Error).message}`);
      return;
    }
    if (this.linkState === 'stopped') {
      link.close('agent stopping');
      return;
    }
    this.link = link;
    this.linkState = 'registering';
    link.attach({
      onMessage: (message) => {
        if (this.link === link) this.receive(message);
      },
      onClose: (reason) => {
        if (this.link === link) this.lost(`link to the master closed: ${reason}`);
      },
    });
    const registration = this.options.registration();
    log.info(
      { master: `${host}:${port}`, reregister: registration.type === AgentToMaster_Type.REREGISTER },
      registration.type === AgentToMaster_Type.REREGISTER
        ? 're-registering with the master'
        : 'registering with the master',
    );
    link.send(registration);
    this.armWatchdog(
      Math.max(REGISTRATION_REPLY_TIMEOUT_MS, this.options.backoffFactorMs),
      'no reply to registration',
    );
  }

  private receive(message: MasterToAgent): void {
    switch (message.type) {
      case MasterToAgent_Type.REGISTERED:
      case MasterToAgent_Type.REREGISTERED: {
        const registered = message.registered;
        const agentId = registered?.agentId?.value ?? '';
        if (agentId === '') {
          this.options.log.warn('registration reply without an agent id; ignoring it');
          return;
        }
        this.linkState = 'registered';
        this.failures = 0;
        this.backoffMax = this.options.backoffFactorMs;
        const seconds = registered?.pingTimeoutSeconds ?? 75;
        this.pingTimeoutMs = seconds > 0 ? seconds * 1000 : 75_000;
        this.armWatchdog(this.pingTimeoutMs, 'no ping from the master');
        this.options.onRegistered(agentId, message.type === MasterToAgent_Type.REREGISTERED, message);
        return;
      }
      case MasterToAgent_Type.PING: {
        const ping = message.ping;
        this.link?.send(
          create(AgentToMasterSchema, {
            type: AgentToMaster_Type.PONG,
            pong: { sequence: ping?.sequence ?? 0n },
          }),
        );
        if (this.linkState !== 'registered') return;
        if (ping && !ping.connected) {
          this.lost('the master does not consider this agent connected');
          return;
        }
        this.armWatchdog(this.pingTimeoutMs, 'no ping from the master');
        return;
      }
      case MasterToAgent_Type.REFUSED:
        this.fatal(`Registration refused by the master: ${message.refused?.message ?? ''}`);
        return;
      case MasterToAgent_Type.SHUTDOWN_AGENT:
        this.fatal(`Asked to shut down by the master: ${message.shutdownAgent?.message ?? ''}`);
        return;
      default:
        if (this.linkState !== 'registered') {
          this.options.log.warn(
            { type: MasterToAgent_Type[message.type] },
            'message before registration; dropped',
          );
          return;
        }
        this.options.onMessage(message);
    }
  }

  private armWatchdog(ms: number, why: string): void {
    this.watchdog?.cancel();
    this.watchdog = this.options.clock.setTimeout(() => {
      this.watchdog = undefined;
      this.lost(why);
    }, ms);
  }

  private fatal(message: string): void {
    if (this.linkState === 'stopped') return;
    void this.stop();
    this.options.onFatal(message);
  }

  /** The current link is unusable: drop it and try again after the backoff. */
  private lost(reason: string): void {
    if (this.linkState === 'stopped') return;
    const wasRegistered = this.linkState === 'registered';
    this.watchdog?.cancel();
    this.watchdog = undefined;
    const link = this.link;
    this.link = undefined;
    link?.close(reason);
    this.linkState = 'connecting';
    if (wasRegistered) this.options.onDisconnected(reason);
    this.retryLater(reason);
  }

  private retryLater(reason: string): void {
    if (this.linkState === 'stopped') return;
    this.linkState = 'connecting';
    this.failures++;
    this.backoffMax = nextBackoffMax(this.backoffMax, this.options.backoffFactorMs);
    const log = this.options.log;
    const fields = { attempt: this.failures, retryWithinMs: this.backoffMax };
    // The first failures are worth a warning; a master that stays away should not flood the log.
    if (this.failures <= 3 || this.failures % 20 === 0) log.warn(fields, `${reason}; retrying`);
    else log.debug(fields, `${reason}; retrying`);
    this.schedule(this.backoffMax);
  }
}
