/** The gateway's section of the configuration (`gateway` in the config file, `GRIDHUB_MQTT_*`). */
import { z } from 'zod';
import { flag, positiveInt } from '../kernel/index.ts';
import { partialLimitsSchema } from './limits.ts';

/** The MQTT device edge: packet sizes, connection caps, per-device limits. */
export const gatewayConfigSchema = z
  .object({
    /** Largest MQTT packet after CONNECT (advertised to MQTT 5 clients; larger: DISCONNECT 0x95 / close). */
    maxPacketBytes: positiveInt.default(2 * 1024 * 1024),
    /** Largest CONNECT packet; enforced from its declared length, before the body is read. */
    connectMaxBytes: positiveInt.default(8 * 1024),
    /** A connection that has not sent a complete CONNECT by then is closed. */
    connectTimeoutMs: positiveInt.default(10_000),
    /** Open MQTT connections in total, and from one source address (0 = no cap). */
    maxConnections: z.coerce.number().int().nonnegative().default(50_000),
    maxConnectionsPerAddress: z.coerce.number().int().nonnegative().default(2_000),
    /** New connections per second from one source address, as a token bucket (0 = no limit). */
    connectRatePerAddress: z.coerce.number().nonnegative().default(100),
    connectBurstPerAddress: z.coerce.number().nonnegative().default(1_000),
    /** Keep alive is bounded: 0 or more is replaced by this (MQTT 5: Server Keep Alive). */
    keepaliveMaxSeconds: z.coerce.number().int().min(1).max(65_535).default(600),
    /** Inbound MQTT 5 topic aliases per connection (advertised in CONNACK). */
    topicAliasMaximum: z.coerce.number().int().min(0).max(65_535).default(16),
    /** Persistent sessions: longest MQTT 5 session expiry, and how many may wait at once. */
    sessionExpiryMaxSeconds: z.coerce
      .number()
      .int()
      .nonnegative()
      .default(7 * 86_400),
    pendingSessionsLimit: z.coerce.number().int().nonnegative().default(100_000),
    /** Plain MQTT (TCP) off, e.g. when TLS is on and only MQTTS may be used. */
    plainMqtt: flag.default(true),
    /** Over MQTTS, a device may authenticate with a client certificate whose SHA-256 fingerprint is its
     * `x509Fingerprint` server attribute (as ThingsBoard's X.509 device credentials). */
    x509DeviceAuth: flag.default(true),
    /** Per-device limits: defaults, gateways, per profile; a device's `limits` server attribute wins. */
    limits: partialLimitsSchema.default({}),
    gatewayLimits: partialLimitsSchema.default({}),
    profileLimits: z.record(z.string(), partialLimitsSchema).default({}),
  })
  .prefault({});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
