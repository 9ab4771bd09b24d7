/**
 * Operator actions over the master's operator API: `strata explain` (the Strata extension
 * STRATA_EXPLAIN_OFFERS), `strata quota get|set`, `strata weights get|set`, `strata agent drain`
 * (DRAIN_AGENT) and `strata maintenance schedule|status|down|up`. Each sends one call and prints the
 * answer; a refusal is the master's text on one line and a non-zero exit code.
 */
import type { Command } from 'commander';
import { parseDuration } from '../common/units.js';
import { ScheduleSchema } from '../wire/gen/mesos/v1/maintenance/maintenance_pb.js';
import { Call_Type } from '../wire/gen/mesos/v1/master/master_pb.js';
import type { JsonValue } from '../wire/json-text.js';
import { fromMesosJson, toMesosJson } from '../wire/mesos-json.js';
import { CliError, jsonText } from './api.js';
import { megabytes, nanosToSeconds, printTable } from './format.js';
import { type CommonOptions, camelOptions, examples, masterApi, withJson, withMaster } from './options.js';

/** `cpus:4;mem:1024` → `{cpus: {value: 4}, mem: {value: 1024}}` (QuotaConfig maps). */
export function parseQuantities(flag: string, text: string): Record<string, { value: number }> {
  const out: Record<string, { value: number }> = {};
  for (const part of text.split(/[;,]/).filter((p) => p.trim() !== '')) {
    const match = /^\s*([A-Za-z_][\w.-]*)\s*[:=]\s*([0-9.]+)\s*$/.exec(part);
    if (!match || Number.isNaN(Number(match[2])))
      throw new CliError(`${flag}: expected name:amount pairs like 'cpus:4;mem:1024', got '${part}'`, 2);
    out[match[1]!] = { value: Number(match[2]) };
  }
  return out;
}

function quantityText(map: { [k: string]: { value: number } | undefined }): string {
  const parts = Object.entries(map)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}:${k === 'mem' || k === 'disk' ? megabytes(v!.value) : v!.value}`);
  return parts.length ? parts.join(' ') : '-';
}

function machines(list: string[]): { hostname?: string; ip?: string }[] {
  if (list.length === 0) throw new CliError('name at least one machine (hostname or hostname=ip)', 2);
  return list.map((m) => {
    const [hostname, ip] = m.split('=');
    return { ...(hostname ? { hostname } : {}), ...(ip ? { ip } : {}) };
  });
}

export function registerOperatorCommands(program: Command): void {
  // --- explain -------------------------------------------------------------------------------
  const explain = program
    .command('explain <framework>')
    .description('why a framework gets (or does not get) offers, agent by agent (STRATA_EXPLAIN_OFFERS)')
    .option('--agent <id>', 'only this agent');
  withMaster(withJson(explain));
  examples(explain, ['strata explain <framework id>', 'strata explain my-framework-name --json']);
  explain.action(async (framework: string, opts: CommonOptions & { agent?: string }) => {
    const api = masterApi(opts);
    let frameworkId = framework;
    const state = await api.state();
    const known = [...(state.getFrameworks?.frameworks ?? [])].map((f) => f.frameworkInfo);
    const byName = known.filter((f) => f?.name === framework);
    if (!known.some((f) => f?.id?.value === framework)) {
      if (byName.length === 1) frameworkId = byName[0]?.id?.value ?? framework;
      else if (byName.length > 1)
        throw new CliError(`${byName.length} frameworks are named '${framework}'; give the framework id`);
      else throw new CliError(`no framework '${framework}' is subscribed (see 'strata frameworks')`, 3);
    }
    const response = await api.get({
      type: Call_Type.STRATA_EXPLAIN_OFFERS,
      strataExplainOffers: {
        frameworkId: { value: frameworkId },
        ...(opts.agent ? { agentId: { value: opts.agent } } : {}),
      },
    });
    const hosts = new Map<string, string>();
    for (const a of state.getAgents?.agents ?? [])
      hosts.set(a.agentInfo?.id?.value ?? '', a.agentInfo?.hostname ?? '');
    const rows = (response.strataExplainOffers?.explanations ?? []).map((e) => ({
      agent_id: e.agentId?.value ?? '',
      hostname: hosts.get(e.agentId?.value ?? '') ?? '',
      role: e.role,
      reason: e.reason,
      message: e.message,
      filtered_until: nanosToSeconds(e.filteredUntil?.nanoseconds),
    }));
    if (opts.json) return void console.log(jsonText({ framework_id: frameworkId, explanations: rows }));
    printTable(
      ['AGENT', 'HOSTNAME', 'ROLE', 'REASON', 'DETAIL'],
      rows.map((r) => [r.agent_id, r.hostname, r.role, r.reason, r.message]),
      'No agents to explain (none registered).',
    );
  });

  // --- quota ---------------------------------------------------------------------------------
  const quota = program.command('quota').description('show or set per-role quota (guarantees and limits)');
  examples(quota, [
    'strata quota get',
    "strata quota set dev --guarantee 'cpus:1;mem:512' --limit 'cpus:2;mem:1024'",
  ]);
  const quotaGet = quota.command('get').description('show every role quota (GET_QUOTA)');
  withMaster(withJson(quotaGet));
  quotaGet.action(async (opts: CommonOptions) => {
    const status = (await masterApi(opts).get({ type: Call_Type.GET_QUOTA })).getQuota?.status;
    const rows = (status?.configs ?? []).map((c) => ({
      role: c.role,
      guarantees: Object.fromEntries(Object.entries(c.guarantees).map(([k, v]) => [k, v.value])),
      limits: Object.fromEntries(Object.entries(c.limits).map(([k, v]) => [k, v.value])),
    }));
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['ROLE', 'GUARANTEES', 'LIMITS'],
      (status?.configs ?? []).map((c) => [c.role, quantityText(c.guarantees), quantityText(c.limits)]),
      'No quota is set.',
    );
  });
  const quotaSet = quota
    .command('set <role>')
    .description('set one role quota (UPDATE_QUOTA); no --guarantee and no --limit resets the role')
    .option('--guarantee <amounts>', "guaranteed amounts, e.g. 'cpus:1;mem:512'")
    .option('--limit <amounts>', "upper limits, e.g. 'cpus:2;mem:1024'")
    .option('--force', 'set it even if the cluster cannot satisfy the guarantee now');
  withMaster(quotaSet);
  examples(quotaSet, ["strata quota set dev --limit 'cpus:2;mem:1024'", 'strata quota set dev   # reset']);
  quotaSet.action(
    async (role: string, opts: CommonOptions & { guarantee?: string; limit?: string; force?: boolean }) => {
      await masterApi(opts).call({
        type: Call_Type.UPDATE_QUOTA,
        updateQuota: {
          force: opts.force ?? false,
          quotaConfigs: [
            {
              role,
              guarantees: opts.guarantee ? parseQuantities('--guarantee', opts.guarantee) : {},
              limits: opts.limit ? parseQuantities('--limit', opts.limit) : {},
            },
          ],
        },
      });
      console.log(`Quota of role ${role} updated.`);
    },
  );

  // --- weights -------------------------------------------------------------------------------
  const weights = program
    .command('weights')
    .description('show or set role weights (the DRF share multipliers)');
  examples(weights, ['strata weights get', 'strata weights set dev=2 prod=3']);
  const weightsGet = weights.command('get').description('show the role weights (GET_WEIGHTS)');
  withMaster(withJson(weightsGet));
  weightsGet.action(async (opts: CommonOptions) => {
    const infos = (await masterApi(opts).get({ type: Call_Type.GET_WEIGHTS })).getWeights?.weightInfos ?? [];
    const rows = infos.map((w) => ({ role: w.role ?? '', weight: w.weight }));
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['ROLE', 'WEIGHT'],
      rows.map((r) => [r.role, r.weight]),
      'No weights are set (every role weighs 1).',
    );
  });
  const weightsSet = weights.command('set <role=weight...>').description('set role weights (UPDATE_WEIGHTS)');
  withMaster(weightsSet);
  examples(weightsSet, ['strata weights set dev=2', 'strata weights set dev=2 prod=3.5']);
  weightsSet.action(async (pairs: string[], opts: CommonOptions) => {
    const weightInfos = pairs.map((pair) => {
      const [role, weight] = pair.split('=');
      const value = Number(weight);
      if (!role || weight === undefined || !Number.isFinite(value))
        throw new CliError(`expected role=weight, got '${pair}'`, 2);
      return { role, weight: value };
    });
    await masterApi(opts).call({ type: Call_Type.UPDATE_WEIGHTS, updateWeights: { weightInfos } });
    console.log(`Weights updated: ${weightInfos.map((w) => `${w.role}=${w.weight}`).join(' ')}`);
  });

  // --- maintenance ---------------------------------------------------------------------------
  const maintenance = program
    .command('maintenance')
    .description(
      'maintenance schedule and machine state (GET/UPDATE_MAINTENANCE_SCHEDULE, START/STOP_MAINTENANCE)',
    );
  examples(maintenance, [
    'strata maintenance schedule get',
    'strata maintenance schedule set schedule.json',
    'strata maintenance status',
    'strata maintenance down host1 host2=10.0.0.2',
    'strata maintenance up host1',
  ]);
  const schedule = maintenance.command('schedule').description('show or replace the maintenance schedule');
  const scheduleGet = schedule.command('get').description('print the schedule (JSON, as Mesos writes it)');
  withMaster(scheduleGet);
  scheduleGet.action(async (opts: CommonOptions) => {
    const response = await masterApi(opts).get({ type: Call_Type.GET_MAINTENANCE_SCHEDULE });
    const value = response.getMaintenanceSchedule?.schedule;
    console.log(jsonText(value ? toMesosJson(ScheduleSchema, value) : {}));
  });
  const scheduleSet = schedule
    .command('set <file>')
    .description("replace the schedule with a JSON maintenance.Schedule ('-' reads stdin)");
  withMaster(scheduleSet);
  scheduleSet.action(async (file: string, opts: CommonOptions) => {
    const { readFileSync } = await import('node:fs');
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, 2);
    }
    let parsed: ReturnType<typeof fromMesosJson<typeof ScheduleSchema>>;
    try {
      parsed = fromMesosJson(ScheduleSchema, JSON.parse(text) as JsonValue);
    } catch (err) {
      throw new CliError(`${file}: not a maintenance schedule: ${(err as Error).message}`, 2);
    }
    await masterApi(opts).call({
      type: Call_Type.UPDATE_MAINTENANCE_SCHEDULE,
      updateMaintenanceSchedule: { schedule: parsed },
    });
    console.log(
      `Maintenance schedule updated (${parsed.windows.length} window${parsed.windows.length === 1 ? '' : 's'}).`,
    );
  });
  const status = maintenance
    .command('status')
    .description('machines draining and down (GET_MAINTENANCE_STATUS)');
  withMaster(withJson(status));
  status.action(async (opts: CommonOptions) => {
    const s = (await masterApi(opts).get({ type: Call_Type.GET_MAINTENANCE_STATUS })).getMaintenanceStatus
      ?.status;
    const rows = [
      ...(s?.drainingMachines ?? []).map((m) => ({
        hostname: m.id?.hostname ?? '',
        ip: m.id?.ip ?? '',
        mode: 'DRAINING',
      })),
      ...(s?.downMachines ?? []).map((m) => ({ hostname: m.hostname ?? '', ip: m.ip ?? '', mode: 'DOWN' })),
    ];
    if (opts.json) return void console.log(jsonText(rows));
    printTable(
      ['HOSTNAME', 'IP', 'MODE'],
      rows.map((r) => [r.hostname, r.ip, r.mode]),
      'No machine is draining or down.',
    );
  });
  const down = maintenance
    .command('down <machines...>')
    .description('start maintenance: machines go DOWN (START_MAINTENANCE)');
  withMaster(down);
  down.action(async (list: string[], opts: CommonOptions) => {
    await masterApi(opts).call({
      type: Call_Type.START_MAINTENANCE,
      startMaintenance: { machines: machines(list) },
    });
    console.log(`Down: ${list.join(' ')}`);
  });
  const up = maintenance
    .command('up <machines...>')
    .description('end maintenance: machines come UP (STOP_MAINTENANCE)');
  withMaster(up);
  up.action(async (list: string[], opts: CommonOptions) => {
    await masterApi(opts).call({
      type: Call_Type.STOP_MAINTENANCE,
      stopMaintenance: { machines: machines(list) },
    });
    console.log(`Up: ${list.join(' ')}`);
  });
}

/** `strata agent drain ID [--max_grace_period 10mins] [--mark_gone]`: DRAIN_AGENT. */
export async function runAgentDrain(argv: string[]): Promise<number> {
  const { Command } = await import('commander');
  const cmd = new Command('strata agent drain')
    .argument('<agent-id>')
    .description('drain an agent: no new tasks, running ones killed after the grace period (DRAIN_AGENT)')
    .option('--max_grace_period <duration>', 'longest kill grace period for its tasks (10secs, 5mins)')
    .option('--mark_gone', 'mark the agent gone once drained')
    .exitOverride();
  withMaster(cmd);
  examples(cmd, [
    'strata agent drain <agent id>',
    'strata agent drain <agent id> --max_grace_period=1mins --mark_gone',
  ]);
  cmd.action(async (id: string, raw: Record<string, unknown>) => {
    const opts = camelOptions<CommonOptions & { maxGracePeriod?: string; markGone?: boolean }>(raw);
    let maxGracePeriod: { seconds: bigint; nanos: number } | undefined;
    if (opts.maxGracePeriod !== undefined) {
      const ms = parseDuration(opts.maxGracePeriod);
      if (ms === undefined || ms < 0)
        throw new CliError(`--max_grace_period: '${opts.maxGracePeriod}' is not a duration`, 2);
      maxGracePeriod = { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round((ms % 1000) * 1e6) };
    }
    await masterApi(opts).call({
      type: Call_Type.DRAIN_AGENT,
      drainAgent: {
        agentId: { value: id },
        ...(maxGracePeriod ? { maxGracePeriod } : {}),
        markGone: opts.markGone ?? false,
      },
    });
    console.log(`Agent ${id} is draining.`);
  });
  await cmd.parseAsync(argv, { from: 'user' });
  return 0;
}
