// `npm run build`, after tsc: guarded-run as one bundle in dist/run/ (issue #5).
// Node 20 loads an ES module graph file by file, and guarded-run's reaches about
// 130 of ours and 970 CommonJS files of its dependencies (undici alone 408);
// that cost most of guarded-run's start-up. Bundled, the launcher loads a few
// files, and what only some runs need (the OpenTelemetry SDK, node-forge) stays
// in chunks that load when asked for. dist/run/ sits as deep as dist/launcher/,
// so the paths the code finds from its own URL (profiles, preload, the bundled
// policy) resolve the same; the compile worker and sandbox-init are entry points
// beside the chunks that start them. Types were checked by tsc already.
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root, from dist/launcher/ or launcher/. */
const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url))

/** Where the bundle goes; package.json's `bin` points at its guarded-run.js. */
const BUNDLE_DIR = 'dist/run'

rmSync(join(ROOT, BUNDLE_DIR), { recursive: true, force: true }) // chunk names change with their content
await build({
  absWorkingDir: ROOT,
  entryPoints: {
    'guarded-run': 'launcher/cli.ts',
    'sandbox-init': 'launcher/sandbox-init.ts',
    'compile-worker': 'proxy/policy-files/compile-worker.ts',
  },
  outdir: BUNDLE_DIR,
  bundle: true,
  splitting: true, // dynamic imports become chunks: loaded only by the runs that need them
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]', // beside the entries: chunk code finds files from import.meta.url too
  sourcemap: true, // stack traces (with --enable-source-maps) and the tests' coverage map back to the TypeScript
  // Bundled CommonJS dependencies require Node's built-ins; an ES module has no `require` of its own.
  banner: { js: "import { createRequire as __guardedCreateRequire } from 'node:module'; const require = __guardedCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})
