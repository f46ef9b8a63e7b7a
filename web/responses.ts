/**
 * Response schemas of the routes whose answers only the API documents (the dashboard's shared
 * shapes are in domain/views.ts). The zod serializer (fastify-type-provider-zod `serializerCompiler`)
 * encodes every 2xx JSON answer through its schema: a field the schema lacks is stripped by
 * `z.object` and kept by `z.looseObject`, and an answer that does not match is a 500
 * (ResponseSerializationError, logged as "request failed"). So each schema here is either exact
 * (every field of the type the handler returns) or loose where the shape is open, and says which.
 * Buffers, streams and strings sent with a non-JSON content type never reach the serializer: their
 * schemas only document the answer.
 */
import { z } from 'zod';
import { kpiReportSchema, pageSchema } from '../domain/index.ts';
import { ruleSchema } from '../rules/index.ts';

const isoTime = z.string().describe('ISO 8601 time');

/** An object answer whose fields are described in the route's description (an open shape). */
export const objectAnswer = (description: string) => z.looseObject({}).describe(description);
/** A list page of objects (an open shape). */
export const pageAnswer = (description: string) => pageSchema(objectAnswer(description));
/** DELETE and sign-out: 204 without a body (the handler sends nothing, so nothing is serialized). */
export const noContent = z.undefined().describe('No content');
/** A text body sent with its own content type (the Prometheus text, an event stream). */
export const rawAnswer = (description: string) => z.string().describe(description);
/** A binary body (a photo): a Buffer, which fastify sends as it is. */
export const binaryAnswer = (description: string) =>
  z.custom<Buffer>((v) => Buffer.isBuffer(v)).meta({ type: 'string', format: 'binary', description });

/** Device attributes: attribute name → any JSON value (an open shape by design, ThingsBoard-style). */
const attributes = z.record(z.string(), z.unknown()).describe('attribute name → any JSON value');

/** A device as the API shows it (web/routes/devices.ts `view`: registry `Device` plus its presence). */
export const deviceAnswer = z.looseObject({
  id: z.string(),
  name: z.string().nullable(),
  profile: z.string(),
  location: z.object({ lng: z.number(), lat: z.number() }).nullable(),
  gridCode: z.string().nullable(),
  gridOverride: z.boolean(),
  gateway: z.boolean(),
  parentId: z.string().nullable(),
  hasToken: z.boolean(),
  /** String values that may carry credentials (a camera's stream URL) are redacted. */
  serverAttributes: attributes,
  sharedAttributes: attributes,
  clientAttributes: attributes,
  createdAt: isoTime,
  status: z.enum(['online', 'offline']),
  lastSeen: isoTime.nullable(),
  outsideGrids: z.boolean(),
});

/** `GET /api/devices/:id`: the device and its latest value per key (a number or any JSON value). */
export const deviceDetailAnswer = deviceAnswer.extend({
  latest: z.record(z.string(), z.object({ ts: isoTime, value: z.unknown() })),
});

/** A device event (a camera detection…; store/telemetry.ts `events`); `data` is the event's JSON. */
export const deviceEventAnswer = z.object({
  ts: isoTime,
  type: z.string(),
  confidence: z.number().nullable(),
  snapshot: z.string().nullable(),
  data: z.unknown().describe('any JSON value'),
});

/** One point of a series (store/telemetry.ts `Point`). */
export const pointAnswer = z.object({ ts: isoTime, value: z.number() });
export const seriesAnswer = z.looseObject({ points: z.array(pointAnswer) });

/** `GET /api/kpis`: the report, its period as ISO 8601 times. */
export const kpiAnswer = kpiReportSchema.extend({ from: isoTime, to: isoTime });

/**
 * A rule as the engine shows it: the stored rule (rules/schema.ts `ruleSchema`'s fields; durations
 * stay strings, so it round-trips unchanged) plus its version, whether it is built in, and why it is
 * disabled. Built from the shape, without the profile check a saved rule already passed.
 */
export const ruleAnswer = z.object({
  ...ruleSchema.shape,
  version: z.number(),
  builtin: z.boolean(),
  disabledReason: z.string().nullable(),
});

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

/**
 * `GET /api/devices/:id/presence`: online and offline periods over a window (store/presence.ts
 * `PresencePeriod`), the status now, and whether the window held more changes than the limit.
 */
export const presenceAnswer = z.looseObject({
  from: isoTime,
  to: isoTime,
  status: z.enum(['online', 'offline']),
  truncated: z.boolean(),
  items: z.array(z.object({ from: isoTime, to: isoTime, online: z.boolean() })),
});

/** A camera with its live view state (video/service.ts `describe`). */
export const cameraAnswer = z.looseObject({
  id: z.string(),
  name: z.string().nullable(),
  gridCode: z.string().nullable(),
  location: z.object({ lng: z.number(), lat: z.number() }).nullable(),
  status: z.enum(['online', 'offline']),
  /** The RTSP URL with any credentials redacted. */
  streamUrl: z.string().nullable(),
  streamUrlProblem: z.string().nullable(),
  liveUrl: z.string(),
  stream: z.looseObject({
    state: z.enum(['idle', 'starting', 'live', 'retrying', 'failed']),
    since: isoTime.nullable(),
    lastError: z.string().nullable(),
    viewers: z.number(),
    attempts: z.number(),
    size: z.object({ width: z.number(), height: z.number() }).nullable(),
  }),
});

/**
 * A node of the grid tree (district → street → community → grid; registry `gridTree`). Every node
 * has all four fields; level, name and children are optional here only because the route's pruning
 * (web/routes/grids.ts) types nodes by their code and children alone.
 */
export interface GridNode {
  code: string;
  level?: string;
  name?: string | null;
  children?: GridNode[];
  [k: string]: unknown;
}
export const gridNodeAnswer: z.ZodType<GridNode> = z.looseObject({
  code: z.string(),
  level: z.string().optional(),
  name: z.string().nullable().optional(),
  get children() {
    return z.array(gridNodeAnswer).optional();
  },
});

/**
 * The working calendar as stored (domain/calendar.ts `Calendar`). Not `calendarSchema` itself: it
 * sorts workdays with a transform, and the serializer *encodes* answers, which a one-way transform
 * refuses (a 500 on every read).
 */
export const calendarAnswer = z.object({
  timezone: z.string().describe('IANA time zone'),
  hours: z.array(z.object({ start: z.string(), end: z.string() })).describe('working hours, HH:MM'),
  workdays: z.array(z.number()).describe('ISO weekdays, 1 = Monday'),
  holidays: z.array(z.string()).describe('YYYY-MM-DD'),
  extraWorkdays: z.array(z.string()).describe('YYYY-MM-DD'),
});

/** `POST /api/rules/:id/backtest`: what the rule would have raised (rules/backtest.ts `BacktestResult`). */
export const backtestAnswer = z.object({
  ruleId: z.string(),
  from: isoTime,
  to: isoTime,
  devices: z.number(),
  cases: z.array(
    z.object({
      deviceId: z.string(),
      gridCode: z.string().nullable(),
      openedAt: isoTime,
      closedAt: isoTime.nullable(),
      occurrences: z.number(),
      explanation: z.string(),
    }),
  ),
});
