/**
 * Browser build, all into dist/client/:
 * - sdk.js: the SDK module (ES, also the ES export), its worker chunk under assets/, the tfjs .wasm files;
 * - fedrank.js: the script-tag loader, a classic IIFE built by a second, nested build after the first;
 * - sdk.d.ts / fedrank.d.ts: the public types (ES export / window.fedrank); LICENSE: third-party notices (legal comments are stripped from chunks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { build, defineConfig } from 'vite';
import type { Plugin } from 'vite';

// FEDRANK_TEST_SEAMS=1 builds the e2e variant with the worker's test seams (client/worker/test-seams.ts)
// into its own folder; the production build defines them away.
const SEAMS = process.env.FEDRANK_TEST_SEAMS === '1';
const OUT = SEAMS ? 'dist/client-seams' : 'dist/client';
// @license comments of tfjs would add ~0.9 MB to the worker; the notices ship once in LICENSE instead.
const output = { comments: { legal: false } } as const;

function loaderAndExtras(): Plugin {
  return {
    name: 'fedrank-loader',
    apply: 'build',
    generateBundle() {
      const types = readFileSync('client/types.ts', 'utf8');
      // sdk.d.ts types the ES export; fedrank.d.ts types window.fedrank for script-tag users.
      this.emitFile({
        type: 'asset',
        fileName: 'sdk.d.ts',
        source: `${types}\n/** Creates the SDK from code; options as the script tag's data-* attributes. */\nexport declare function createFedrank(options?: FedrankOptions): Fedrank;\nexport declare const VERSION: string;\n`,
      });
      this.emitFile({
        type: 'asset',
        fileName: 'fedrank.d.ts',
        source: `${types}\ndeclare global {\n  interface Window {\n    /** The SDK (a call queue until it has loaded). */\n    fedrank: Fedrank;\n  }\n}\n`,
      });
      const file = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
      const notices = [
        `comlink\n\n${file('node_modules/comlink/LICENSE')}`,
        `idb\n\n${file('node_modules/idb/LICENSE')}`,
        'tfjs-core, tfjs-backend-cpu, tfjs-backend-webgl, tfjs-backend-webgpu, tfjs-backend-wasm\n' +
          `Copyright Google LLC. Licensed under the Apache License, Version 2.0:\n\n${file('node_modules/typescript/LICENSE.txt')}`,
      ].join('\n\n----------------------------------------\n\n');
      this.emitFile({
        type: 'asset',
        fileName: 'LICENSE',
        source: `fedrank browser SDK (Apache-2.0). Third-party notices for the bundled code:\n\n${notices}`,
      });
    },
    async closeBundle() {
      await build({
        configFile: false,
        logLevel: 'warn',
        build: {
          outDir: OUT,
          emptyOutDir: false,
          target: 'es2019',
          lib: {
            entry: 'client/loader.ts',
            formats: ['iife'],
            name: 'fedrankLoader',
            fileName: () => 'fedrank.js',
          },
          rollupOptions: { output },
        },
      });
    },
  };
}

export default defineConfig({
  base: './',
  define: { __FEDRANK_TEST_SEAMS__: JSON.stringify(SEAMS) },
  publicDir: false,
  build: {
    outDir: OUT,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: false,
    rollupOptions: {
      input: { sdk: 'client/sdk/index.ts' },
      preserveEntrySignatures: 'exports-only',
      output: { ...output, entryFileNames: '[name].js' },
    },
  },
  worker: {
    format: 'es',
    rollupOptions: { output },
  },
  plugins: [loaderAndExtras()],
});
