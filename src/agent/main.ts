import { StrataError } from '../common/errors.js';
import { parseOptions } from '../common/options.js';
import { agentFlags, agentHelp } from './flags.js';

/**
 * `strata agent`: parses flags, then runs until SIGINT/SIGTERM (exit 0) or until the master refuses
 * or shuts it down (exit 1, with the master's message). Returns the exit code.
 */
export async function runAgentCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(agentHelp());
    return 0;
  }
  let parsed: ReturnType<typeof parseOptions<typeof agentFlags>>;
  try {
    parsed = parseOptions(agentFlags, argv, process.env);
  } catch (err) {
    if (err instanceof StrataError) {
      console.error(`strata agent: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const { startAgent } = await import('./process.js');
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(parsed.values);
  } catch (err) {
    if (err instanceof StrataError) {
      console.error(`strata agent: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const exit = await agent.closed;
  if (exit.code !== 0 && exit.message) console.error(`strata agent: ${exit.message}`);
  return exit.code;
}
