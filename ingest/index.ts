export { type IngestConfig, ingestConfigSchema } from './config.ts';
export { type Problem, parseGatewayTelemetry, parseJson, parseTelemetry, type RejectCode } from './parse.ts';
export {
  type AcceptedReadings,
  createIngest,
  type Done,
  type Inbound,
  type Ingest,
  type ReadingSink,
} from './pipeline.ts';
export { openSpool, type Spool } from './spool.ts';
export { cameraEventSchema, MAX_FUTURE_MS, MAX_PAST_MS, type Reading, validateRecord } from './validate.ts';
