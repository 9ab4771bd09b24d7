/**
 * The master's durable state (mesos-internals.md section 5.4): which agents were admitted, which
 * are unreachable or gone, role weights and quota, maintenance (schedule, machines down) and agents
 * deactivated or drained by an operator. Frameworks, tasks and
 * offers are never stored: they are rebuilt from agents and schedulers after a restart.
 *
 * Operations are small typed records applied in order; a store writes a whole new snapshot, so a
 * crash leaves either the old or the new state, never a mix.
 */
export interface AdmittedAgent {
  id: string;
  hostname: string;
  pid: string;
}

export interface RegistryState {
  /** The last master that recovered this registry. */
  masterId: string | undefined;
  agents: Record<string, AdmittedAgent>;
  /** agent id → epoch ms when it was marked unreachable. */
  unreachable: Record<string, number>;
  weights: Record<string, number>;
  /** role → its quota (UPDATE_QUOTA), resource name → amount. */
  quota: Record<string, StoredQuota>;
  /** The maintenance schedule and the machines brought down (maintenance.ts). */
  maintenance: StoredMaintenance;
  /** agent id → what an operator set: DEACTIVATE_AGENT, DRAIN_AGENT. */
  agentControl: Record<string, StoredAgentControl>;
}

/** A machine as the schedule names it (MachineID): at least one of the two. */
export interface StoredMachine {
  hostname?: string;
  ip?: string;
}

export interface StoredWindow {
  machines: StoredMachine[];
  /** Unavailability start and duration in nanoseconds, as decimal strings (int64). */
  start: string;
  duration?: string;
}

export interface StoredMaintenance {
  windows: StoredWindow[];
  /** Machines in DOWN mode (START_MAINTENANCE, `/machine/down`); always in `windows` too. */
  down: StoredMachine[];
}

export interface StoredAgentControl {
  deactivated: boolean;
  drain?: {
    state: 'DRAINING' | 'DRAINED';
    /** Nanoseconds as a decimal string; absent: each task's own kill policy. */
    maxGracePeriod?: string;
    markGone: boolean;
  };
}

export interface StoredQuota {
  guarantees: Record<string, number>;
  limits: Record<string, number>;
}

export type RegistryOperation =
  | { type: 'recover-master'; masterId: string }
  | { type: 'admit-agent'; agent: AdmittedAgent }
  | { type: 'mark-unreachable'; agentId: string; at: number }
  | { type: 'mark-reachable'; agent: AdmittedAgent }
  | { type: 'remove-agent'; agentId: string }
  | { type: 'update-weights'; weights: Record<string, number> }
  /** Sets a role's quota; `quota` undefined removes it. */
  | { type: 'update-quota'; role: string; quota: StoredQuota | undefined }
  /** Replaces the schedule and the DOWN machines (maintenance.ts validated them together). */
  | { type: 'update-maintenance'; maintenance: StoredMaintenance }
  /** Sets an agent's operator control; `control` undefined clears it. */
  | { type: 'update-agent-control'; agentId: string; control: StoredAgentControl | undefined };

export interface Registry {
  /** The state as of the last successful store. */
  get(): RegistryState;
  /** Applies operations in order and stores them durably; resolves once stored. */
  apply(...operations: RegistryOperation[]): Promise<void>;
  close(): Promise<void>;
}

export function emptyRegistryState(): RegistryState {
  return {
    masterId: undefined,
    agents: {},
    unreachable: {},
    weights: {},
    quota: {},
    maintenance: { windows: [], down: [] },
    agentControl: {},
  };
}

/** Pure: the state after one operation. */
export function applyOperation(state: RegistryState, op: RegistryOperation): RegistryState {
  switch (op.type) {
    case 'recover-master':
      return { ...state, masterId: op.masterId };
    case 'admit-agent':
    case 'mark-reachable': {
      const unreachable = { ...state.unreachable };
      delete unreachable[op.agent.id];
      return { ...state, agents: { ...state.agents, [op.agent.id]: op.agent }, unreachable };
    }
    case 'mark-unreachable':
      return { ...state, unreachable: { ...state.unreachable, [op.agentId]: op.at } };
    case 'remove-agent': {
      const agents = { ...state.agents };
      const unreachable = { ...state.unreachable };
      const agentControl = { ...state.agentControl };
      delete agents[op.agentId];
      delete unreachable[op.agentId];
      delete agentControl[op.agentId];
      return { ...state, agents, unreachable, agentControl };
    }
    case 'update-weights':
      return { ...state, weights: { ...op.weights } };
    case 'update-quota': {
      const quota = { ...state.quota };
      if (op.quota === undefined) delete quota[op.role];
      else quota[op.role] = op.quota;
      return { ...state, quota };
    }
    case 'update-maintenance':
      return { ...state, maintenance: op.maintenance };
    case 'update-agent-control': {
      const agentControl = { ...state.agentControl };
      if (op.control === undefined) delete agentControl[op.agentId];
      else agentControl[op.agentId] = op.control;
      return { ...state, agentControl };
    }
  }
}
