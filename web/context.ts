/**
 * What a route plugin is given: the hub's parts and settings (`WebDeps`), the typed Fastify
 * instance (`App`, zod type provider) and what the server decorates requests and the instance with.
 * server.ts builds the app and registers the routes; the routes import this module instead of
 * server.ts, so no route and the server import each other (issue 10: no import circles).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Gateway } from '../gateway/index.ts';
import type { Ingest } from '../ingest/index.ts';
import type { Clock, Logger, Metrics } from '../kernel/index.ts';
import type { People, Registry } from '../registry/index.ts';
import type { TelemetryReader } from '../store/index.ts';
import type { Scope } from './access.ts';
import type { Principal } from './auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** What the principal may see (unit and inspector are scoped), computed once per request. */
    scope(): Promise<Scope>;
  }
  interface FastifyInstance {
    audit: import('./audit.ts').Audit;
    routeTable: { method: string; url: string; access: unknown; audit?: string }[];
  }
}

export interface SecurityOptions {
  trustProxy: boolean | string;
  corsOrigins: string[];
  metricsToken?: string;
  auditRetentionDays: number;
  maxEventClients: number;
}

export interface WebDeps {
  registry: Registry;
  people: People;
  cases: import('../cases/index.ts').CaseService;
  rules: import('../rules/index.ts').Engine;
  catalogue: import('../cases/index.ts').Catalogue;
  events: import('../kernel/index.ts').EventBus;
  reader: TelemetryReader;
  ingest: Ingest;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  /** The static admin token; null when turned off (GRIDHUB_ADMIN_TOKEN=off). */
  adminToken: string | null;
  db: import('../store/index.ts').Db;
  security?: Partial<SecurityOptions>;
  /** HTTPS when a certificate is configured. */
  tls?: { cert: Buffer; key: Buffer };
  timezone: string;
  version: string;
  health: () => Record<string, unknown>;
  /** Cameras: live view and stream state (video/). */
  video?: import('../video/index.ts').Video;
  /** Publishes to one device on its own topic (hub → device). */
  sendToDevice: (deviceId: string, topic: string, payload: unknown) => Promise<void>;
  /** Each upgraded /mqtt WebSocket becomes an MQTT connection. */
  mqttStream: (stream: import('node:stream').Duplex, remoteAddress?: string) => void;
  /** Data folder: evidence photos are kept under <dataDir>/media. */
  dataDir?: string;
  /** Largest accepted photo upload in bytes (default 5 MiB). */
  mediaMaxBytes?: number;
  /** Dashboard settings: an optional basemap (web/config.ts). */
  dashboard?: import('./config.ts').DashboardConfig;
  /** The dashboard bundle to serve at `/` (default web/ui/dist). */
  uiDir?: string;
  /** A device's limits and breach counts at the MQTT edge (gateway/), undefined for an unknown device. */
  deviceLimits?: Gateway['limitsOf'];
  /** Server-side RPC with expiry and state (gateway/rpc.ts). */
  rpc?: {
    send(
      deviceId: string,
      req: { method: string; params?: unknown; expirationTime?: number; timeout?: number; oneway?: boolean },
    ): object;
    get(deviceId: string, id: string): object | undefined;
    list(deviceId: string): object[];
  };
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  ZodTypeProvider
>;
