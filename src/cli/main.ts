/**
 * `strata`: one binary for the daemons (master, agent, local) and the operator's commands. Each
 * command lives in its own file and registers itself here.
 */
import { Command } from 'commander';
import { isStrataError } from '../common/errors.js';
import { STRATA_VERSION } from '../common/version.js';
import { CliError } from './api.js';
import { registerCompletion } from './completion.js';
import { registerDaemonCommands } from './daemons.js';
import { registerDoctor } from './doctor.js';
import { registerEvents } from './events.js';
import { registerExecute } from './execute.js';
import { registerListings } from './listings.js';
import { registerLocal } from './local.js';
import { registerOperatorCommands } from './operator.js';
import { registerTask } from './task.js';
import { registerTop } from './top.js';
import { registerVersion } from './version.js';

export function buildProgram(): Command {
  const program = new Command('strata')
    .description('Strata: a cluster manager that speaks the Apache Mesos v1 HTTP API')
    .version(STRATA_VERSION, '-V, --version', 'print the Strata version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  strata local                              start a master and an agent on loopback\n' +
        '  strata master --work_dir=/var/lib/strata  run a master on port 5050\n' +
        '  strata agent --master=127.0.0.1:5050 --work_dir=/var/lib/strata-agent\n' +
        '  strata doctor                             what this host can isolate',
    );
  registerLocal(program);
  registerDaemonCommands(program);
  registerDoctor(program);
  registerVersion(program);
  registerExecute(program);
  registerListings(program);
  registerTask(program);
  registerOperatorCommands(program);
  registerEvents(program);
  registerTop(program);
  registerCompletion(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`strata: ${err.message}`);
      return err.exitCode;
    }
    if (isStrataError(err)) {
      console.error(`strata: ${err.message}`);
      return 2;
    }
    if (err && typeof err === 'object' && 'exitCode' in err && typeof err.exitCode === 'number')
      return err.exitCode;
    console.error(`strata: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
