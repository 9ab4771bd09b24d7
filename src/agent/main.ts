import { StrataError } from '../common/errors.js';
import { parseOptions } from '../common/options.js';
import { agentFlags, agentHelp } from './flags.js';

/** `strata agent`: parses flags, then runs until SIGINT/SIGTERM. Returns the exit code. */
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
  const agent = await startAgent(parsed.values);
  await agent.closed;
  return 0;
}
