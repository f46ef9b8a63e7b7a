/**
 * `gridhub simulate --load`: a load test against a hub, with a progress line and the report.
 */
import { FleetError } from './hub-api.ts';
import { type LoadRun, startLoad } from './load.ts';
import type { LoadReport } from './load-report.ts';
import {
  formatClock,
  formatCount,
  formatRate,
  formatSpan,
  formatSummary,
  ProgressDisplay,
} from './progress.ts';
import { describeSignal, type SimulateArgs, type SimulateIo } from './simulate-args.ts';

export async function runLoadMode(
  a: SimulateArgs,
  token: string,
  io: SimulateIo,
  stopped: Promise<string>,
): Promise<number> {
  const { stdout, stderr } = io;
  const controller = new AbortController();
  let endReason = a.durationMs !== undefined ? `the duration (${formatSpan(a.durationMs)}) is over` : '';
  void stopped.then((sig) => {
    endReason = `stopped (${describeSignal(sig)})`;
    controller.abort();
  });
  const layout =
    a.sockets === 'per-device' || a.sockets >= a.devices
      ? `${formatCount(a.devices)} sockets (one per device)`
      : `${formatCount(a.sockets)} gateway sockets`;
  stdout.write(
    `gridhub simulate --load: ${formatCount(a.devices)} devices over ${layout}, QoS ${a.qos}, ${a.keys} readings per record` +
      `${a.rate ? `, target ${formatRate(a.rate)} messages/s` : ', as fast as acknowledged'}` +
      `${a.durationMs ? `, for ${formatSpan(a.durationMs)}` : ', until Ctrl-C'} → ${a.api} ${a.mqtt}\n`,
  );
  let run: LoadRun;
  try {
    run = startLoad({
      apiUrl: a.api,
      mqttUrl: a.mqtt,
      adminToken: token,
      devices: a.devices,
      sockets: a.sockets,
      qos: a.qos,
      rate: a.rate,
      durationMs: a.durationMs,
      signal: controller.signal,
      keys: a.keys,
      batch: a.batch,
      inflight: a.inflight,
      prefix: a.prefix,
      seed: a.seed,
      attempts: a.attempts,
      onRetry: (m) => stderr.write(`gridhub simulate: ${m}\n`),
    });
  } catch (err) {
    throw err instanceof FleetError ? err : new FleetError((err as Error).message);
  }
  const started = Date.now();
  const progress = new ProgressDisplay({
    out: stdout,
    startedAt: started,
    sample: () => {
      const s = run.snapshot();
      const step =
        s.phase === 'provision' || s.phase === 'connect' || s.phase === 'announce'
          ? `${s.phase} ${formatCount(s.step.done)}/${formatCount(s.step.total)}`
          : s.phase === 'publish'
            ? `publishing ${formatSpan(s.elapsedMs)}, ${formatCount(s.inflight)} in flight`
            : s.phase;
      return {
        connected: s.connected,
        of: s.sockets,
        connectedLabel: 'sockets',
        readings: s.readings,
        sent: s.sent,
        acked: s.acked,
        refused: s.refused,
        errors: s.errors,
        status: step,
      };
    },
  }).start();
  let report: LoadReport;
  try {
    report = await run.done;
  } finally {
    progress.stop();
  }
  if (a.json) {
    stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  stdout.write(formatLoadReport(report, endReason || 'done', Date.now() - started));
  return 0;
}

export function formatLoadReport(r: LoadReport, reason: string, elapsedMs: number): string {
  const lat = r.ackLatencyMs;
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const secs = (x: number) => `${(x / 1000).toFixed(1)} s`;
  const rows: [string, string][] = [
    [
      'layout',
      `${formatCount(r.devices)} devices over ${formatCount(r.sockets)} ${r.layout === 'per-device' ? 'sockets (one per device)' : `gateway sockets (${r.batch} device${r.batch > 1 ? 's' : ''} per message)`}, QoS ${r.qos}, ${r.keys} readings per record, ${r.inflightPerSocket} in flight per socket`,
    ],
    ['target', r.rate ? `${formatRate(r.rate)} messages/s` : 'as fast as acknowledged'],
    [
      'setup',
      `provisioned in ${secs(r.provisionMs)}, connected ${formatCount(r.connected)}/${formatCount(r.sockets)} in ${secs(r.connectMs)}${r.layout === 'gateways' ? `, ${formatCount(r.announced)} children announced in ${secs(r.announceMs)}` : ''}`,
    ],
    ['publishing', secs(r.durationMs)],
    ['sent', formatCount(r.sent)],
    [r.qos === 1 ? 'acknowledged' : 'written (QoS 0)', formatCount(r.acknowledged)],
    [
      'refused',
      `${formatCount(r.refused.total)} (CONNACK ${r.refused.connack}, SUBACK ${r.refused.suback}, closed ${r.refused.closed}, not acknowledged ${r.refused.unacked})`,
    ],
    ['achieved', `${formatRate(r.messagesPerSec)} messages/s, ${formatRate(r.readingsPerSec)} readings/s`],
    [
      r.qos === 1 ? 'ack latency' : 'write latency',
      lat ? `p50 ${ms(lat.p50)} ms, p99 ${ms(lat.p99)} ms, max ${ms(lat.max)} ms` : '—',
    ],
  ];
  if (r.hubAccepted !== null)
    rows.push([
      'hub accepted',
      `${formatCount(r.hubAccepted)} readings (/metrics, all devices)${r.hubReadingsPerSec !== null ? `, ${formatRate(r.hubReadingsPerSec)} readings/s` : ''}`,
    ]);
  rows.push([
    'errors',
    `${formatCount(r.errors)}${r.firstErrors.length ? `: ${r.firstErrors.join('; ')}` : ''}`,
  ]);
  return formatSummary(`gridhub simulate --load: ${reason} after ${formatClock(elapsedMs)}`, rows);
}
