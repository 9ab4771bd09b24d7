/**
 * Maintenance and operator control of agents (reference mesos-v1-api.md section 4.1,
 * mesos-internals.md section 5.9), kept beside the Master so that master.ts only calls a few hooks:
 *
 * - **Schedule** (UPDATE_MAINTENANCE_SCHEDULE, `/maintenance/schedule`): windows of machines and
 *   their unavailability. A scheduled machine is DRAINING: offers of its agents carry
 *   `unavailability`, and frameworks with tasks or offers there get INVERSE_OFFERS (at most one
 *   outstanding per framework and agent), answered with ACCEPT/DECLINE_INVERSE_OFFERS. The answers
 *   are advisory and show in GET_MAINTENANCE_STATUS.
 * - **Machines down and up** (START/STOP_MAINTENANCE, `/machine/down`, `/machine/up`): a DOWN
 *   machine's agents are shut down and removed (tasks TASK_LOST, REASON_AGENT_REMOVED) and refused
 *   while it stays down; bringing it up removes it from the schedule.
 * - **Agent control** (DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT): a deactivated agent gets
 *   no offers; a draining one also has every task killed (grace capped by `max_grace_period`) and
 *   becomes DRAINED once no task remains on it (terminal and acknowledged), then gone if asked.
 *
 * Everything that must survive a restart goes to the registry first-in-memory, then stored before
 * the operator is answered. The validation of schedules and machine lists is pure (exported for
 * unit tests) and happens whole before anything changes.
 *
 * Machines are matched to agents by hostname (case-insensitively) and IP, as Mesos does, except
 * that a machine ID naming only one of the two matches on that one alone (Mesos would match no
 * agent at all).
 *
 * Cost: inverse offers and drain progress are worked out once per allocation cycle (`tick`), in
 * time proportional to the agents only while a schedule or a drain exists.
 */
import { isIPv4 } from 'node:net';
import { create } from '@bufbuild/protobuf';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import { InverseOfferStatus_Status } from '../wire/gen/mesos/v1/allocator/allocator_pb.js';
import {
  type ClusterStatus,
  ClusterStatusSchema,
  type Schedule,
  ScheduleSchema,
} from '../wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import {
  type DrainInfo,
  DrainInfoSchema,
  DrainState,
  type InverseOffer,
  InverseOfferSchema,
  KillPolicySchema,
  type MachineID,
  type Unavailability,
  UnavailabilitySchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { type Event, Event_Type, EventSchema } from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { isTerminalState } from '../wire/task-states.js';
import type { AgentRecord, FrameworkRecord, Master } from './master.js';
import type {
  Registry,
  StoredAgentControl,
  StoredMachine,
  StoredMaintenance,
  StoredWindow,
} from './registry/registry.js';

// ------------------------------------------------------------------------------ pure validation

/** A MachineID as stored: empty strings count as absent. */
export function storedMachine(id: { hostname?: string | undefined; ip?: string | undefined }): StoredMachine {
  const out: StoredMachine = {};
  if (id.hostname) out.hostname = id.hostname;
  if (id.ip) out.ip = id.ip;
  return out;
}

/** Identity of a machine: the hostname compares case-insensitively, as in Mesos. */
export function machineKey(machine: StoredMachine): string {
  return `${(machine.hostname ?? '').toLowerCase()}\u0000${machine.ip ?? ''}`;
}

/** How messages name a machine: its MachineID as JSON, as Mesos writes it. */
export function machineText(machine: StoredMachine): string {
  return JSON.stringify(machine);
}

function machineProblem(machine: StoredMachine): string | undefined {
  if (machine.hostname === undefined && machine.ip === undefined)
    return "Both 'hostname' and 'ip' for a machine are empty";
  if (machine.ip !== undefined && !isIPv4(machine.ip))
    return `Invalid 'ip' '${machine.ip}' for machine ${machineText(machine)}: not an IPv4 address`;
  return undefined;
}

/**
 * A list of machines for START/STOP_MAINTENANCE or `/machine/down|up`: not empty, each valid,
 * none twice. Returns the problem, or the machines as stored.
 */
export function validateMachineList(
  ids: readonly MachineID[],
): { error: string } | { machines: StoredMachine[] } {
  if (ids.length === 0) return { error: 'List of machines is empty' };
  const seen = new Set<string>();
  const machines: StoredMachine[] = [];
  for (const id of ids) {
    const machine = storedMachine(id);
    const problem = machineProblem(machine);
    if (problem !== undefined) return { error: problem };
    const key = machineKey(machine);
    if (seen.has(key)) return { error: `Machine ${machineText(machine)} is listed more than once` };
    seen.add(key);
    machines.push(machine);
  }
  return { machines };
}

/**
 * Mesos' checks of a new schedule (`maintenance::validation::schedule`): every window names at
 * least one valid machine and a non-negative duration; a machine appears in one window only (so a
 * machine's windows can never overlap); and every machine now DOWN stays in the schedule.
 * Returns the problem, or the schedule as stored with the DOWN machines kept.
 */
export function validateSchedule(
  schedule: Schedule,
  down: readonly StoredMachine[],
): { error: string } | { maintenance: StoredMaintenance } {
  const seen = new Set<string>();
  const windows: StoredWindow[] = [];
  for (const [index, window] of schedule.windows.entries()) {
    if (window.machineIds.length === 0)
      return { error: `List of machines in maintenance window ${index} is empty` };
    const unavailability = window.unavailability;
    if (!unavailability?.start) return { error: `Maintenance window ${index} has no 'unavailability.start'` };
    const duration = unavailability.duration?.nanoseconds;
    if (duration !== undefined && duration < 0n)
      return { error: `Unavailability 'duration' of maintenance window ${index} is negative` };
    const machines: StoredMachine[] = [];
    for (const id of window.machineIds) {
      const machine = storedMachine(id);
      const problem = machineProblem(machine);
      if (problem !== undefined) return { error: problem };
      const key = machineKey(machine);
      if (seen.has(key))
        return { error: `Machine ${machineText(machine)} appears more than once in the schedule` };
      seen.add(key);
      machines.push(machine);
    }
    windows.push({
      machines,
      start: unavailability.start.nanoseconds.toString(),
      ...(duration !== undefined ? { duration: duration.toString() } : {}),
    });
  }
  for (const machine of down) {
    if (!seen.has(machineKey(machine))) {
      return {
        error: `Machine ${machineText(machine)} is DOWN and cannot be removed from the schedule (bring it up first)`,
      };
    }
  }
  return { maintenance: { windows, down: [...down] } };
}

function unavailabilityOf(window: StoredWindow): Unavailability {
  return create(UnavailabilitySchema, {
    start: { nanoseconds: BigInt(window.start) },
    ...(window.duration !== undefined ? { duration: { nanoseconds: BigInt(window.duration) } } : {}),
  });
}

/** The stored maintenance as a `maintenance.Schedule`. */
export function scheduleMessage(maintenance: StoredMaintenance): Schedule {
  return create(ScheduleSchema, {
    windows: maintenance.windows.map((window) => ({
      machineIds: window.machines.map((m) => ({ ...m })),
      unavailability: unavailabilityOf(window),
    })),
  });
}

/** An agent's machine: its hostname and the IP of its pid (`slave(1)@ip:port`). */
export function agentMachine(agent: Pick<AgentRecord, 'info' | 'pid'>): { hostname: string; ip: string } {
  return { hostname: agent.info.hostname, ip: pidIp(agent.pid) };
}

function pidIp(pid: string): string {
  const address = pid.slice(pid.indexOf('@') + 1);
  return address.slice(0, address.lastIndexOf(':'));
}

function matches(machine: StoredMachine, hostname: string, ip: string): boolean {
  if (machine.hostname !== undefined && machine.hostname.toLowerCase() !== hostname.toLowerCase())
    return false;
  return machine.ip === undefined || machine.ip === ip;
}

// ------------------------------------------------------------------------------ state

/** What Maintenance needs of the Master beyond its public records (private operations, bound). */
export interface MaintenanceHost {
  readonly master: Master;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  newOfferId(): string;
  send(framework: FrameworkRecord, event: Event): void;
  rescindOffer(offerId: string): void;
  setAllocatorActive(agentId: string, active: boolean): void;
  /** SHUTDOWN_AGENT, then the agent is removed: tasks TASK_LOST with REASON_AGENT_REMOVED. */
  shutDownAgent(agent: AgentRecord, reason: string): void;
}

/** The outcome of an operator call: done, or the status and text to answer with. */
export type ControlResult = { ok: true } | { ok: false; status: 400 | 409; message: string };

interface InverseOfferRecord {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly machine: string;
}

interface FrameworkAnswer {
  status: InverseOfferStatus_Status;
  /** Epoch ms. */
  timestamp: number;
}

const NANOS_PER_MS = 1_000_000n;
/** Mesos' default `Filters.refuse_seconds` for an inverse-offer answer without filters. */
export const DEFAULT_INVERSE_OFFER_REFUSE_SECONDS = 5;

function pairKey(frameworkId: string, agentId: string): string {
  return `${frameworkId}\u0000${agentId}`;
}

function stop(status: 400 | 409, message: string): ControlResult {
  return { ok: false, status, message };
}

export class Maintenance {
  private state: StoredMaintenance = { windows: [], down: [] };
  /** machine key → its window, for every scheduled machine. */
  private readonly scheduled = new Map<string, { machine: StoredMachine; window: StoredWindow }>();
  private readonly downKeys = new Set<string>();
  /** agent id → operator control (deactivated, drain). */
  private readonly control = new Map<string, StoredAgentControl>();
  private readonly inverseOffers = new Map<string, InverseOfferRecord>();
  /** framework+agent → outstanding inverse offer id. */
  private readonly outstanding = new Map<string, string>();
  /** framework+agent → epoch ms until which no new inverse offer is made (the answer's filter). */
  private readonly filtered = new Map<string, number>();
  /** machine key → framework id → its latest answer (UNKNOWN until it answers). */
  private readonly answers = new Map<string, Map<string, FrameworkAnswer>>();

  constructor(private readonly host: MaintenanceHost) {}

  /** After a restart: the schedule, machines down and agent control as the registry kept them. */
  recover(maintenance: StoredMaintenance, control: Readonly<Record<string, StoredAgentControl>>): void {
    this.setState(maintenance);
    for (const [agentId, entry] of Object.entries(control)) this.control.set(agentId, entry);
  }

  private setState(maintenance: StoredMaintenance): void {
    this.state = maintenance;
    this.scheduled.clear();
    for (const window of maintenance.windows)
      for (const machine of window.machines) this.scheduled.set(machineKey(machine), { machine, window });
    this.downKeys.clear();
    for (const machine of maintenance.down) this.downKeys.add(machineKey(machine));
    for (const key of [...this.answers.keys()]) {
      if (!this.scheduled.has(key) || this.downKeys.has(key)) this.answers.delete(key);
    }
  }

  private async store(maintenance: StoredMaintenance): Promise<void> {
    await this.host.registry.apply({ type: 'update-maintenance', maintenance });
  }

  // ---------------------------------------------------------------- schedule and machines

  schedule(): Schedule {
    return scheduleMessage(this.state);
  }

  /** The scheduled machine an agent is on, if any (DRAINING or DOWN). */
  private machineOf(hostname: string, ip: string): { key: string; window: StoredWindow } | undefined {
    if (this.scheduled.size === 0) return undefined;
    for (const [key, entry] of this.scheduled) {
      if (matches(entry.machine, hostname, ip)) return { key, window: entry.window };
    }
    return undefined;
  }

  /** The machine an agent is on if it is DRAINING (scheduled, not down). */
  private drainingMachineOf(agent: AgentRecord): { key: string; window: StoredWindow } | undefined {
    const { hostname, ip } = agentMachine(agent);
    const found = this.machineOf(hostname, ip);
    return found && !this.downKeys.has(found.key) ? found : undefined;
  }

  /** Why an agent at `hostname`/`pid` may not register now: its machine is DOWN. */
  registrationRefusal(hostname: string, pid: string): string | undefined {
    if (this.downKeys.size === 0) return undefined;
    const ip = pidIp(pid);
    for (const machine of this.state.down) {
      if (matches(machine, hostname, ip))
        return `Machine ${machineText(machine)} is DOWN for maintenance: agents there are refused until it is brought up`;
    }
    return undefined;
  }

  /** The `unavailability` to put on an offer from this agent (its machine is scheduled). */
  offerUnavailability(agent: AgentRecord): Unavailability | undefined {
    const found = this.drainingMachineOf(agent);
    return found ? unavailabilityOf(found.window) : undefined;
  }

  /** UPDATE_MAINTENANCE_SCHEDULE and `POST /maintenance/schedule`: validated whole, then stored. */
  async updateSchedule(schedule: Schedule): Promise<ControlResult> {
    const checked = validateSchedule(schedule, this.state.down);
    if ('error' in checked) return stop(400, checked.error);
    const before = this.unavailabilityByAgent();
    this.setState(checked.maintenance);
    const after = this.unavailabilityByAgent();
    // Offers from agents whose unavailability changed are withdrawn, to come back with the new one.
    for (const agent of this.host.master.agents.values()) {
      if (before.get(agent.id) === after.get(agent.id)) continue;
      for (const offerId of [...agent.offers]) this.host.rescindOffer(offerId);
      this.rescindInverseOffers((record) => record.agentId === agent.id);
    }
    this.host.log.info({ windows: checked.maintenance.windows.length }, 'maintenance schedule updated');
    await this.store(checked.maintenance);
    return { ok: true };
  }

  private unavailabilityByAgent(): Map<string, string> {
    const out = new Map<string, string>();
    if (this.scheduled.size === 0) return out;
    for (const agent of this.host.master.agents.values()) {
      const found = this.drainingMachineOf(agent);
      if (found) out.set(agent.id, `${found.window.start}/${found.window.duration ?? ''}`);
    }
    return out;
  }

  /** START_MAINTENANCE and `/machine/down`: scheduled DRAINING machines go DOWN; their agents go. */
  async startMaintenance(ids: readonly MachineID[]): Promise<ControlResult> {
    const checked = validateMachineList(ids);
    if ('error' in checked) return stop(400, checked.error);
    for (const machine of checked.machines) {
      const key = machineKey(machine);
      if (!this.scheduled.has(key))
        return stop(400, `Machine ${machineText(machine)} is not part of a maintenance schedule`);
      if (this.downKeys.has(key))
        return stop(
          400,
          `Machine ${machineText(machine)} is not in DRAINING mode and cannot be brought down`,
        );
    }
    const next: StoredMaintenance = {
      windows: this.state.windows,
      down: [...this.state.down, ...checked.machines.map((m) => this.scheduled.get(machineKey(m))!.machine)],
    };
    this.setState(next);
    for (const agent of [...this.host.master.agents.values()]) {
      if (agent.state !== 'registered') continue;
      const { hostname, ip } = agentMachine(agent);
      const downed = checked.machines.find((machine) => matches(machine, hostname, ip));
      if (!downed) continue;
      this.rescindInverseOffers((record) => record.agentId === agent.id);
      this.host.shutDownAgent(agent, `Operator initiated 'Machine DOWN' of ${machineText(downed)}`);
    }
    this.host.log.info({ machines: checked.machines }, 'machines down for maintenance');
    await this.store(next);
    return { ok: true };
  }

  /** STOP_MAINTENANCE and `/machine/up`: DOWN machines come back UP and leave the schedule. */
  async stopMaintenance(ids: readonly MachineID[]): Promise<ControlResult> {
    const checked = validateMachineList(ids);
    if ('error' in checked) return stop(400, checked.error);
    const keys = new Set<string>();
    for (const machine of checked.machines) {
      const key = machineKey(machine);
      if (!this.scheduled.has(key))
        return stop(400, `Machine ${machineText(machine)} is not part of a maintenance schedule`);
      if (!this.downKeys.has(key))
        return stop(400, `Machine ${machineText(machine)} is not in DOWN mode and cannot be brought up`);
      keys.add(key);
    }
    const next: StoredMaintenance = {
      windows: this.state.windows
        .map((window) => ({ ...window, machines: window.machines.filter((m) => !keys.has(machineKey(m))) }))
        .filter((window) => window.machines.length > 0),
      down: this.state.down.filter((m) => !keys.has(machineKey(m))),
    };
    this.setState(next);
    this.host.log.info({ machines: checked.machines }, 'machines up after maintenance');
    await this.store(next);
    return { ok: true };
  }

  /** GET_MAINTENANCE_STATUS and `/maintenance/status`. */
  status(): ClusterStatus {
    const draining = [];
    for (const [key, { machine }] of this.scheduled) {
      if (this.downKeys.has(key)) continue;
      const answers = this.answers.get(key) ?? new Map<string, FrameworkAnswer>();
      draining.push({
        id: { ...machine },
        statuses: [...answers].map(([frameworkId, answer]) => ({
          status: answer.status,
          frameworkId: { value: frameworkId },
          timestamp: { nanoseconds: BigInt(Math.round(answer.timestamp)) * NANOS_PER_MS },
        })),
      });
    }
    return create(ClusterStatusSchema, {
      drainingMachines: draining,
      downMachines: this.state.down.map((m) => ({ ...m })),
    });
  }

  // ---------------------------------------------------------------- inverse offers

  /** Outstanding inverse offers of a framework (GET_FRAMEWORKS). */
  inverseOffersOf(frameworkId: string): InverseOffer[] {
    const out: InverseOffer[] = [];
    for (const record of this.inverseOffers.values()) {
      if (record.frameworkId !== frameworkId) continue;
      const agent = this.host.master.agents.get(record.agentId);
      if (agent) out.push(this.inverseOfferMessage(record, agent));
    }
    return out;
  }

  private inverseOfferMessage(record: InverseOfferRecord, agent: AgentRecord): InverseOffer {
    const window = this.scheduled.get(record.machine)?.window;
    const address = agent.pid.slice(agent.pid.indexOf('@') + 1);
    const ip = address.slice(0, address.lastIndexOf(':'));
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    return create(InverseOfferSchema, {
      id: { value: record.id },
      url: {
        scheme: 'http',
        address: { hostname: agent.info.hostname, ip, port: Number.isInteger(port) ? port : 0 },
        path: '/slave(1)',
      },
      frameworkId: { value: record.frameworkId },
      agentId: { value: record.agentId },
      unavailability: window ? unavailabilityOf(window) : create(UnavailabilitySchema, { start: {} }),
      // Empty: the whole agent becomes unavailable, as Mesos' allocator says it.
      resources: [],
    });
  }

  /** ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: ids not outstanding for this framework are ignored. */
  answerInverseOffers(
    framework: FrameworkRecord,
    ids: readonly string[],
    accept: boolean,
    refuseSeconds: number,
  ): void {
    const now = this.host.clock.now();
    for (const id of ids) {
      const record = this.inverseOffers.get(id);
      if (!record || record.frameworkId !== framework.id) continue;
      this.dropInverseOffer(record);
      const pair = pairKey(record.frameworkId, record.agentId);
      this.filtered.set(pair, now + refuseSeconds * 1000);
      let answers = this.answers.get(record.machine);
      if (!answers) {
        answers = new Map();
        this.answers.set(record.machine, answers);
      }
      answers.set(framework.id, {
        status: accept ? InverseOfferStatus_Status.ACCEPT : InverseOfferStatus_Status.DECLINE,
        timestamp: now,
      });
    }
  }

  private dropInverseOffer(record: InverseOfferRecord): void {
    this.inverseOffers.delete(record.id);
    const pair = pairKey(record.frameworkId, record.agentId);
    if (this.outstanding.get(pair) === record.id) this.outstanding.delete(pair);
  }

  /** Withdraws matching inverse offers, telling connected frameworks (RESCIND_INVERSE_OFFER). */
  private rescindInverseOffers(which: (record: InverseOfferRecord) => boolean): void {
    for (const record of [...this.inverseOffers.values()]) {
      if (!which(record)) continue;
      this.dropInverseOffer(record);
      const framework = this.host.master.frameworks.get(record.frameworkId);
      if (framework?.stream && framework.active) {
        this.host.send(
          framework,
          create(EventSchema, {
            type: Event_Type.RESCIND_INVERSE_OFFER,
            rescindInverseOffer: { inverseOfferId: { value: record.id } },
          }),
        );
      }
    }
  }

  /**
   * Once per allocation cycle: drain progress, then inverse offers for frameworks with tasks or
   * offers on agents of DRAINING machines.
   */
  tick(): void {
    if (this.control.size > 0) this.drainProgress();
    if (this.inverseOffers.size > 0) this.cleanUpInverseOffers();
    if (this.scheduled.size > this.downKeys.size) this.makeInverseOffers();
  }

  private cleanUpInverseOffers(): void {
    const { master } = this.host;
    this.rescindInverseOffers((record) => {
      const agent = master.agents.get(record.agentId);
      return agent?.state !== 'registered' || this.drainingMachineOf(agent)?.key !== record.machine;
    });
    // A framework that went away loses its inverse offers silently (it gets new ones when back).
    for (const record of [...this.inverseOffers.values()]) {
      const framework = master.frameworks.get(record.frameworkId);
      if (!framework?.stream || !framework.active) this.dropInverseOffer(record);
    }
  }

  private makeInverseOffers(): void {
    const { master } = this.host;
    const now = this.host.clock.now();
    const batches = new Map<FrameworkRecord, InverseOffer[]>();
    for (const agent of master.agents.values()) {
      if (agent.state !== 'registered' || !agent.link) continue;
      const found = this.drainingMachineOf(agent);
      if (!found) continue;
      const frameworkIds = new Set<string>();
      for (const [frameworkId, taskIds] of agent.tasks) if (taskIds.size > 0) frameworkIds.add(frameworkId);
      for (const offerId of agent.offers) {
        const offer = master.offers.get(offerId);
        if (offer) frameworkIds.add(offer.frameworkId);
      }
      for (const frameworkId of frameworkIds) {
        const framework = master.frameworks.get(frameworkId);
        if (!framework?.stream || !framework.active) continue;
        const pair = pairKey(frameworkId, agent.id);
        if (this.outstanding.has(pair)) continue;
        const until = this.filtered.get(pair);
        if (until !== undefined) {
          if (until > now) continue;
          this.filtered.delete(pair);
        }
        const record: InverseOfferRecord = {
          id: this.host.newOfferId(),
          frameworkId,
          agentId: agent.id,
          machine: found.key,
        };
        this.inverseOffers.set(record.id, record);
        this.outstanding.set(pair, record.id);
        let answers = this.answers.get(found.key);
        if (!answers) {
          answers = new Map();
          this.answers.set(found.key, answers);
        }
        if (!answers.has(frameworkId))
          answers.set(frameworkId, { status: InverseOfferStatus_Status.UNKNOWN, timestamp: now });
        let batch = batches.get(framework);
        if (!batch) {
          batch = [];
          batches.set(framework, batch);
        }
        batch.push(this.inverseOfferMessage(record, agent));
      }
    }
    for (const [framework, inverseOffers] of batches) {
      this.host.send(
        framework,
        create(EventSchema, { type: Event_Type.INVERSE_OFFERS, inverseOffers: { inverseOffers } }),
      );
    }
  }

  // ---------------------------------------------------------------- agent control

  private known(agentId: string): boolean {
    return this.host.master.agents.has(agentId) || this.host.master.recoveredAgents.has(agentId);
  }

  /** Whether offers from the agent are withheld (DEACTIVATE_AGENT or DRAIN_AGENT). */
  isDeactivated(agentId: string): boolean {
    return this.control.get(agentId)?.deactivated === true;
  }

  /** The agent's DrainInfo (GET_AGENTS, `/master/state`), if it was asked to drain. */
  drainInfo(agentId: string): DrainInfo | undefined {
    const drain = this.control.get(agentId)?.drain;
    if (!drain) return undefined;
    return create(DrainInfoSchema, {
      state: drain.state === 'DRAINED' ? DrainState.DRAINED : DrainState.DRAINING,
      config: {
        ...(drain.maxGracePeriod !== undefined
          ? { maxGracePeriod: { nanoseconds: BigInt(drain.maxGracePeriod) } }
          : {}),
        markGone: drain.markGone,
      },
    });
  }

  private async setControl(agentId: string, control: StoredAgentControl | undefined): Promise<void> {
    if (control === undefined) this.control.delete(agentId);
    else this.control.set(agentId, control);
    const agent = this.host.master.agents.get(agentId);
    if (agent) agent.deactivated = control?.deactivated === true;
    await this.host.registry.apply({ type: 'update-agent-control', agentId, control });
  }

  /** Offers stop: the allocator skips the agent and its outstanding offers are rescinded. */
  private withholdOffers(agentId: string): void {
    const agent = this.host.master.agents.get(agentId);
    if (agent?.state !== 'registered') return;
    this.host.setAllocatorActive(agentId, false);
    for (const offerId of [...agent.offers]) this.host.rescindOffer(offerId);
  }

  async deactivateAgent(agentId: string): Promise<ControlResult> {
    if (!this.known(agentId)) return stop(400, 'Unknown agent');
    const current = this.control.get(agentId);
    this.withholdOffers(agentId);
    await this.setControl(agentId, { ...current, deactivated: true });
    this.host.log.info({ agentId }, 'agent deactivated by operator');
    return { ok: true };
  }

  async reactivateAgent(agentId: string): Promise<ControlResult> {
    if (!this.known(agentId)) return stop(400, 'Unknown agent');
    const current = this.control.get(agentId);
    if (!current?.deactivated) return stop(400, 'Agent is not deactivated');
    if (current.drain?.state === 'DRAINING') return stop(400, 'Agent is still in the DRAINING state');
    const agent = this.host.master.agents.get(agentId);
    if (agent?.state === 'registered' && agent.link) this.host.setAllocatorActive(agentId, true);
    await this.setControl(agentId, undefined);
    this.host.log.info({ agentId }, 'agent reactivated by operator');
    return { ok: true };
  }

  /**
   * DRAIN_AGENT: no more offers, every task killed (grace capped by `maxGracePeriodNs`), DRAINING
   * until no task remains, then DRAINED (and gone when `markGone`). Draining again replaces the
   * configuration.
   */
  async drainAgent(
    agentId: string,
    maxGracePeriodNs: bigint | undefined,
    markGone: boolean,
  ): Promise<ControlResult> {
    if (this.host.master.goneAgents.has(agentId)) return stop(409, 'Agent has been marked gone');
    if (!this.known(agentId)) return stop(400, 'Unknown agent');
    if (maxGracePeriodNs !== undefined && maxGracePeriodNs < 0n)
      return stop(400, "Invalid 'max_grace_period': it must not be negative");
    this.withholdOffers(agentId);
    const control: StoredAgentControl = {
      deactivated: true,
      drain: {
        state: 'DRAINING',
        ...(maxGracePeriodNs !== undefined ? { maxGracePeriod: maxGracePeriodNs.toString() } : {}),
        markGone,
      },
    };
    const stored = this.setControl(agentId, control);
    this.killTasks(agentId, control);
    this.host.log.info(
      { agentId, maxGracePeriodNs: maxGracePeriodNs?.toString(), markGone },
      'draining agent',
    );
    await stored;
    return { ok: true };
  }

  private killTasks(agentId: string, control: StoredAgentControl): void {
    const { master } = this.host;
    const agent = master.agents.get(agentId);
    if (agent?.state !== 'registered') return;
    const max =
      control.drain?.maxGracePeriod === undefined ? undefined : BigInt(control.drain.maxGracePeriod);
    for (const [frameworkId, taskIds] of agent.tasks) {
      const framework = master.frameworks.get(frameworkId);
      if (!framework) continue;
      for (const taskId of taskIds) {
        const record = framework.tasks.get(taskId);
        if (!record || isTerminalState(record.task.state)) continue;
        let killPolicy: ReturnType<typeof create<typeof KillPolicySchema>> | undefined;
        if (max !== undefined) {
          const own = record.task.killPolicy?.gracePeriod?.nanoseconds;
          const grace = own !== undefined && own < max ? own : max;
          killPolicy = create(KillPolicySchema, { gracePeriod: { nanoseconds: grace } });
        }
        master.kill(framework, taskId, agentId, killPolicy);
      }
    }
  }

  /** A draining agent with no task left is DRAINED (then gone if asked). */
  private drainProgress(): void {
    const { master } = this.host;
    for (const [agentId, control] of this.control) {
      if (control.drain?.state !== 'DRAINING') continue;
      const agent = master.agents.get(agentId);
      if (agent?.state !== 'registered') continue;
      let remaining = 0;
      for (const taskIds of agent.tasks.values()) remaining += taskIds.size;
      if (remaining > 0) continue;
      const drained: StoredAgentControl = { ...control, drain: { ...control.drain, state: 'DRAINED' } };
      this.host.log.info({ agentId }, 'agent drained');
      this.setControl(agentId, drained).catch((err: unknown) =>
        this.host.log.error({ err }, 'registry store failed'),
      );
      if (control.drain.markGone) {
        master.markAgentGone(agentId);
        this.control.delete(agentId);
      }
    }
  }

  /**
   * Called when an agent re-registers (after a disconnection or a master restart): what the
   * operator set still holds, and a drain goes on (its kills are sent again).
   */
  agentReregistered(agent: AgentRecord): void {
    const control = this.control.get(agent.id);
    agent.deactivated = control?.deactivated === true;
    if (!control) return;
    if (control.deactivated) this.host.setAllocatorActive(agent.id, false);
    if (control.drain?.state === 'DRAINING') this.killTasks(agent.id, control);
  }
}
