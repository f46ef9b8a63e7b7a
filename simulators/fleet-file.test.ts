import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../test/support/temp.ts';
import {
  FleetFileError,
  fleetFileDevices,
  loadFleetFile,
  parseFleetFile,
  parseJsonLocated,
} from './fleet-file.ts';

const here = { lng: 120.165, lat: 30.255 };

/** The issues of an invalid text, as `LINE path: message` strings. */
function problems(text: string): string[] {
  try {
    parseFleetFile(text, 'f.json');
  } catch (err) {
    expect(err).toBeInstanceOf(FleetFileError);
    expect((err as Error).stack).not.toMatch(/\n\s+at /);
    return (err as FleetFileError).issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
  }
  throw new Error('the file was accepted');
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** Temp folders of a test, removed after it. */
const tempDir = tempDirs();

describe('parseFleetFile', () => {
  it('accepts devices, gateways and their children', () => {
    const file = parseFleetFile(
      json({
        devices: [
          { id: 'cam-1', profile: 'camera', location: here, scene: 'street' },
          { id: 'gw-1', profile: 'gateway', location: here },
          { id: 'gw-1-dust', profile: 'air-quality', gateway: 'gw-1', everyMs: 10_000 },
          { id: 'gw-1-cam', profile: 'camera', gateway: 'gw-1', location: { lng: 120.17, lat: 30.26 } },
          { id: 'bin-9', name: '桶', profile: 'waste-container', location: here, everyMs: 60_000 },
        ],
      }),
    );
    expect(file.devices).toHaveLength(5);
    const specs = fleetFileDevices(file);
    expect(specs.map((s) => s.id)).toEqual(['cam-1', 'gw-1', 'bin-9']);
    expect(specs[0]).toEqual({
      id: 'cam-1',
      name: 'cam-1',
      profile: 'camera',
      location: here,
      scene: 'street',
    });
    expect(specs[1]).toMatchObject({ id: 'gw-1', profile: 'generic', gateway: true, location: here });
    expect(specs[1]!.children).toEqual([
      { id: 'gw-1-dust', profile: 'air-quality', everyMs: 10_000 },
      { id: 'gw-1-cam', profile: 'camera', location: { lng: 120.17, lat: 30.26 } },
    ]);
    expect(specs[2]).toMatchObject({ name: '桶', everyMs: 60_000 });
  });

  it('names the line and the field of a wrong value', () => {
    const text = `{
  "devices": [
    { "id": "a", "profile": "camera", "location": { "lng": 120.1, "lat": 30.2 } },
    { "id": "b", "profile": "camera",
      "location": { "lng": 120.1, "lat": "30.2" } }
  ]
}`;
    expect(problems(text)).toEqual(['5 devices[1].location.lat: expected a number, got "30.2"']);
  });

  it('names every problem at once, with the line of the device when a field is missing', () => {
    const text = json({
      devices: [
        { id: 'a', profile: 'bin', location: here },
        { id: 'b', profile: 'camera' },
        { id: 'c', profile: 'noise-level', location: { lng: 200, lat: 30 }, everyMs: 5 },
        { id: 'bad id', profile: 'camera', location: here, colour: 'red' },
        { id: 'a', profile: 'camera', location: here, scene: 'beach' },
      ],
    });
    const p = problems(text);
    expect(p).toContain(
      '5 devices[0].profile: expected one of waste-container, air-quality, noise-level, tower-crane, camera, gateway, got "bin"',
    );
    expect(p).toContain('11 devices[1].location: required (only the children of a gateway may leave it out)');
    expect(p).toContain('19 devices[2].location.lng: lng must be from -180 to 180, got 200');
    expect(p).toContain('22 devices[2].everyMs: at least 100 ms, got 5');
    expect(p.find((x) => x.startsWith('25 devices[3].id:'))).toMatch(/"bad id" is not a device id/);
    expect(p).toContain('24 devices[3]: unknown field "colour"');
    expect(p).toContain('34 devices[4].id: a is already the id of devices[0]');
    expect(p).toContain('40 devices[4].scene: expected street or site, got "beach"');
  });

  it('checks the gateways children name', () => {
    const p = problems(
      json({
        devices: [
          { id: 'gw', profile: 'gateway', location: here, everyMs: 1000 },
          { id: 'x', profile: 'camera', location: here },
          { id: 'c1', profile: 'air-quality', gateway: 'nope' },
          { id: 'c2', profile: 'air-quality', gateway: 'x' },
          { id: 'gw2', profile: 'gateway', location: here, gateway: 'gw' },
          { id: 'c3', profile: 'air-quality', gateway: 'gw', scene: 'site' },
        ],
      }),
    ).map((x) => x.replace(/^\d+ /, ''));
    expect(p).toEqual([
      'devices[0].everyMs: a gateway publishes when its children do: set everyMs on them',
      'devices[2].gateway: no device "nope" in this file',
      'devices[3].gateway: x is not a gateway (devices[1] has profile "camera"; a gateway has profile gateway)',
      'devices[4].gateway: a gateway cannot report through another gateway',
      'devices[5].scene: only for cameras (this is air-quality)',
    ]);
  });

  it('says what the top level should be', () => {
    expect(problems('[]')).toEqual(['1 : expected {"devices": [...]}, got a list']);
    expect(problems('{"devices": []}')).toEqual(['1 devices: the list is empty: name at least one device']);
    expect(problems('{"devices": {}}')).toEqual(['1 devices: expected a list of devices, got an object']);
    expect(problems('{"device": []}')).toEqual(['1 devices: required', '1 : unknown field "device"']);
  });

  it('names the line of a JSON syntax error', () => {
    expect(problems('{\n  "devices": [\n    { "id": "a", }\n  ]\n}')).toEqual([
      `3 : invalid JSON: expected a key in double quotes, found "}"`,
    ]);
    expect(problems('{\n  "devices": [\n')).toEqual([
      '3 : invalid JSON: expected a value, found the end of the file',
    ]);
    expect(problems('{"devices": [1] } x')).toEqual([
      '1 : invalid JSON: expected the end of the file, found "x"',
    ]);
    expect(problems('{"a": "b\nc"}')[0]).toMatch(/^1 : invalid JSON: a control character in a string/);
  });

  it('formats the message as FILE:LINE: path: message', () => {
    try {
      parseFleetFile('{"devices": [{"id": "a", "profile": "camera"}]}', 'my/fleet.json');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe(
        'my/fleet.json:1: devices[0].location: required (only the children of a gateway may leave it out)',
      );
    }
  });

  it('reads a file, and says so when there is none', () => {
    const dir = tempDir('fleet-file-');
    const path = join(dir, 'fleet.json');
    writeFileSync(path, json({ devices: [{ id: 'a', profile: 'camera', location: here }] }));
    expect(loadFleetFile(path).devices).toHaveLength(1);
    expect(() => loadFleetFile(join(dir, 'none.json'))).toThrow(/none\.json: no such file/);
  });
});

describe('parseJsonLocated', () => {
  it('parses what JSON.parse parses and remembers where each value starts', () => {
    const text = '{"a": [1, {"b": "x\\u00e9\\n"}], "c": -1.5e3, "d": null, "e": true}';
    const r = parseJsonLocated(text);
    expect(r.value).toEqual(JSON.parse(text));
    expect(r.offsets.get('a[1].b')).toBe(text.indexOf('"x'));
    expect(r.offsets.get('c')).toBe(text.indexOf('-1.5e3'));
  });
});
