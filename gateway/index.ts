export { createGateway, type Gateway, type GatewayOptions } from './broker.ts';
export { deviceTopicFor, outboundTopic, routePublish, routeSubscribe } from './topics.ts';
