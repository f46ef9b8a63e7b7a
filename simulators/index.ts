/**
 * Simulators: realistic device fleets, the demo district, scripted scenarios, RTSP cameras, and
 * the MQTT device and HTTP API clients that tests and benchmarks drive the hub with — among them the
 * one MQTT load generator (`LoadGenerator` for the benchmarks, `gridhub simulate --load`), its
 * latency histogram and its air-quality payload.
 */
export {
  type ApiClient,
  type ApiClientOptions,
  createApiClient,
  errorMessage,
  type HubResponse,
  HubUnreachable,
  metricTotal,
  parseMetrics,
} from './api-client.ts';
export { simulateCameraStreams } from './cameras.ts';
export { runSimulateCommand } from './cli.ts';
export { demoDistrict } from './district.ts';
export { createFleet, type Fleet } from './fleet.ts';
export { LatencyHistogram } from './latency.ts';
export {
  type ConnectResult,
  LoadGenerator,
  type LoadGeneratorOptions,
  type LoadGeneratorSnapshot,
} from './load-generator.ts';
export { airQualityPayload, LOAD_DEFAULT_KEYS } from './load-payload.ts';
export type { LoadPace } from './load-publisher.ts';
export { type MqttSocketOptions, openMqttSocket } from './mqtt-socket.ts';
export { eachLimit } from './pacing.ts';
export { fleetDevices } from './roster.ts';
export { findGstPython, GST_INSTALL_HINT, type RtspCamera, startRtspCamera } from './rtsp-camera.ts';
export {
  formatReport,
  loadScenario,
  RunnerError,
  runScenario,
  runScenarioCommand,
  ScenarioError,
} from './scenario/index.ts';
