// The hub's node options (issue 13: a young generation large enough for messages that wait for
// their batch's commit) are the same wherever the hub is started: npm start, npm run demo, the
// container image, and the benchmark, which reads them from npm start.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HUB_NODE_OPTIONS } from '../bench/proc.ts';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  scripts: Record<string, string>;
};
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

describe('hub node options', () => {
  it('npm start sets the young generation size, and the benchmark runs the hub with it', () => {
    expect(pkg.scripts.start).toMatch(/^node --max-semi-space-size=\d+ bin\/gridhub\.js start$/);
    expect(HUB_NODE_OPTIONS).toEqual([/--max-semi-space-size=\d+/.exec(pkg.scripts.start)![0]]);
  });

  it('npm run demo and the image use the same options as npm start', () => {
    const options = HUB_NODE_OPTIONS.join(' ');
    expect(pkg.scripts.demo).toBe(`node ${options} bin/gridhub.js demo`);
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(cmd && JSON.parse(cmd)).toEqual(['node', ...HUB_NODE_OPTIONS, 'bin/gridhub.js', 'start']);
  });
});
