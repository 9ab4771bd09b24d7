import { StrataError } from '../common/errors.js';
import { parseOptions } from '../common/options.js';
import { masterFlags, masterHelp } from './flags.js';

/** `strata master`: parses flags, then runs until SIGINT/SIGTERM. Returns the exit code. */
export async function runMasterCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(masterHelp());
    return 0;
  }
  let parsed: ReturnType<typeof parseOptions<typeof masterFlags>>;
  try {
    parsed = parseOptions(masterFlags, argv, process.env);
  } catch (err) {
    if (err instanceof StrataError) {
      console.error(`strata master: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const { startMaster } = await import('./process.js');
  const master = await startMaster(parsed.values);
  await master.closed;
  return 0;
}
