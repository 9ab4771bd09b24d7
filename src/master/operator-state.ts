/**
 * The master's records as operator API messages (reference section 4.1, "Response payload
 * details"): `GetAgents.Agent`, `GetFrameworks.Framework`, `GetTasks`, `GetExecutors`, the whole
 * `GetState` and `GetMaster`. Used by the GET_* calls, the SUBSCRIBED snapshot and the
 * AGENT_ADDED / FRAMEWORK_* events. Pure reads of the Master; resources are written in the
 * post-refinement format, as Mesos' operator API does.
 */
import { create } from '@bufbuild/protobuf';
import { resourcesToMessages } from '../resources/messages.js';
import type { Resources } from '../resources/resources.js';
import {
  type Response_GetAgents_Agent,
  Response_GetAgents_AgentSchema,
  type Response_GetExecutors,
  type Response_GetExecutors_Executor,
  Response_GetExecutors_ExecutorSchema,
  Response_GetExecutorsSchema,
  type Response_GetFrameworks,
  type Response_GetFrameworks_Framework,
  Response_GetFrameworks_FrameworkSchema,
  Response_GetFrameworksSchema,
  type Response_GetMaster,
  Response_GetMasterSchema,
  type Response_GetState,
  Response_GetStateSchema,
  type Response_GetTasks,
  Response_GetTasksSchema,
} from '../wire/gen/mesos/v1/master/master_pb.js';
import { type Offer, OfferSchema, type Task } from '../wire/gen/mesos/v1/mesos_pb.js';
import { agentActive } from './legacy-json.js';
import type { AgentRecord, FrameworkRecord, Master } from './master.js';

function timeInfo(ms: number) {
  return { nanoseconds: BigInt(Math.round(ms)) * 1_000_000n };
}

function messages(resources: Resources) {
  return resourcesToMessages(resources, 'post-refinement');
}

export function agentMessage(master: Master, agent: AgentRecord): Response_GetAgents_Agent {
  return create(Response_GetAgents_AgentSchema, {
    agentInfo: agent.info,
    active: agentActive(agent),
    deactivated: agent.deactivated === true,
    version: agent.version,
    pid: agent.pid,
    registeredTime: timeInfo(agent.registeredTime),
    ...(agent.reregisteredTime === undefined ? {} : { reregisteredTime: timeInfo(agent.reregisteredTime) }),
    totalResources: messages(agent.total),
    allocatedResources: messages(master.ledger.agentUsed(agent.id)),
    offeredResources: messages(master.ledger.agentOffered(agent.id)),
    capabilities: agent.capabilities.map((type) => ({ type })),
    ...drainInfo(master, agent.id),
  });
}

function drainInfo(master: Master, agentId: string) {
  const info = master.maintenance.drainInfo(agentId);
  return info ? { drainInfo: info } : {};
}

export function frameworkMessage(
  master: Master,
  framework: FrameworkRecord,
): Response_GetFrameworks_Framework {
  const offers: Offer[] = [];
  for (const offerId of framework.offers) {
    const offer = master.offers.get(offerId);
    if (!offer) continue;
    offers.push(
      create(OfferSchema, {
        id: { value: offer.id },
        frameworkId: { value: framework.id },
        agentId: { value: offer.agentId },
        hostname: master.agents.get(offer.agentId)?.info.hostname ?? '',
        resources: messages(offer.resources),
        allocationInfo: { role: offer.role },
      }),
    );
  }
  return create(Response_GetFrameworks_FrameworkSchema, {
    frameworkInfo: framework.info,
    active: framework.active,
    connected: framework.stream !== undefined,
    recovered: framework.recovered,
    registeredTime: timeInfo(framework.registeredTime),
    ...(framework.reregisteredTime === undefined
      ? {}
      : { reregisteredTime: timeInfo(framework.reregisteredTime) }),
    ...(framework.unregisteredTime === undefined
      ? {}
      : { unregisteredTime: timeInfo(framework.unregisteredTime) }),
    offers,
    inverseOffers: master.maintenance.inverseOffersOf(framework.id),
    allocatedResources: messages(master.ledger.frameworkUsed(framework.id)),
    offeredResources: messages(master.ledger.frameworkOffered(framework.id)),
  });
}

export function getAgents(master: Master) {
  const agents: Response_GetAgents_Agent[] = [];
  for (const agent of master.agents.values()) {
    if (agent.state === 'registered') agents.push(agentMessage(master, agent));
  }
  const recoveredAgents = [...master.recoveredAgents.values()].map((agent) => ({
    id: { value: agent.id },
    hostname: agent.hostname,
  }));
  return { agents, recoveredAgents };
}

export function getFrameworks(master: Master): Response_GetFrameworks {
  return create(Response_GetFrameworksSchema, {
    frameworks: [...master.frameworks.values()].map((f) => frameworkMessage(master, f)),
    completedFrameworks: [...master.completedFrameworks.values()].map((f) => frameworkMessage(master, f)),
  });
}

/** Active, unreachable and completed tasks of the registered and the completed frameworks. */
export function getTasks(master: Master): Response_GetTasks {
  const tasks: Task[] = [];
  const unreachableTasks: Task[] = [];
  const completedTasks: Task[] = [];
  for (const framework of [...master.frameworks.values(), ...master.completedFrameworks.values()]) {
    for (const record of framework.tasks.values()) tasks.push(record.task);
    for (const task of framework.unreachableTasks.values()) unreachableTasks.push(task);
    for (const task of framework.completedTasks) completedTasks.push(task);
  }
  return create(Response_GetTasksSchema, { tasks, unreachableTasks, completedTasks });
}

export function getExecutors(master: Master): Response_GetExecutors {
  const executors: Response_GetExecutors_Executor[] = [];
  for (const framework of master.frameworks.values()) {
    for (const [agentId, onAgent] of framework.executors) {
      for (const executor of onAgent.values()) {
        executors.push(
          create(Response_GetExecutors_ExecutorSchema, {
            executorInfo: executor.info,
            agentId: { value: agentId },
          }),
        );
      }
    }
  }
  return create(Response_GetExecutorsSchema, { executors });
}

export function getState(master: Master): Response_GetState {
  return create(Response_GetStateSchema, {
    getTasks: getTasks(master),
    getExecutors: getExecutors(master),
    getFrameworks: getFrameworks(master),
    getAgents: getAgents(master),
  });
}

export function getMaster(master: Master): Response_GetMaster {
  const start = master.startTime / 1000;
  // A single master is elected from the moment it starts.
  return create(Response_GetMasterSchema, {
    masterInfo: master.masterInfo,
    startTime: start,
    electedTime: start,
  });
}
