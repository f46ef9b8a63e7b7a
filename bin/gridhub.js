#!/usr/bin/env node
// Entry for `npx gridhub …` and the npm scripts: TypeScript runs through tsx, so a fresh
// clone needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
