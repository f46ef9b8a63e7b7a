/**
 * Per-device limits at the device edge, as pure data and functions: the token buckets that pace
 * each device, the limits a device gets (defaults ← gateway defaults ← profile ← the device's own
 * `limits` server attribute), and the answer to ThingsBoard's `getSessionLimits` RPC.
 */
import { z } from 'zod';

/** One device's limits. Every number has its edge tested in test/gateway-limits.e2e.test.ts. */
export const deviceLimitsSchema = z
  .object({
    /** Sustained PUBLISHes per second (token bucket); the bucket holds `burstSeconds` of it. */
    messagesPerSecond: z.number().positive(),
    /** Sustained payload bytes per second (token bucket). */
    bytesPerSecond: z.number().positive(),
    /** Seconds of the sustained rate a bucket holds, so short bursts pass. */
    burstSeconds: z.number().positive(),
    /** Breaches within `breachWindowSeconds` that disconnect the device for `coolDownSeconds`. */
    breachThreshold: z.number().int().positive(),
    breachWindowSeconds: z.number().positive(),
    coolDownSeconds: z.number().nonnegative(),
    /** Subscriptions one connection may hold. */
    maxSubscriptions: z.number().int().positive(),
    /** QoS 1/2 PUBLISHes received and not yet acknowledged, per connection (MQTT 5 Receive Maximum). */
    maxInflight: z.number().int().min(1).max(65_535),
    /** One client-attributes message: bytes and keys; and keys a device may hold in total. */
    maxAttributeBytes: z.number().int().positive(),
    maxAttributeKeys: z.number().int().positive(),
    /** Distinct telemetry keys a device may create (matters for the open `generic` profile). */
    maxKeysPerDevice: z.number().int().positive(),
    /** Children a gateway may announce. */
    maxChildren: z.number().int().nonnegative(),
  })
  .strict();
export type DeviceLimits = z.infer<typeof deviceLimitsSchema>;
export const partialLimitsSchema = deviceLimitsSchema.partial();
export type PartialLimits = z.infer<typeof partialLimitsSchema>;

export const DEFAULT_DEVICE_LIMITS: DeviceLimits = {
  messagesPerSecond: 50,
  bytesPerSecond: 256 * 1024,
  burstSeconds: 4,
  breachThreshold: 100,
  breachWindowSeconds: 10,
  coolDownSeconds: 60,
  maxSubscriptions: 32,
  maxInflight: 100,
  maxAttributeBytes: 16 * 1024,
  maxAttributeKeys: 200,
  maxKeysPerDevice: 500,
  maxChildren: 0,
};
/** A gateway speaks for many devices: more of everything by default. */
export const DEFAULT_GATEWAY_LIMITS: PartialLimits = {
  messagesPerSecond: 2000,
  bytesPerSecond: 8 * 1024 * 1024,
  maxInflight: 1000,
  maxChildren: 1000,
};

/**
 * The limits of one device: defaults, then the gateway defaults for a gateway, then its profile's,
 * then its own `limits` server attribute (set by an admin through the API). A malformed attribute
 * is ignored key by key, so a typo never lifts every limit.
 */
export function resolveLimits(
  device: { profile: string; gateway: boolean; serverAttributes: Record<string, unknown> },
  config: { defaults: DeviceLimits; gateway: PartialLimits; profiles: Record<string, PartialLimits> },
): DeviceLimits {
  const own: PartialLimits = {};
  const attr = device.serverAttributes.limits;
  if (attr && typeof attr === 'object' && !Array.isArray(attr)) {
    const shape = deviceLimitsSchema.shape;
    for (const [k, v] of Object.entries(attr)) {
      const field = shape[k as keyof typeof shape];
      if (field?.safeParse(v).success) (own as Record<string, unknown>)[k] = v;
    }
  }
  return {
    ...config.defaults,
    ...(device.gateway ? config.gateway : {}),
    ...config.profiles[device.profile],
    ...own,
  };
}

/** A token bucket: `rate` tokens a second, holding at most `capacity`. Time is passed in (ms). */
export class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(
    private rate: number,
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }
  /** Takes `n` tokens when there are enough; a request larger than the bucket takes a full one. */
  take(n: number, now: number): boolean {
    this.refill(now);
    const need = Math.min(n, this.capacity);
    if (this.tokens < need) return false;
    this.tokens -= need;
    return true;
  }
  /**
   * Takes `n` tokens even when there are not enough, going into debt (at most one bucket's worth);
   * returns how long, in ms, until the debt is paid: the caller waits that long.
   */
  debit(n: number, now: number): number {
    this.refill(now);
    this.tokens = Math.max(-this.capacity, this.tokens - Math.min(n, this.capacity));
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
  retune(rate: number, capacity: number) {
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }
  private refill(now: number) {
    const dt = Math.max(0, now - this.at) / 1000;
    this.at = now;
    this.tokens = Math.min(this.capacity, this.tokens + dt * this.rate);
  }
}

/** Counts breaches in a sliding window; says when the threshold is crossed. */
export class BreachWindow {
  private times: number[] = [];
  hit(now: number, windowMs: number, threshold: number): boolean {
    this.times.push(now);
    while (this.times.length && this.times[0]! <= now - windowMs) this.times.shift();
    if (this.times.length > threshold) this.times.length = threshold; // bounded
    return this.times.length >= threshold;
  }
  reset() {
    this.times = [];
  }
}

/**
 * ThingsBoard's answer to `getSessionLimits` (the SDKs throttle themselves to it). Rate limits are
 * `N:SECONDS` pairs; we state the sustained rate over one second and the burst over its window.
 */
export function sessionLimitsAnswer(limits: DeviceLimits, maxPayloadBytes: number, gateway: boolean) {
  const perSecond = Math.max(1, Math.floor(limits.messagesPerSecond));
  const burst = Math.max(perSecond, Math.floor(limits.messagesPerSecond * limits.burstSeconds));
  const window = Math.max(1, Math.round(limits.burstSeconds));
  const messages = `${perSecond}:1,${burst}:${window}`;
  const rateLimits = {
    messages,
    telemetryMessages: messages,
    // Readings per message are not limited separately; the byte rate bounds them.
    telemetryDataPoints: `${perSecond * 100}:1`,
  };
  return {
    maxPayloadSize: maxPayloadBytes,
    maxInflightMessages: limits.maxInflight,
    rateLimits,
    ...(gateway ? { gatewayRateLimits: rateLimits } : {}),
  };
}
