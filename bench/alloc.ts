// Summarises sampling heap profiles (from BENCH_HUB_ALLOC_PROF=dir npm run bench -- ingest):
//   npx tsx bench/alloc.ts /tmp/alloc/pg-*.heapprofile [more…]
// Prints the bytes allocated in all (freed objects included) and the share of each function, with
// the functions that called it: what makes the young-generation collections of the hub run.

import { readFileSync } from 'node:fs';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

function nameOf(n: Node): string {
  const f = n.callFrame;
  const url = f.url.replace(/.*node_modules\//, '').replace(/^.*\/(\w+\/[^/]+)$/, '$1');
  return `${f.functionName || '(anonymous)'} ${url}${f.lineNumber >= 0 ? `:${f.lineNumber + 1}` : ''}`;
}

function summarise(file: string, top = 30): void {
  const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: Node }).head;
  const self = new Map<string, number>();
  const stacks = new Map<string, number>();
  let total = 0;
  const walk = (n: Node, callers: string[]) => {
    const name = nameOf(n);
    const chain = [name, ...callers].slice(0, 3);
    if (n.selfSize) {
      total += n.selfSize;
      self.set(name, (self.get(name) ?? 0) + n.selfSize);
      const k = chain.join(' < ');
      stacks.set(k, (stacks.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, chain);
  };
  walk(head, []);
  const pct = (b: number) => `${((100 * b) / total).toFixed(1).padStart(5)} %`;
  console.log(`== ${file}: ${(total / 1e6).toFixed(0)} MB allocated (sampled)`);
  console.log('-- by function');
  for (const [k, b] of [...self].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(b)}  ${k}`);
  console.log('-- by function and its callers');
  for (const [k, b] of [...stacks].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(b)}  ${k}`);
}

for (const f of process.argv.slice(2)) summarise(f);
