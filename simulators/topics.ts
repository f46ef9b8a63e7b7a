export const TELEMETRY_TOPIC = 'v1/devices/me/telemetry';
export const GATEWAY_CONNECT_TOPIC = 'v1/gateway/connect';
export const GATEWAY_DISCONNECT_TOPIC = 'v1/gateway/disconnect';
export const GATEWAY_TELEMETRY_TOPIC = 'v1/gateway/telemetry';
