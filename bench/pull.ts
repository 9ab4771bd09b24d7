/**
 * `npm run bench -- pull`: pull + verify + unpack of a 3-layer, ~100 MB image from a local
 * docker-registry (loopback), by our provisioner's store, against `skopeo copy` + `umoci unpack`
 * of the same image, in the same run. Each case starts from an empty store; the median of the runs
 * is reported, and the ratio ours ÷ baseline (below 1 = faster than the baseline).
 *
 * Root only (unpacking keeps owners and device nodes). Options: --runs=N (default 3),
 * --mb=N (image size, default 100).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Provisioner } from '../src/containerizer/provisioner/provisioner.js';
import { makeTar, writeOciLayout } from '../test/unit/containerizer/provisioner-fixtures.js';
import { report } from './_lib.js';

const BENCH = 'pull';

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg === undefined ? Number.NaN : Number(arg.slice(name.length + 3));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function startRegistry(dir: string): Promise<{ host: string; proc: ChildProcess }> {
  const port = await freePort();
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: ${join(dir, 'data')}}\nhttp: {addr: "127.0.0.1:${port}"}\n`,
  );
  const log = openSync(join(dir, 'registry.log'), 'w');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return { host: `127.0.0.1:${port}`, proc };
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  proc.kill('SIGKILL');
  throw new Error('registry did not start');
}

/** One layer of ~`mb` MB: 1 MB files, half random (incompressible) and half text, plus small files. */
function layer(index: number, mb: number): Buffer {
  const entries: Parameters<typeof makeTar>[0][number][] = [{ name: `layer${index}`, type: '5' }];
  for (let i = 0; i < mb; i++) {
    const data =
      i % 2 === 0
        ? randomBytes(1 << 20)
        : Buffer.from(`line ${index}.${i} of some text\n`.repeat(34_000).slice(0, 1 << 20));
    entries.push({ name: `layer${index}/big${i}`, data });
  }
  for (let i = 0; i < 300; i++)
    entries.push({ name: `layer${index}/small/${i}.txt`, data: `small file ${i}\n` });
  return makeTar(entries);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench pull: needs root (layer unpacking keeps owners and device nodes); skipped');
    return;
  }
  for (const tool of ['docker-registry', 'skopeo', 'umoci'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench pull: ${tool} is missing (scripts/setup-host.sh installs it); skipped`);
      return;
    }
  const runs = option('runs', 3);
  const mb = option('mb', 100);
  const work = mkdtempSync(join(tmpdir(), 'strata-bench-pull-'));
  let registry: { host: string; proc: ChildProcess } | undefined;
  try {
    registry = await startRegistry(join(work, 'registry'));
    const layout = join(work, 'layout');
    const perLayer = Math.max(1, Math.round(mb / 3));
    writeOciLayout(layout, [{ tag: 'latest', layers: [0, 1, 2].map((i) => layer(i, perLayer)) }]);
    const image = `${registry.host}/bench/big:latest`;
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:latest`,
      `docker://${image}`,
    ]);

    const ours: number[] = [];
    const baseline: number[] = [];
    for (let run = 0; run < runs; run++) {
      const dir = join(work, `run${run}`);
      const p = await Provisioner.create({
        workDir: join(dir, 'work'),
        dockerStoreDir: join(dir, 'store'),
        dockerRegistry: `http://${registry.host}`,
      });
      let start = process.hrtime.bigint();
      await p.pull('bench/big');
      ours.push(Number(process.hrtime.bigint() - start) / 1e6);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);

      start = process.hrtime.bigint();
      execFileSync('skopeo', [
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${image}`,
        `oci:${join(dir, 'oci')}:latest`,
      ]);
      execFileSync('umoci', ['unpack', '--image', `${join(dir, 'oci')}:latest`, join(dir, 'bundle')], {
        stdio: 'ignore',
      });
      baseline.push(Number(process.hrtime.bigint() - start) / 1e6);
      rmSync(dir, { recursive: true, force: true });
    }
    const caseName = `3_layers_${mb}MB`;
    report(BENCH, `${caseName}/strata`, 'pull_unpack_median', median(ours), 'ms');
    report(BENCH, `${caseName}/skopeo+umoci`, 'pull_unpack_median', median(baseline), 'ms');
    report(BENCH, caseName, 'ratio_strata_over_skopeo_umoci', median(ours) / median(baseline), 'x');
  } finally {
    registry?.proc.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
