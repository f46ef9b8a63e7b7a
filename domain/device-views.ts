/**
 * What the API answers about devices and cameras, for the dashboard and the OpenAPI document (the
 * same schemas type the dashboard's fetches through `z.infer`). The serializer encodes each answer
 * through its schema and `z.object` strips a field it does not name, so each is an exact copy of
 * what the route builds (web/routes/devices.ts `view`, video/service.ts `describe`). Attribute
 * values and telemetry values are open by design: their names and values are the device's own.
 */
import { z } from 'zod';

const isoTime = /* @__PURE__ */ z.string().describe('ISO 8601 time');
/** A stored position (validated when it was written, so no range check on the way out). */
const position = /* @__PURE__ */ z.object({ lng: z.number(), lat: z.number() });
const presenceStatus = /* @__PURE__ */ z.enum(['online', 'offline']);

/** Device attributes: attribute name → any JSON value (open by design, ThingsBoard-style). */
export const attributesSchema = /* @__PURE__ */ z
  .record(z.string(), z.unknown())
  .describe('attribute name → any JSON value');

/** A device as the API shows it: the registry's device, its presence, and whether it lies outside every grid. */
export const deviceViewSchema = /* @__PURE__ */ z.object({
  id: z.string(),
  name: z.string(),
  profile: z.string(),
  location: position.nullable(),
  gridCode: z.string().nullable(),
  gridOverride: z.boolean(),
  gateway: z.boolean(),
  parentId: z.string().nullable(),
  hasToken: z.boolean(),
  /** String values that may carry credentials (a camera's stream URL) are redacted. */
  serverAttributes: attributesSchema,
  sharedAttributes: attributesSchema,
  clientAttributes: attributesSchema,
  createdAt: isoTime,
  status: presenceStatus,
  lastSeen: isoTime.nullable(),
  outsideGrids: z.boolean(),
});
export type DeviceView = z.infer<typeof deviceViewSchema>;

/** `GET /api/devices/:id`: the device and its latest value per key (a number or any JSON value). */
export const deviceDetailSchema = /* @__PURE__ */ deviceViewSchema.extend({
  latest: z.record(z.string(), z.object({ ts: isoTime, value: z.unknown().describe('any JSON value') })),
});
export type DeviceDetail = z.infer<typeof deviceDetailSchema>;

/** One point of a series (store/telemetry.ts `Point`). */
export const pointSchema = /* @__PURE__ */ z.object({ ts: isoTime, value: z.number() });
/** `GET /api/devices/:id/series`. */
export const seriesViewSchema = /* @__PURE__ */ z.object({ points: z.array(pointSchema) });
export type SeriesView = z.infer<typeof seriesViewSchema>;

/** One online or offline period (store/presence.ts `PresencePeriod`). */
export const presencePeriodSchema = /* @__PURE__ */ z.object({
  from: isoTime,
  to: isoTime,
  online: z.boolean(),
});
export type PresencePeriod = z.infer<typeof presencePeriodSchema>;

/**
 * `GET /api/devices/:id/presence`: the periods over a window, the status now, and whether the
 * window held more changes than the limit.
 */
export const presenceViewSchema = /* @__PURE__ */ z.object({
  from: isoTime,
  to: isoTime,
  status: presenceStatus,
  truncated: z.boolean(),
  items: z.array(presencePeriodSchema),
});
export type PresenceView = z.infer<typeof presenceViewSchema>;

/** The live view states of a camera stream (video/stream.ts `StreamState`). */
export const STREAM_STATES = ['idle', 'starting', 'live', 'retrying', 'failed'] as const;

/** A camera with its live view state (video/service.ts `describe`). */
export const cameraViewSchema = /* @__PURE__ */ z.object({
  id: z.string(),
  name: z.string(),
  gridCode: z.string().nullable(),
  location: position.nullable(),
  status: presenceStatus,
  /** The RTSP URL with any credentials redacted. */
  streamUrl: z.string().nullable(),
  streamUrlProblem: z.string().nullable(),
  liveUrl: z.string(),
  stream: z.object({
    state: z.enum(STREAM_STATES),
    since: isoTime.nullable(),
    lastError: z.string().nullable(),
    viewers: z.number(),
    attempts: z.number(),
    size: z.object({ width: z.number(), height: z.number() }).nullable(),
  }),
});
export type CameraView = z.infer<typeof cameraViewSchema>;
