import type { Command } from 'commander';
import { versionInfo } from '../common/version.js';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print version information (the Mesos API version spoken, and the build)')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      const info = versionInfo();
      if (opts.json) console.log(JSON.stringify(info));
      else console.log(`strata ${info.strata_version} (Mesos API ${info.version}), built ${info.build_date}`);
    });
}
