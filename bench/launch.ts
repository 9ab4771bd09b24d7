/**
 * `npm run bench -- launch [--n=50] [--seconds=10]` (root): container launch latency and rate of
 * image tasks through a real master + agent (`--isolation=filesystem/linux,docker/runtime,
 * namespaces/pid,cgroups/cpu,cgroups/mem --image_providers=docker`, a loopback docker-registry,
 * the busybox image pulled before measuring), against `crun run` of the same rootfs and, when
 * installed, `podman run --rm --network none`.
 *
 * Cases: `agent` ACCEPT→TASK_RUNNING and ACCEPT→TASK_FINISHED of `/bin/true` (median, p99; one
 * task at a time), `crun` (`crun run` of a bundle on the image's layer, cgroups + limits, as
 * host-setup.md §6 measured; one run after each agent launch, so that both see the same moments
 * of a noisy host), the ratio agent/crun, `podman`, and `sustained` (tasks launched as fast as
 * offers allow for --seconds; TASK_FINISHED per second).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../src/containerizer/isolators/cgroups.js';
import { removeHostRoot } from '../src/containerizer/runtime/host-root.js';
import { FrameworkInfo_Capability_Type, type Offer, TaskState } from '../src/wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, type Event, Event_Type } from '../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { buildAndPushImages, busybox, startRegistry } from '../test/support/images.js';
import { freePort, StrataProcess, startMasterProcess, tempDir } from '../test/support/processes.js';
import { TestScheduler } from '../test/support/scheduler-client.js';
import { report } from './_lib.js';

const BENCH = 'launch';
const CGROUPS_ROOT = `strata-bench-${process.pid}`;

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split('=')[1]) : fallback;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

function skipLine(caseName: string, reason: string): void {
  process.stdout.write(`${JSON.stringify({ bench: BENCH, case: caseName, skipped: reason })}\n`);
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** The scheduler side: offers queued, updates acknowledged and timestamped per task. */
class Driver {
  private readonly offers: Offer[] = [];
  private offerWaiters: ((o: Offer) => void)[] = [];
  readonly times = new Map<
    string,
    { accept: number; running?: number; finished?: number; failed?: string }
  >();
  private readonly finishWaiters = new Map<string, () => void>();
  finishedAt: number[] = [];
  failures: string[] = [];
  private stopped = false;

  constructor(readonly scheduler: TestScheduler) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      let event: Event;
      try {
        event = await this.scheduler.next(
          (e) => e.type === Event_Type.OFFERS || e.type === Event_Type.UPDATE,
          3_600_000,
        );
      } catch {
        return;
      }
      const now = performance.now();
      if (event.type === Event_Type.OFFERS) {
        for (const offer of event.offers?.offers ?? []) {
          const waiter = this.offerWaiters.shift();
          if (waiter) waiter(offer);
          else this.offers.push(offer);
        }
        continue;
      }
      const status = event.update?.status;
      if (!status) continue;
      if (status.uuid.length > 0)
        void this.scheduler.call({
          type: Call_Type.ACKNOWLEDGE,
          acknowledge: { agentId: status.agentId!, taskId: status.taskId!, uuid: status.uuid },
        });
      const id = status.taskId?.value ?? '';
      const t = this.times.get(id);
      if (!t) continue;
      if (status.state === TaskState.TASK_RUNNING) t.running ??= now;
      if (status.state === TaskState.TASK_FINISHED) {
        t.finished = now;
        this.finishedAt.push(now);
      } else if (
        status.state === TaskState.TASK_FAILED ||
        status.state === TaskState.TASK_LOST ||
        status.state === TaskState.TASK_KILLED ||
        status.state === TaskState.TASK_ERROR
      ) {
        t.failed = `${TaskState[status.state]}: ${status.message}`;
        this.failures.push(`${id} ${t.failed}`);
      }
      if (t.finished !== undefined || t.failed !== undefined) this.finishWaiters.get(id)?.();
    }
  }

  nextOffer(): Promise<Offer> {
    const queued = this.offers.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.offerWaiters.push(resolve));
  }

  /** Accepts `offer` with `ids` (each `/bin/true` from the image, 0.1 cpus, 32 MB). */
  async launch(offer: Offer, ids: string[], image: string): Promise<void> {
    const accept = performance.now();
    for (const id of ids) this.times.set(id, { accept });
    const result = await this.scheduler.call({
      type: Call_Type.ACCEPT,
      accept: {
        offerIds: [offer.id!],
        operations: [
          {
            type: 1,
            launch: {
              taskInfos: ids.map((id) => ({
                name: id,
                taskId: { value: id },
                agentId: offer.agentId!,
                command: { shell: false, value: '/bin/true', arguments: ['true'] },
                container: { type: 2, mesos: { image: { type: 2, docker: { name: image } } } },
                resources: [
                  { name: 'cpus', type: 0, scalar: { value: 0.1 } },
                  { name: 'mem', type: 0, scalar: { value: 32 } },
                ],
              })),
            },
          },
        ],
        filters: { refuseSeconds: 0 },
      },
    });
    if (result.status !== 202) throw new Error(`ACCEPT answered ${result.status}: ${result.body}`);
  }

  done(id: string): Promise<void> {
    const t = this.times.get(id);
    if (t && (t.finished !== undefined || t.failed !== undefined)) return Promise.resolve();
    return new Promise((resolve) => this.finishWaiters.set(id, resolve));
  }

  stop(): void {
    this.stopped = true;
  }
}

/** `crun run` (or runc) of a bundle on `rootfs`: /bin/true with cgroups and limits. */
/**
 * `<runtime> run` of `/bin/true` on the image's layer (cgroups + limits, as host-setup.md §6
 * measured), one run per call: the benchmark interleaves these runs with the agent's launches so
 * that both see the same moments of a noisy host.
 */
class RuntimeBaseline {
  private readonly bundle: string;
  private readonly configPath: string;
  private readonly config: {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
    linux: { namespaces: { type: string }[]; resources?: unknown; cgroupsPath?: string };
  };
  private runs = 0;

  constructor(
    private readonly runtime: string,
    rootfs: string,
    dir: string,
  ) {
    this.bundle = join(dir, 'bundle');
    mkdirSync(this.bundle, { recursive: true });
    const spec = spawnSync(runtime, ['spec'], { cwd: this.bundle });
    if (spec.status !== 0) throw new Error(`${runtime} spec: ${spec.stderr}`);
    this.configPath = join(this.bundle, 'config.json');
    this.config = JSON.parse(readFileSync(this.configPath, 'utf8')) as RuntimeBaseline['config'];
    this.config.process.terminal = false;
    this.config.process.args = ['/bin/true'];
    this.config.root = { path: rootfs, readonly: true };
    this.config.linux.namespaces = this.config.linux.namespaces.filter((ns) => ns.type !== 'network');
    this.config.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, cpu: { shares: 204 } };
  }

  /** One `run`; its wall time in ms. */
  runOnce(): number {
    const i = this.runs++;
    this.config.linux.cgroupsPath = `/${CGROUPS_ROOT}/c${i}`;
    writeFileSync(this.configPath, JSON.stringify(this.config));
    const t0 = performance.now();
    const run = spawnSync(this.runtime, ['run', '-b', this.bundle, `strata-bench-${process.pid}-${i}`]);
    const ms = performance.now() - t0;
    if (run.status !== 0) throw new Error(`${this.runtime} run: ${run.stderr}`);
    return ms;
  }
}

function removeCgroups(): void {
  try {
    const layout = detectCgroupLayout();
    for (const mount of new Set([
      ...layout.controllers.values(),
      '/sys/fs/cgroup/systemd',
      '/sys/fs/cgroup/unified',
    ])) {
      const dir = join(mount, CGROUPS_ROOT);
      try {
        for (const child of readdirSync(dir, { withFileTypes: true }))
          if (child.isDirectory()) rmdirSync(join(dir, child.name));
        rmdirSync(dir);
      } catch {
        // none
      }
    }
  } catch {
    // no cgroups
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    skipLine('all', 'needs root (mounts, cgroups, an OCI runtime)');
    return;
  }
  const missing = ['docker-registry', 'skopeo', 'umoci'].filter((t) => !has(t));
  if (missing.length > 0 || !busybox) {
    skipLine('all', `missing ${[...missing, ...(busybox ? [] : ['busybox-static'])].join(', ')}`);
    return;
  }
  const runtime = has('crun') ? 'crun' : has('runc') ? 'runc' : undefined;
  if (!runtime) {
    skipLine('all', 'no crun or runc');
    return;
  }
  const n = option('n', 50);
  const seconds = option('seconds', 10);
  // Context for the numbers: cgroups v1 memory cgroups that were removed but are still pinned
  // by cached pages ("dying") slow every cgroup creation; they pile up on a host that has run
  // many containers, and drop_caches frees them.
  const memoryCgroups = /^memory\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/cgroups', 'utf8'))?.[1];
  if (memoryCgroups !== undefined)
    report(BENCH, 'host', 'memory_cgroups_at_start', Number(memoryCgroups), 'cgroups');
  const work = tempDir('bench-launch');
  const registry = await startRegistry(join(work, 'registry'));
  let master: Awaited<ReturnType<typeof startMasterProcess>> | undefined;
  let agent: StrataProcess | undefined;
  let scheduler: TestScheduler | undefined;
  let driver: Driver | undefined;
  try {
    buildAndPushImages(join(work, 'build'), registry.host);
    const image = `${registry.host}/busybox:latest`;
    master = await startMasterProcess(['--allocation_interval=10ms', '--logging_level=error']);
    const agentPort = await freePort();
    const workDir = join(work, 'agent');
    const store = join(work, 'store');
    agent = new StrataProcess('agent', [
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--ip=127.0.0.1',
      `--port=${agentPort}`,
      `--work_dir=${workDir}`,
      '--isolation=filesystem/linux,docker/runtime,namespaces/pid,cgroups/cpu,cgroups/mem',
      '--image_providers=docker',
      `--docker_registry=http://${registry.host}`,
      `--docker_store_dir=${store}`,
      `--cgroups_root=${CGROUPS_ROOT}`,
      '--resources=cpus:64;mem:65536;disk:65536',
      '--logging_level=error',
    ]);
    await agent.waitForHealth(`http://127.0.0.1:${agentPort}/health`, 20_000);
    scheduler = await new TestScheduler(master.url).subscribe({
      user: 'root',
      name: 'bench-launch',
      roles: ['*'],
      capabilities: [{ type: FrameworkInfo_Capability_Type.MULTI_ROLE }],
    });
    driver = new Driver(scheduler);

    console.error('bench launch: agent up, pulling the image');
    // Pull the image (and warm the agent) before measuring.
    for (let i = 0; i < 3; i++) {
      const id = `warm-${i}`;
      await driver.launch(await driver.nextOffer(), [id], image);
      await driver.done(id);
    }
    if (driver.failures.length > 0) throw new Error(`warm-up failed: ${driver.failures.join('; ')}`);

    // The same rootfs (the image's only layer) under the bare runtime, one run after each launch.
    const layers = readdirSync(join(store, 'layers'));
    const baseline = new RuntimeBaseline(
      runtime,
      join(store, 'layers', layers[0]!, 'rootfs'),
      join(work, 'bare'),
    );
    for (let i = 0; i < 3; i++) baseline.runOnce();
    const running: number[] = [];
    const finished: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = `serial-${i}`;
      await driver.launch(await driver.nextOffer(), [id], image);
      await driver.done(id);
      const t = driver.times.get(id)!;
      if (t.failed) throw new Error(`${id} ${t.failed}`);
      running.push(t.running! - t.accept);
      finished.push(t.finished! - t.accept);
      bare.push(baseline.runOnce());
    }
    report(BENCH, 'agent', 'accept_to_running_median', quantile(running, 0.5), 'ms');
    report(BENCH, 'agent', 'accept_to_running_p99', quantile(running, 0.99), 'ms');
    report(BENCH, 'agent', 'accept_to_finished_median', quantile(finished, 0.5), 'ms');
    report(BENCH, 'agent', 'accept_to_finished_p99', quantile(finished, 0.99), 'ms');

    const bareMedian = quantile(bare, 0.5);
    report(BENCH, runtime, 'run_median', bareMedian, 'ms');
    report(BENCH, runtime, 'run_p99', quantile(bare, 0.99), 'ms');
    report(BENCH, 'agent', `finished_median_vs_${runtime}`, quantile(finished, 0.5) / bareMedian, 'x');
    report(BENCH, 'agent', `running_median_vs_${runtime}`, quantile(running, 0.5) / bareMedian, 'x');

    // podman is only the baseline of this benchmark: installed here rather than by the set-up.
    if (!has('podman') && process.getuid?.() === 0) {
      console.error('bench launch: installing podman (apt-get) for the baseline');
      spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'podman'], { stdio: 'ignore' });
    }
    if (has('podman')) {
      const times: number[] = [];
      for (let i = 0; i < Math.min(n, 20) + 2; i++) {
        const t0 = performance.now();
        const run = spawnSync('podman', [
          'run',
          '--rm',
          '--network',
          'none',
          // This host's hard limits are below podman's defaults for containers.
          '--ulimit',
          'nofile=1024:1024',
          '--ulimit',
          'nproc=1024:1024',
          '--tls-verify=false',
          image,
          '/bin/true',
        ]);
        if (run.status !== 0) {
          skipLine('podman', `podman run failed: ${String(run.stderr).slice(-400)}`);
          break;
        }
        if (i >= 2) times.push(performance.now() - t0);
      }
      if (times.length > 0) {
        report(BENCH, 'podman', 'run_median', quantile(times, 0.5), 'ms');
        report(BENCH, 'podman', 'run_p99', quantile(times, 0.99), 'ms');
        report(
          BENCH,
          'agent',
          'finished_median_vs_podman',
          quantile(finished, 0.5) / quantile(times, 0.5),
          'x',
        );
      }
    } else skipLine('podman', 'podman is not installed');

    // Sustained: keep up to 64 tasks in flight for `seconds`; count TASK_FINISHED per second.
    const maxInFlight = 64;
    const start = performance.now();
    const end = start + seconds * 1000;
    const finishedBefore = driver.finishedAt.length;
    const failuresBefore = driver.failures.length;
    let launched = 0;
    let batch = 0;
    const inFlight = () =>
      launched - (driver!.finishedAt.length - finishedBefore) - (driver!.failures.length - failuresBefore);
    while (performance.now() < end) {
      const offer = await Promise.race([
        driver.nextOffer(),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(1, end - performance.now()))),
      ]);
      if (!offer) break;
      const room = Math.max(0, maxInFlight - inFlight());
      const cpus = offer.resources.find((r) => r.name === 'cpus')?.scalar?.value ?? 0;
      const fit = Math.min(room, Math.floor(cpus / 0.2 + 1e-9));
      if (fit === 0) {
        await scheduler.call({
          type: Call_Type.DECLINE,
          decline: { offerIds: [offer.id!], filters: { refuseSeconds: 0 } },
        });
        continue;
      }
      const ids = Array.from({ length: fit }, (_, i) => `sustained-${batch}-${i}`);
      batch++;
      launched += fit;
      await driver.launch(offer, ids, image);
    }
    const elapsed = (performance.now() - start) / 1000;
    const done = driver.finishedAt.filter((t) => t >= start && t <= end).length;
    report(BENCH, 'sustained', 'finished_per_s', done / elapsed, 'tasks/s');
    report(BENCH, 'sustained', 'launched', launched, 'tasks');
    report(BENCH, 'sustained', 'failed', driver.failures.length - failuresBefore, 'tasks');
    for (const failure of driver.failures.slice(failuresBefore, failuresBefore + 5))
      console.error(`bench launch: sustained failure: ${failure}`);
    // Let what is in flight finish before tearing down.
    const drain = performance.now() + 30_000;
    while (inFlight() > 0 && performance.now() < drain) await new Promise((r) => setTimeout(r, 100));
  } finally {
    driver?.stop();
    scheduler?.close();
    await agent?.stop(10_000);
    await master?.process.stop();
    registry.proc.kill('SIGTERM');
    const mounts = spawnSync('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | sort -r`], {
      encoding: 'utf8',
    }).stdout;
    for (const m of mounts
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean))
      spawnSync('umount', ['-l', m]);
    removeHostRoot();
    removeCgroups();
    rmSync(work, { recursive: true, force: true });
    // Containers destroyed while the agent stopped may still write their last state: once more.
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench launch: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
