import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard bundle (web/ui/dist), served by the hub at `/`. Preact through the automatic JSX
// runtime (no Babel preset: Vite's own transformer does it). Pages load on demand, so the first
// paint carries no chart library.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1200,
    // domain/ modules only declare (constants, pure functions, zod schemas marked @__PURE__): a page
    // that takes one word from `domain/index.ts` (e.g. the role list on the first paint) carries that
    // word, not the whole barrel, and not zod unless it uses a schema.
    rolldownOptions: {
      treeshake: {
        moduleSideEffects: [{ test: /[\\/]domain[\\/]/, sideEffects: false }],
      },
    },
  },
});
