/**
 * `gridhub simulate …` (also `npm run simulate -- …`): a simulated fleet, or a load test, against
 * any hub. See USAGE.
 *
 * Exit codes: 0 done (the duration is over, the replay has caught up, or Ctrl-C / SIGTERM: it stops
 * publishing, waits a bounded time for the last acknowledgements, disconnects and prints the
 * summary); 1 the hub could not be used (unreachable after retries, token refused — one line, no
 * stack trace); 2 bad flags or an invalid fleet file.
 */
import { FleetFileError } from './fleet-file.ts';
import { FleetError } from './hub-api.ts';
import {
  parseSimulateArgs,
  resolveAdminToken,
  type SimulateArgs,
  type SimulateIo,
  USAGE,
  UsageError,
} from './simulate-args.ts';
import { runFleetMode } from './simulate-fleet.ts';
import { runLoadMode } from './simulate-load.ts';

const processSignals: NonNullable<SimulateIo['signals']> = (onSignal) => {
  const int = () => onSignal('SIGINT');
  const term = () => onSignal('SIGTERM');
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return () => {
    process.off('SIGINT', int);
    process.off('SIGTERM', term);
  };
};

/**
 * Entry point of `gridhub simulate`. `argv` is the command line after the program (the hub CLI's
 * parsed flags are not enough: it does not know these options, so they are read again from
 * process.argv when given as an object).
 */
export async function runSimulateCommand(
  argv: string[] | Record<string, string | boolean | undefined> = process.argv.slice(2),
  io: SimulateIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const args = Array.isArray(argv) ? argv : process.argv.slice(2);
  const { stdout, stderr, env } = io;
  let a: SimulateArgs;
  try {
    a = parseSimulateArgs(args, env);
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`gridhub simulate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (a.help) {
    stdout.write(USAGE);
    return 0;
  }
  const token = resolveAdminToken(a.token, env);
  if (!token) {
    stderr.write(
      'gridhub simulate: no admin token: pass --token, set GRIDHUB_ADMIN_TOKEN, or run it where ./data/admin-token is\n',
    );
    return 2;
  }

  // Stop on the first SIGINT/SIGTERM; a second one exits at once.
  let stopSignal: string | undefined;
  let onStop: (() => void) | undefined;
  const stopped = new Promise<string>((resolve) => {
    onStop = () => resolve(stopSignal ?? 'stop');
  });
  const unlisten = (io.signals ?? processSignals)((name) => {
    if (stopSignal) {
      stderr.write(`\ngridhub simulate: ${name} again, exiting without waiting\n`);
      process.exit(130);
    }
    stopSignal = name;
    onStop?.();
  });
  try {
    return a.load ? await runLoadMode(a, token, io, stopped) : await runFleetMode(a, token, io, stopped);
  } catch (err) {
    if (err instanceof FleetError) {
      stderr.write(`gridhub simulate: ${err.message}\n`);
      return 1;
    }
    if (err instanceof FleetFileError) {
      stderr.write(`gridhub simulate: invalid fleet file\n${err.message}\n`);
      return 2;
    }
    stderr.write(`gridhub simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    unlisten();
  }
}
