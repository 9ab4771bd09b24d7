import type { Command } from 'commander';

/**
 * `strata master` and `strata agent` take Mesos' flags (`--work_dir=...` or `--work_dir ...`),
 * parsed by our own option tables rather than commander, so they stay exactly Mesos' surface.
 */
export function registerDaemonCommands(program: Command): void {
  program
    .command('master')
    .description('run a master (scheduler, operator and legacy HTTP APIs on port 5050)')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]', 'Mesos master flags; --help lists them')
    .action(async (flags: string[]) => {
      const { runMasterCommand } = await import('../master/main.js');
      process.exitCode = await runMasterCommand(flags);
    });
  program
    .command('agent')
    .description('run an agent that offers this machine to a master (port 5051)')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]', 'Mesos agent flags; --help lists them (`strata agent drain ID` drains one)')
    .action(async (flags: string[]) => {
      if (flags[0] === 'drain') {
        const { runAgentDrain } = await import('./operator.js');
        process.exitCode = await runAgentDrain(flags.slice(1));
        return;
      }
      const { runAgentCommand } = await import('../agent/main.js');
      process.exitCode = await runAgentCommand(flags);
    });
}
