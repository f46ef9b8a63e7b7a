export { createGateway, type Gateway, type GatewayOptions } from './broker.ts';
export { type GatewayConfig, gatewayConfigSchema } from './config.ts';
export { deviceTopicFor, outboundTopic, routePublish, routeSubscribe } from './topics.ts';
