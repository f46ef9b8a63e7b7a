import { createLogger } from '../hub/logger.ts';
import { createFleet, FleetError } from './fleet.ts';

/**
 * `gridhub simulate --api URL --mqtt URL --token ADMIN_TOKEN [--seed N] [--interval MS]`: the demo
 * fleet against any hub, until Ctrl-C, with a progress line every 5 s.
 */
export async function runSimulateCommand(
  args: Record<string, string | boolean | undefined>,
): Promise<number> {
  const api = String(args.api ?? process.env.GRIDHUB_API_URL ?? 'http://127.0.0.1:8080');
  const mqttUrl = String(args.mqtt ?? process.env.GRIDHUB_MQTT_URL ?? 'mqtt://127.0.0.1:1883');
  const token = args.token ?? process.env.GRIDHUB_ADMIN_TOKEN;
  if (typeof token !== 'string' || !token) {
    process.stderr.write('gridhub simulate: --token ADMIN_TOKEN (or GRIDHUB_ADMIN_TOKEN) is required\n');
    return 2;
  }
  const seed = args.seed === undefined ? 1 : Number(args.seed);
  const intervalMs = args.interval === undefined ? 5000 : Number(args.interval);
  if (!Number.isInteger(seed) || !Number.isFinite(intervalMs) || intervalMs < 10) {
    process.stderr.write('gridhub simulate: --seed must be an integer and --interval at least 10 (ms)\n');
    return 2;
  }
  const fleet = createFleet({
    apiUrl: api,
    mqttUrl,
    adminToken: token,
    seed,
    intervalMs,
    logger: createLogger('warn'),
  });
  try {
    await fleet.start();
  } catch (err) {
    process.stderr.write(`gridhub simulate: ${err instanceof FleetError ? err.message : String(err)}\n`);
    return 1;
  }
  const started = Date.now();
  let last = fleet.stats();
  const timer = setInterval(() => {
    const s = fleet.stats();
    const rate = ((s.readings - last.readings) / 5).toFixed(0);
    last = s;
    process.stdout.write(
      `connected ${s.connected}/${s.devices}  readings/s ${rate}  messages ${s.messages}  errors ${s.errors}  elapsed ${Math.round((Date.now() - started) / 1000)}s\n`,
    );
  }, 5000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  await fleet.stop();
  const s = fleet.stats();
  process.stdout.write(`stopped: ${s.messages} messages, ${s.readings} readings, ${s.errors} errors\n`);
  return 0;
}
