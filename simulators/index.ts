/**
 * Simulators: realistic device fleets, the demo district, scripted scenarios, RTSP cameras, and
 * the MQTT device and HTTP API clients that tests and benchmarks drive the hub with.
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
