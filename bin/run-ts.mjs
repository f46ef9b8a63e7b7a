// Runs gridhub's TypeScript without a loader thread (issue 13, memory).
//
// tsx's ESM loader runs its hooks in a second V8 isolate on its own thread: about 48 MB of RSS for as
// long as the process lives, for code that is only needed while modules load. Here esbuild (already
// installed with tsx and vite) bundles an entry point and everything it imports from the project into
// one ES module, packages left as imports, and Node loads that: the same JavaScript tsx would have
// produced, with no hook in the way.
//
// The bundle is kept in node_modules/.cache/gridhub/ with the list of the source files it was built from
// (size and mtime of each). It is reused while none of them changed, so an edit is picked up at the next
// start exactly as with tsx; a rebuild takes well under a second. Stack traces point at the .ts files
// (source maps on). `import.meta.url` keeps meaning the source file's own URL, so the files a module
// reads beside itself (package.json, the PGlite worker, the ffmpeg launcher, the dashboard's sources)
// are found where they are.
//
// When the cache cannot be written (an install on a read-only disk), is not safe to run code from (see
// ownCache) or esbuild is missing, the caller falls back to tsx's loader: slower to start and heavier,
// never broken.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * GRIDHUB_TS_CACHE moves the cache (the tests do), relative to the project. It must stay inside the
 * project: the bundle's package imports resolve from where it lies, up to the project's node_modules.
 */
const CACHE = resolve(ROOT, process.env.GRIDHUB_TS_CACHE || join('node_modules', '.cache', 'gridhub'));

function stamp(file) {
  try {
    const s = statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The cache holds code the hub will run, so it is trusted only as a folder owned by this user (or by
 * root: the image builds it before dropping to its user) that no group or other user may write
 * (GRIDHUB_TS_CACHE may name another folder of the project); otherwise this throws and the caller
 * falls back to tsx.
 */
function ownCache() {
  const inside = relative(ROOT, CACHE);
  if (inside.startsWith('..') || isAbsolute(inside))
    throw new Error(`${CACHE} is outside ${ROOT}: the bundle's package imports would not resolve there`);
  mkdirSync(CACHE, { recursive: true, mode: 0o700 });
  const st = statSync(CACHE);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid && st.uid !== 0) || (st.mode & 0o022) !== 0)
    throw new Error(`${CACHE} is not a folder that only this user (or root) can write`);
}

function fresh(manifestFile) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch {
    return false;
  }
  if (
    manifest?.esbuild !== esbuildVersion() ||
    manifest.node !== process.versions.node ||
    typeof manifest.inputs !== 'object' ||
    manifest.inputs === null ||
    Object.keys(manifest.inputs).length === 0
  )
    return false;
  for (const [file, was] of Object.entries(manifest.inputs))
    if (stamp(join(ROOT, file)) !== was) return false;
  return true;
}

let esbuildVersionMemo;
function esbuildVersion() {
  esbuildVersionMemo ??= (() => {
    try {
      return JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8')).version;
    } catch {
      return 'none';
    }
  })();
  return esbuildVersionMemo;
}

/** esbuild plugin: `import.meta.url` in a project file becomes that file's own URL. */
const keepModuleUrls = {
  name: 'gridhub-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, (args) => {
      // Only the project's files reach here: packages stay imports (`packages: 'external'`).
      const source = readFileSync(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return {
        contents: source.replaceAll('import.meta.url', url),
        loader: /\.m?ts$/.test(args.path) ? 'ts' : 'js',
      };
    });
  },
};

/**
 * The path of a bundle of `entry` (a project file), built now if the cached one is missing or stale.
 * Throws when it cannot be built or written; the caller then uses tsx.
 */
export async function bundleOf(entry) {
  const abs = resolve(entry);
  const rel = relative(ROOT, abs);
  const key = createHash('sha256').update(rel).digest('hex').slice(0, 12);
  const base = join(CACHE, `${rel.replace(/[^A-Za-z0-9]+/g, '-')}-${key}`);
  const out = `${base}.mjs`;
  const manifestFile = `${base}.json`;
  ownCache();
  if (fresh(manifestFile)) return out;

  const { build } = await import('esbuild');
  // Written under a temporary name and renamed: two processes starting at once each get a whole file.
  const tmp = `${base}.${process.pid}.${Date.now()}`;
  try {
    return await buildInto(build, abs, tmp, out, manifestFile);
  } finally {
    for (const f of [`${tmp}.mjs`, `${tmp}.mjs.map`, `${tmp}.json`]) rmSync(f, { force: true });
  }
}

async function buildInto(build, abs, tmp, out, manifestFile) {
  const started = Date.now();
  const result = await build({
    entryPoints: [abs],
    outfile: `${tmp}.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [keepModuleUrls],
    // Packages stay imports, resolved from the bundle's place in node_modules/.cache/gridhub, which
    // walks up to the project's node_modules as the sources would.
  });
  const inputs = {};
  // A source written while esbuild read it (or dated in the future) may not be what the bundle holds:
  // the bundle serves this start, but no manifest vouches for it, so the next start builds again.
  let settled = true;
  for (const file of Object.keys(result.metafile.inputs)) {
    const p = resolve(file);
    inputs[relative(ROOT, p)] = stamp(p);
    try {
      if (statSync(p).mtimeMs >= started) settled = false;
    } catch {
      settled = false;
    }
  }
  inputs['tsconfig.json'] = stamp(join(ROOT, 'tsconfig.json'));
  // The map names its sources relative to the cache folder, so it only moves with the bundle.
  const code = readFileSync(`${tmp}.mjs`, 'utf8').replace(
    /\/\/# sourceMappingURL=.*$/m,
    `//# sourceMappingURL=${out.slice(CACHE.length + 1)}.map`,
  );
  writeFileSync(`${tmp}.mjs`, code);
  renameSync(`${tmp}.mjs.map`, `${out}.map`);
  renameSync(`${tmp}.mjs`, out);
  if (!settled) {
    rmSync(manifestFile, { force: true });
    return out;
  }
  writeFileSync(
    `${tmp}.json`,
    JSON.stringify({ esbuild: esbuildVersion(), node: process.versions.node, inputs }),
  );
  renameSync(`${tmp}.json`, manifestFile);
  return out;
}

/** Imports `entry` (a project .ts file): from its bundle, or through tsx when no bundle can be made. */
export async function importTs(entry) {
  let file;
  try {
    file = await bundleOf(entry);
  } catch (err) {
    if (process.env.GRIDHUB_TS_DEBUG) console.error('gridhub: running through tsx:', err);
    const { register } = await import('tsx/esm/api');
    register();
    return import(pathToFileURL(resolve(entry)).href);
  }
  process.setSourceMapsEnabled(true);
  return import(pathToFileURL(file).href);
}

// `node bin/run-ts.mjs <entry.ts> [args…]`: runs one project file this way (the benchmark's child
// processes do, so they measure what `gridhub start` runs). The entry sees its own path in argv[1].
// `node bin/run-ts.mjs --build <entry.ts>`: only builds the bundle (the container image does, before it
// drops to a user that cannot write node_modules).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const build = process.argv[2] === '--build';
  const entry = process.argv[build ? 3 : 2];
  if (!entry) {
    console.error('usage: node bin/run-ts.mjs [--build] <file.ts> [args…]');
    process.exit(2);
  }
  if (build) console.log(await bundleOf(entry));
  else {
    process.argv.splice(1, 2, resolve(entry));
    await importTs(entry);
  }
}
