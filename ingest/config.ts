/** The ingest pipeline's section of the configuration (`ingest`, `GRIDHUB_INGEST_*`). */
import { z } from 'zod';
import { duration, positiveInt } from '../kernel/index.ts';

export const ingestConfigSchema = z
  .object({
    /** Readings per database write. */
    batchSize: positiveInt.default(5000),
    /** A partial batch is written after this long. */
    flushIntervalMs: positiveInt.default(100),
    /**
     * Embedded store: most rows one transaction holds its single connection for (issue 13). 500:
     * ~15 ms a part on the 2-core box, API p99 during full ingest 74–84 ms against 86–106 at 1,000.
     */
    embeddedTransactionRows: positiveInt.default(500),
    /** Readings held in memory before the broker is pushed back (no more reads from sockets). */
    maxBuffered: positiveInt.default(100_000),
    /** Larger MQTT payloads are rejected whole, with the size as the reason. */
    maxPayloadBytes: positiveInt.default(64 * 1024),
    /** How much of a rejected payload is kept for the operator to see. */
    rejectedPayloadBytes: positiveInt.default(1024),
    /** `durable`: a QoS 1/2 PUBACK is sent only once the reading is committed. */
    ackMode: z.enum(['durable', 'received']).default('durable'),
    /**
     * Most milliseconds of device work (taking messages in, releasing acknowledgements) per turn
     * of the event loop; the API, database answers and timers are served in between (0: no limit).
     */
    sliceMs: z.coerce.number().min(0).max(1000).default(2),
    /**
     * Group commit under concurrent load: when the last write held several devices' messages and
     * few readings wait, the next write waits up to this long for more (0: never waits). A lone
     * device's message is written at once.
     */
    gatherMs: z.coerce.number().min(0).max(100).default(2),
    /** Readings further ahead of the hub's clock are rejected (contract: default 10 minutes). */
    maxClockSkew: duration.default(10 * 60_000),
    /** Write-ahead spool quota in MiB (0 = no spool): QoS 1 is acknowledged once spooled while the store is down. */
    spoolMaxMb: z.coerce.number().int().min(0).default(256),
    /** Rejected messages kept per device and reason per minute; the rest are counted only. */
    rejectedSamplePerMinute: positiveInt.default(20),
  })
  .prefault({});

export type IngestConfig = z.infer<typeof ingestConfigSchema>;
