/**
 * `gridhub simulate` in fleet mode: the demo district or a fleet file, live or fast-forwarded, with a
 * progress line and a summary.
 */
import { pino } from 'pino';
import { simulateCameraStreams } from './cameras.ts';
import { demoDistrict } from './district.ts';
import { createFleet, type Fleet, type FleetStats } from './fleet.ts';
import { fleetFileDevices, loadFleetFile } from './fleet-file.ts';
import {
  formatClock,
  formatCount,
  formatRate,
  formatSpan,
  formatSummary,
  ProgressDisplay,
} from './progress.ts';
import { fleetDevices } from './roster.ts';
import { describeSignal, type SimulateArgs, type SimulateIo } from './simulate-args.ts';

export async function runFleetMode(
  a: SimulateArgs,
  token: string,
  io: SimulateIo,
  stopped: Promise<string>,
): Promise<number> {
  const { stdout, stderr } = io;
  const file = a.fleet ? loadFleetFile(a.fleet) : undefined;
  const fleet: Fleet = createFleet({
    apiUrl: a.api,
    mqttUrl: a.mqtt,
    adminToken: token,
    seed: a.seed,
    intervalMs: a.intervalMs,
    ...(file ? { devices: fleetFileDevices(file) } : {}),
    ...(a.timeZone ? { timeZone: a.timeZone } : {}),
    attempts: a.attempts,
    onRetry: (m) => stderr.write(`gridhub simulate: ${m}\n`),
    fastForwardMs: a.fastForwardMs,
    thenLive: a.thenLive,
    rate: a.rate,
    qos: a.qos,
    inflight: a.inflight,
    batch: a.batch,
    logger: pino({ level: 'silent' }),
  });
  const total = fleet.stats().devices;
  stdout.write(
    `gridhub simulate: ${total} devices (${a.fleet ?? 'demo district 330102'}), seed ${a.seed}, ` +
      `${a.fastForwardMs ? `replaying the last ${formatSpan(a.fastForwardMs)}${a.thenLive ? ' then live' : ''}` : 'live'}` +
      `${a.rate ? `, at most ${formatRate(a.rate)} messages/s` : ''}${a.durationMs ? `, for ${formatSpan(a.durationMs)}` : ''}` +
      ` → ${a.api} ${a.mqtt}\n`,
  );
  const started = Date.now();
  const progress = new ProgressDisplay({
    out: stdout,
    startedAt: started,
    sample: () => {
      const s = fleet.stats();
      return {
        connected: s.connected,
        of: s.devices,
        readings: s.readings,
        sent: s.sent,
        acked: s.messages,
        errors: s.errors,
        status: statusOf(s, a),
      };
    },
  });
  let endReason = '';
  let durationTimer: ReturnType<typeof setTimeout> | undefined;
  const durationOver = new Promise<string>((resolve) => {
    if (a.durationMs !== undefined)
      durationTimer = setTimeout(
        () => resolve(`the duration (${formatSpan(a.durationMs!)}) is over`),
        a.durationMs,
      );
  });
  progress.start();
  let cameras: Awaited<ReturnType<typeof simulateCameraStreams>>;
  try {
    const first = await Promise.race([
      fleet.start().then(() => ''),
      stopped.then((s) => `stopped (${describeSignal(s)})`),
      durationOver,
    ]);
    if (first) endReason = first;
    else {
      if (a.video) {
        const specs = file ? fleetFileDevices(file) : fleetDevices(demoDistrict(a.seed));
        cameras = await simulateCameraStreams({
          apiUrl: a.api,
          adminToken: token,
          cameraIds: specs.filter((d) => d.profile === 'camera').map((d) => d.id),
          say: (line) => stdout.write(`gridhub simulate: ${line}\n`),
        }).catch((err) => {
          stdout.write(`gridhub simulate: cameras: no simulated video (${(err as Error).message})\n`);
          return undefined;
        });
      }
      const s = fleet.stats();
      if (!progress.tty) stdout.write(`publishing: ${s.connected}/${s.devices} devices connected\n`);
      endReason = await Promise.race([
        stopped.then((sig) => `stopped (${describeSignal(sig)})`),
        durationOver,
        ...(a.fastForwardMs && !a.thenLive ? [fleet.caughtUp().then(() => 'the replay has caught up')] : []),
      ]);
    }
  } catch (err) {
    progress.stop();
    if (durationTimer) clearTimeout(durationTimer);
    await fleet.stop({ drainMs: 0 }).catch(() => {});
    await cameras?.stop();
    throw err;
  }
  await cameras?.stop();
  if (durationTimer) clearTimeout(durationTimer);
  await fleet.stop({ drainMs: 5000 });
  progress.stop();
  const s = fleet.stats();
  const elapsed = Date.now() - started;
  const rows: [string, string][] = [
    ['devices', `${formatCount(s.devices)}`],
    [
      'messages',
      `sent ${formatCount(s.sent)}, acknowledged ${formatCount(s.messages)}${s.inflight ? `, not acknowledged ${formatCount(s.inflight)}` : ''}`,
    ],
    [
      'readings',
      `${formatCount(s.readings)} acknowledged (${formatRate(elapsed > 0 ? (s.readings * 1000) / elapsed : 0)}/s)`,
    ],
  ];
  if (s.replay) {
    rows.push([
      'replayed',
      `${formatSpan(s.replay.to - s.replay.from)}: ${new Date(s.replay.from).toISOString()} → ${new Date(s.replay.to).toISOString()}`,
    ]);
  }
  rows.push(['errors', formatCount(s.errors)]);
  stdout.write(formatSummary(`gridhub simulate: ${endReason} after ${formatClock(elapsed)}`, rows));
  return 0;
}

function statusOf(s: FleetStats, a: SimulateArgs): string {
  switch (s.phase) {
    case 'idle':
      return 'provisioning';
    case 'replay': {
      const window = a.fastForwardMs ?? 1;
      const pct = Math.max(0, Math.min(99, Math.floor(100 * (1 - s.behindMs / window))));
      return `replay ${pct}% (${formatSpan(s.behindMs)} behind)`;
    }
    case 'live':
      return s.replay ? 'live (replay done)' : 'live';
    case 'done':
      return 'replay done';
    default:
      return s.phase;
  }
}
