import type { Command } from 'commander';
import { agentFlags } from '../agent/flags.js';
import { bestIsolation, type HostReport, probeHost } from '../common/host.js';

/** What `strata local` would pick here: images too when the agent can run them. */
const best = (report: HostReport) => bestIsolation(report, { images: 'image_providers' in agentFlags });

export function describeHost(report: HostReport): string[] {
  const yesNo = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [
    `root:         ${yesNo(report.root)}`,
    `cgroups:      ${report.cgroups}${report.hybridV2Controllers.length ? ` (v2 still owns: ${report.hybridV2Controllers.join(', ')})` : ''}`,
    `overlayfs:    ${yesNo(report.overlayfs)}`,
    `OCI runtimes: ${
      Object.entries(report.runtimes)
        .map(([n, p]) => `${n} (${p})`)
        .join(', ') || 'none'
    }`,
    `image tools:  ${
      Object.entries(report.tools)
        .map(([n, p]) => `${n} (${p})`)
        .join(', ') || 'none'
    }`,
  ];
  const choice = best(report);
  lines.push(`isolation:    ${choice.isolation || 'posix'}`, `              ${choice.reason}`);
  return lines;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report what this host offers for isolation: root, cgroups, overlayfs, OCI runtimes')
    .option('--json', 'print the report as JSON')
    .action((opts: { json?: boolean }) => {
      const report = probeHost();
      if (opts.json) console.log(JSON.stringify({ ...report, best: best(report) }));
      else for (const line of describeHost(report)) console.log(line);
    });
}
