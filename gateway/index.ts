export { createGateway, type Gateway, type GatewayOptions } from './broker.ts';
export { type GatewayConfig, gatewayConfigSchema } from './config.ts';
export { type DeviceLimits, deviceLimitsSchema } from './limits.ts';
export { type GatewayState, memoryGatewayState } from './state.ts';
export { deviceTopicFor, outboundTopic, routePublish, routeSubscribe } from './topics.ts';
