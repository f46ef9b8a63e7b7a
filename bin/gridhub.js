#!/usr/bin/env node
// Entry for `npx gridhub …` and the npm scripts. A fresh clone needs no build step: the TypeScript is
// bundled on first start and cached (./run-ts.mjs), or run through tsx where that cannot be written.
import { importTs } from './run-ts.mjs';

await importTs(new URL('../cli/main.ts', import.meta.url).pathname);
