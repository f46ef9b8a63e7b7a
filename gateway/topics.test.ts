import { describe, expect, it } from 'vitest';
import { deviceTopicFor, outboundTopic, routePublish, routeSubscribe } from './topics.ts';

describe('topic ACL', () => {
  it('routes the device API topics', () => {
    expect(routePublish('v1/devices/me/telemetry', false)).toEqual({ kind: 'telemetry' });
    expect(routePublish('v1/devices/me/attributes', false)).toEqual({ kind: 'attributes' });
    expect(routePublish('v1/devices/me/attributes/request/7', false)).toEqual({
      kind: 'attributes_request',
      requestId: '7',
    });
    expect(routePublish('v1/devices/me/rpc/response/3', false)).toEqual({
      kind: 'rpc_response',
      requestId: '3',
    });
  });
  it('refuses other topics and gateway topics for plain devices', () => {
    expect(routePublish('v1/devices/other/telemetry', false)).toHaveProperty('refused');
    expect(routePublish('v1/gateway/telemetry', false)).toEqual({
      refused: 'only gateway devices may publish to v1/gateway/telemetry',
    });
    expect(routePublish('v1/gateway/telemetry', true)).toEqual({ kind: 'gateway_telemetry' });
    expect(routePublish('v1/gateway/connect', true)).toEqual({ kind: 'gateway_connect' });
    expect(routePublish('v1/gateway/whatever', true)).toHaveProperty('refused');
    expect(routePublish('$SYS/x', true)).toHaveProperty('refused');
  });
  it('grants the SDK subscriptions per device and refuses wildcards', () => {
    expect(routeSubscribe('v1/devices/me/attributes', 'bin-1', false)).toEqual({
      internal: '$gridhub/out/bin-1/me/attributes',
    });
    expect(routeSubscribe('v1/devices/me/rpc/request/+', 'bin-1', false)).toEqual({
      internal: '$gridhub/out/bin-1/me/rpc/request/+',
    });
    expect(routeSubscribe('#', 'bin-1', false)).toHaveProperty('refused');
    expect(routeSubscribe('v1/devices/+/attributes', 'bin-1', false)).toHaveProperty('refused');
    expect(routeSubscribe('v1/devices/me/#', 'bin-1', false)).toHaveProperty('refused');
    expect(routeSubscribe('v1/gateway/rpc', 'bin-1', false)).toHaveProperty('refused');
    expect(routeSubscribe('v1/gateway/rpc', 'gw-1', true)).toEqual({ internal: '$gridhub/out/gw-1/gw/rpc' });
  });
  it('maps hub messages back to the device view, and only for that device', () => {
    const internal = outboundTopic('a/b+c', 'v1/devices/me/attributes');
    expect(internal).toBe('$gridhub/out/a%2Fb%2Bc/me/attributes');
    expect(deviceTopicFor(internal, 'a/b+c')).toBe('v1/devices/me/attributes');
    expect(deviceTopicFor(internal, 'a')).toBeUndefined();
  });
});
