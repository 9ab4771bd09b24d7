/**
 * The operator calls that change or read how resources are shared (reference section 4.1), as a
 * handler table for operator-api.ts: RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES,
 * DESTROY_VOLUMES, GROW_VOLUME, SHRINK_VOLUME, GET_ROLES, GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA,
 * UPDATE_QUOTA, and the Strata extension STRATA_EXPLAIN_OFFERS (the allocator's reason for each
 * agent a framework got no offer from).
 *
 * Every call is validated whole before anything changes: a refused UPDATE_QUOTA with three configs
 * sets none of them, a refused RESERVE leaves the agent as it was.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { QuotaConfig } from '../allocator/allocator.js';
import { accepted, textResponse } from '../http/responses.js';
import { Resources } from '../resources/resources.js';
import {
  Call_Type,
  type Call_UpdateQuota,
  Response_Type,
  type ResponseSchema,
} from '../wire/gen/mesos/v1/master/master_pb.js';
import {
  type Offer_Operation,
  Offer_Operation_Type,
  Offer_OperationSchema,
  type Resource,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import type { QuotaConfig as QuotaConfigMessage } from '../wire/gen/mesos/v1/quota/quota_pb.js';
import type { Master } from './master.js';
import { type OperatorCallTable, operatorResponse } from './operator-api.js';
import { invalidRoleReason, isStrictAncestorRole } from './roles.js';

const NANOS_PER_MS = 1_000_000n;

export function allocationOperatorCalls(master: Master): OperatorCallTable {
  const operate = (agentId: string, operation: MessageInitShape<typeof Offer_OperationSchema>) => {
    const result = master.operatorOperation(
      agentId,
      create(Offer_OperationSchema, operation) as Offer_Operation,
    );
    return result.ok ? accepted() : textResponse(result.status, result.message);
  };
  return {
    [Call_Type.RESERVE_RESOURCES]: ({ call }) => {
      const { agentId, resources, source } = call.reserveResources!;
      return operate(agentId?.value ?? '', {
        type: Offer_Operation_Type.RESERVE,
        reserve: { resources, source },
      });
    },
    [Call_Type.UNRESERVE_RESOURCES]: ({ call }) => {
      const { agentId, resources } = call.unreserveResources!;
      return operate(agentId?.value ?? '', {
        type: Offer_Operation_Type.UNRESERVE,
        unreserve: { resources },
      });
    },
    [Call_Type.CREATE_VOLUMES]: ({ call }) => {
      const { agentId, volumes } = call.createVolumes!;
      return operate(agentId?.value ?? '', { type: Offer_Operation_Type.CREATE, create: { volumes } });
    },
    [Call_Type.DESTROY_VOLUMES]: ({ call }) => {
      const { agentId, volumes } = call.destroyVolumes!;
      return operate(agentId?.value ?? '', { type: Offer_Operation_Type.DESTROY, destroy: { volumes } });
    },
    [Call_Type.GROW_VOLUME]: ({ call }) => {
      const { agentId, volume, addition } = call.growVolume!;
      if (!agentId) return textResponse(400, "Expecting 'agent_id' to be present");
      return operate(agentId.value, {
        type: Offer_Operation_Type.GROW_VOLUME,
        growVolume: { volume: volume as Resource, addition: addition as Resource },
      });
    },
    [Call_Type.SHRINK_VOLUME]: ({ call }) => {
      const { agentId, volume, subtract } = call.shrinkVolume!;
      if (!agentId) return textResponse(400, "Expecting 'agent_id' to be present");
      return operate(agentId.value, {
        type: Offer_Operation_Type.SHRINK_VOLUME,
        shrinkVolume: { volume: volume as Resource, ...(subtract ? { subtract } : {}) },
      });
    },

    [Call_Type.GET_WEIGHTS]: ({ accept }) =>
      operatorResponse(accept, {
        type: Response_Type.GET_WEIGHTS,
        getWeights: {
          weightInfos: [...master.weights]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([role, weight]) => ({ role, weight })),
        },
      }),

    [Call_Type.UPDATE_WEIGHTS]: ({ call }) => {
      const weights = new Map<string, number>();
      for (const info of call.updateWeights!.weightInfos) {
        const role = info.role ?? '';
        const reason = invalidRoleReason(role);
        if (reason !== undefined) return textResponse(400, `Invalid role '${role}': ${reason}`);
        if (role === '*') return textResponse(400, "Invalid role '*': weights cannot be set for '*'");
        if (weights.has(role)) return textResponse(400, `Duplicate weight for role '${role}'`);
        if (!Number.isFinite(info.weight) || info.weight <= 0) {
          return textResponse(
            400,
            `Invalid weight '${info.weight}' for role '${role}': weights must be positive`,
          );
        }
        weights.set(role, info.weight);
      }
      master.updateWeights(weights);
      return { status: 200 };
    },

    [Call_Type.GET_QUOTA]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_QUOTA, getQuota: { status: quotaStatus(master) } }),

    [Call_Type.UPDATE_QUOTA]: ({ call }) => {
      const checked = validateQuotaUpdate(master, call.updateQuota!);
      if ('error' in checked) return textResponse(checked.status, checked.error);
      for (const [role, quota] of checked.configs) master.updateQuota(role, quota);
      return { status: 200 };
    },

    [Call_Type.GET_ROLES]: ({ accept }) =>
      operatorResponse(accept, { type: Response_Type.GET_ROLES, getRoles: { roles: roles(master) } }),

    [Call_Type.STRATA_EXPLAIN_OFFERS]: ({ call, accept }) => {
      const { frameworkId, agentId } = call.strataExplainOffers!;
      const id = frameworkId?.value ?? '';
      if (!master.framework(id)) return textResponse(404, `Framework '${id}' is not known to this master`);
      if (agentId && !master.agents.has(agentId.value)) {
        return textResponse(404, `Agent '${agentId.value}' is not known to this master`);
      }
      return operatorResponse(accept, {
        type: Response_Type.STRATA_EXPLAIN_OFFERS,
        strataExplainOffers: {
          frameworkId: { value: id },
          explanations: master.explainOffers(id, agentId?.value).map((e) => ({
            agentId: { value: e.agentId },
            role: e.role,
            reason: e.reason,
            message: e.message,
            ...(e.filteredUntil !== undefined
              ? { filteredUntil: { nanoseconds: BigInt(Math.round(e.filteredUntil)) * NANOS_PER_MS } }
              : {}),
          })),
        },
      });
    },
  };
}

type ResponseInit = MessageInitShape<typeof ResponseSchema>;
type QuotaStatusInit = NonNullable<NonNullable<ResponseInit['getQuota']>['status']>;

function scalarMap(amounts: ReadonlyMap<string, number>): Record<string, { value: number }> {
  const out: Record<string, { value: number }> = {};
  for (const [name, value] of [...amounts].sort(([a], [b]) => (a < b ? -1 : 1))) out[name] = { value };
  return out;
}

function quotaStatus(master: Master): QuotaStatusInit {
  const roles = [...master.quotas.keys()].sort();
  return {
    // The pre-1.9 view (guarantees only) for old tools, then the configs.
    infos: roles.map((role) => ({
      role,
      guarantee: [...master.quotas.get(role)!.guarantees].map(([name, value]) => ({
        name,
        type: 0,
        scalar: { value },
      })),
    })),
    configs: roles.map((role) => {
      const quota = master.quotas.get(role)!;
      return { role, guarantees: scalarMap(quota.guarantees), limits: scalarMap(quota.limits) };
    }),
  };
}

function roles(master: Master) {
  const statuses = master.roleStatuses().filter((r) => r.role !== '');
  const seen = new Set(statuses.map((r) => r.role));
  const out = statuses.map((r) => ({
    name: r.role,
    weight: r.weight,
    frameworks: r.frameworks.map((value) => ({ value })),
    resources: [...r.consumed]
      .filter(([, amount]) => amount > 0)
      .map(([name, value]) => ({ name, type: 0, scalar: { value } })),
  }));
  // Roles known only for their weight are listed too, as Mesos lists them.
  for (const [role, weight] of master.weights) {
    if (!seen.has(role)) out.push({ name: role, weight, frameworks: [], resources: [] });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

type QuotaCheck = { configs: Map<string, QuotaConfig> } | { error: string; status: 400 | 409 };

function amounts(
  role: string,
  kind: 'guarantees' | 'limits',
  map: QuotaConfigMessage['guarantees'],
): Map<string, number> | string {
  const out = new Map<string, number>();
  for (const [name, scalar] of Object.entries(map)) {
    const value = scalar.value;
    if (name === '') return `Invalid 'QuotaConfig.${kind}' of role '${role}': empty resource name`;
    if (!Number.isFinite(value) || value < 0) {
      return `Invalid 'QuotaConfig.${kind}' of role '${role}': '${name}:${value}' is not a non-negative number`;
    }
    out.set(name, value);
  }
  return out;
}

/**
 * Mesos' checks of UPDATE_QUOTA: valid roles (not `*`), each role once, non-negative amounts,
 * guarantee ≤ limit, children's guarantees within the parent's and limits within the parent's,
 * and, unless `force`, all guarantees within what the cluster has.
 */
function validateQuotaUpdate(master: Master, update: Call_UpdateQuota): QuotaCheck {
  const incoming = new Map<string, QuotaConfig>();
  for (const config of update.quotaConfigs) {
    const role = config.role;
    const reason = invalidRoleReason(role);
    if (reason !== undefined) return { status: 400, error: `Invalid 'QuotaConfig.role': ${reason}` };
    if (role === '*') return { status: 400, error: "Invalid 'QuotaConfig.role': '*' cannot have quota" };
    if (incoming.has(role)) return { status: 400, error: `Duplicate 'QuotaConfig.role': '${role}'` };
    const guarantees = amounts(role, 'guarantees', config.guarantees);
    if (typeof guarantees === 'string') return { status: 400, error: guarantees };
    const limits = amounts(role, 'limits', config.limits);
    if (typeof limits === 'string') return { status: 400, error: limits };
    for (const [name, guarantee] of guarantees) {
      const limit = limits.get(name);
      if (limit !== undefined && guarantee > limit) {
        return {
          status: 400,
          error: `Invalid QuotaConfig of role '${role}': guarantee '${name}:${guarantee}' is greater than limit '${name}:${limit}'`,
        };
      }
    }
    incoming.set(role, { guarantees, limits });
  }

  // The quota the cluster would have: current, with the update applied.
  const after = new Map(master.quotas);
  for (const [role, quota] of incoming) {
    if (quota.guarantees.size === 0 && quota.limits.size === 0) after.delete(role);
    else after.set(role, quota);
  }
  for (const [parent, parentQuota] of after) {
    const children = [...after].filter(([role]) => isStrictAncestorRole(parent, role));
    for (const [child, childQuota] of children) {
      for (const [name, limit] of childQuota.limits) {
        const parentLimit = parentQuota.limits.get(name);
        if (parentLimit !== undefined && limit > parentLimit) {
          return {
            status: 400,
            error: `Invalid QuotaConfig: limit '${name}:${limit}' of role '${child}' is greater than limit '${name}:${parentLimit}' of its parent '${parent}'`,
          };
        }
      }
    }
    const direct = children.filter(([child]) => !child.slice(parent.length + 1).includes('/'));
    for (const [name, parentGuarantee] of parentQuota.guarantees) {
      const sum = direct.reduce((total, [, q]) => total + (q.guarantees.get(name) ?? 0), 0);
      if (sum > parentGuarantee + 1e-9) {
        return {
          status: 400,
          error: `Invalid QuotaConfig: the guarantees of the children of '${parent}' add up to '${name}:${sum}', more than its own '${name}:${parentGuarantee}'`,
        };
      }
    }
  }

  if (!update.force) {
    const total = Resources.sum(
      [...master.agents.values()].filter((a) => a.state === 'registered').map((a) => a.total),
    );
    const wanted = new Map<string, number>();
    for (const [role, quota] of after) {
      // Only top-level guarantees count: a child's guarantee is inside its parent's.
      if ([...after.keys()].some((other) => isStrictAncestorRole(other, role))) continue;
      for (const [name, value] of quota.guarantees) wanted.set(name, (wanted.get(name) ?? 0) + value);
    }
    for (const [name, value] of wanted) {
      const available = total.scalar(name) ?? 0;
      if (value > available + 1e-9) {
        return {
          status: 409,
          error:
            `Invalid QuotaConfig: total quota guarantees '${name}:${value}' exceed the cluster's ` +
            `'${name}:${available}' (use 'force' to set it anyway)`,
        };
      }
    }
  }
  return { configs: incoming };
}
