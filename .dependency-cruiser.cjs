// The structure rules `npm run check` enforces (issue 10). Parts of the flow are the top-level
// folders below; each is reached from outside only through its `index.ts` (and, for the kernel and
// the browser-safe domain words, through `portable.ts`/`index.ts` free of Node-only imports).
const PARTS = '(cases|cli|domain|gateway|hub|ingest|kernel|registry|rules|simulators|store|video|web)';
const PRODUCTION = { pathNot: ['\\.test\\.tsx?$', '^test/', '^bench/'] };

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Import circles make start order and ownership unclear; break them with an interface or a move.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'through-index',
      severity: 'error',
      comment: 'A part is reached from another folder only through its index.ts (its public surface).',
      from: { path: `^${PARTS}/`, ...PRODUCTION },
      to: {
        path: `^${PARTS}/`,
        pathNot: ['^$1/', `^${PARTS}/index\\.ts$`, '^kernel/portable\\.ts$', '^domain/index\\.ts$'],
      },
    },
    {
      name: 'kernel-imports-no-part',
      severity: 'error',
      comment: 'The kernel is what every part may use; it may not use any of them.',
      from: { path: '^kernel/' },
      to: { path: `^${PARTS}/`, pathNot: '^kernel/' },
    },
    {
      name: 'parts-do-not-import-the-root',
      severity: 'error',
      comment: 'hub/ composes the parts and cli/ runs it; no part depends on either.',
      from: { path: `^${PARTS}/`, pathNot: ['^hub/', '^cli/', '\\.test\\.tsx?$'] },
      to: { path: '^(hub|cli)/' },
    },
    {
      name: 'tests-use-the-simulators-surface',
      severity: 'error',
      comment:
        "Tests and benchmarks drive the hub through the simulators' public surface (issue 10): one API client, one device library.",
      from: { path: '^(test|bench)/' },
      to: { path: '^simulators/', pathNot: '^simulators/index\\.ts$' },
    },
    {
      name: 'production-does-not-import-tests',
      severity: 'error',
      from: { path: `^${PARTS}/`, ...PRODUCTION },
      to: { path: ['^test/', '^bench/', '\\.test\\.tsx?$', 'vitest'] },
    },
    {
      name: 'domain-is-portable',
      severity: 'error',
      comment:
        'domain/ is what the browser and every part share: zod and the portable kernel only (no node:*, pino or part).',
      from: { path: '^domain/', pathNot: '\\.test\\.tsx?$' },
      to: {
        pathNot: [
          '^domain/',
          '^kernel/portable\\.ts$',
          '^kernel/(clock|time)\\.ts$',
          '(^|/)node_modules/zod/',
        ],
      },
    },
    {
      name: 'browser-bundle-is-portable',
      severity: 'error',
      comment:
        'The dashboard bundles only browser-safe modules: its own code, domain words and the portable kernel.',
      from: { path: '^web/ui/src/' },
      to: {
        path: `^${PARTS}/`,
        pathNot: ['^web/ui/', '^domain/', '^kernel/portable\\.ts$', '^kernel/(clock|time)\\.ts$'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^node_modules', '^web/ui/dist', '^test-artifacts'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
