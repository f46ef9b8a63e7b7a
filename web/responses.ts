/**
 * Response schemas of the routes whose answers only the API documents (the shapes the dashboard
 * shares are in domain/: views.ts, device-views.ts, grid-views.ts, rule-views.ts). The zod serializer (fastify-type-provider-zod `serializerCompiler`)
 * encodes every 2xx JSON answer through its schema: a field the schema lacks is stripped by
 * `z.object` and kept by `z.looseObject`, and an answer that does not match is a 500
 * (ResponseSerializationError, logged as "request failed"). So each schema here is either exact
 * (every field of the type the handler returns) or open where the data is the user's or device's own
 * (health, RPC params and answers, event data) and says so; test/responses.e2e.test.ts lists those.
 * Buffers, streams and strings sent with a non-JSON content type never reach the serializer: their
 * schemas only document the answer.
 */
import { z } from 'zod';
import { kpiReportSchema } from '../domain/index.ts';
import { deviceLimitsSchema } from '../gateway/index.ts';

const isoTime = z.string().describe('ISO 8601 time');

/** DELETE and sign-out: 204 without a body (the handler sends nothing, so nothing is serialized). */
export const noContent = z.undefined().describe('No content');
/** A text body sent with its own content type (the Prometheus text, an event stream). */
export const rawAnswer = (description: string) => z.string().describe(description);
/** A binary body (a photo): a Buffer, which fastify sends as it is. */
export const binaryAnswer = (description: string) =>
  z.custom<Buffer>((v) => Buffer.isBuffer(v)).meta({ type: 'string', format: 'binary', description });

/** A device event (a camera detection…; store/telemetry.ts `events`); `data` is the event's own JSON. */
export const deviceEventAnswer = z.object({
  ts: isoTime,
  type: z.string(),
  confidence: z.number().nullable(),
  snapshot: z.string().nullable(),
  data: z.unknown().describe('any JSON value'),
});

/** `GET /api/kpis`: the report, its period as ISO 8601 times. */
export const kpiAnswer = kpiReportSchema.extend({ from: isoTime, to: isoTime });

/**
 * `GET /api/devices/:id/limits`: the limits at the MQTT edge (gateway `deviceLimitsSchema`), the
 * breaches counted per reason, the cool-down and the connections now (gateway `limitsOf`).
 */
export const deviceLimitsAnswer = z.object({
  id: z.string(),
  limits: z.object(deviceLimitsSchema.shape),
  breaches: z.record(z.string(), z.number()).describe('breach reason → count since the hub started'),
  coolDownUntil: isoTime.nullable().describe('disconnected for breaches until then'),
  connections: z.number(),
});

/** A rejected message and why (store/telemetry.ts `rejected`); `suppressed` counts similar ones not kept. */
export const rejectedAnswer = z.object({
  id: z.number(),
  receivedAt: isoTime,
  deviceId: z.string().nullable(),
  clientId: z.string().nullable(),
  topic: z.string(),
  code: z.string().describe('GRIDHUB_ERR_…'),
  reason: z.string(),
  payload: z.string().nullable().describe('the payload as text'),
  suppressed: z.number(),
});

/** `POST /api/clock`: the hub's time after the move. */
export const clockAnswer = z.object({ now: isoTime });

/** A server-side RPC and its state (gateway/rpc.ts `RpcRecord`). */
export const rpcAnswer = z.object({
  id: z.string(),
  deviceId: z.string(),
  requestId: z.number(),
  method: z.string(),
  params: z.unknown().describe('any JSON value'),
  oneway: z.boolean(),
  state: z.enum(['queued', 'sent', 'delivered', 'answered', 'expired', 'failed']),
  createdAt: isoTime,
  expiresAt: isoTime,
  sentAt: isoTime.nullable(),
  deliveredAt: isoTime.nullable(),
  answeredAt: isoTime.nullable(),
  response: z.unknown().describe("the device's answer, any JSON value"),
  error: z.string().nullable(),
});
export type RpcAnswer = z.infer<typeof rpcAnswer>;

/** One entry of the audit log (web/audit.ts `AuditEntry`). */
export const auditAnswer = z.object({
  id: z.string(),
  at: isoTime,
  actor: z.string(),
  role: z.string(),
  via: z.string().nullable(),
  address: z.string().nullable(),
  action: z.string(),
  method: z.string(),
  route: z.string(),
  target: z.string().nullable(),
  status: z.number(),
  outcome: z.enum(['ok', 'denied', 'failed']),
  detail: z.record(z.string(), z.unknown()),
});

/**
 * `GET /api/health`: an open shape (the hub composes it, web/context.ts types it as a record):
 * status ('ok' | 'degraded'), version, uptimeSeconds, clock, store; signed-in callers also see
 * the URLs, ingest and spool figures, connections, counts, warnings and video.
 */
export const healthAnswer = z
  .record(z.string(), z.unknown())
  .describe("status ('ok' | 'degraded'), version, uptimeSeconds, … (see the route's description)");
