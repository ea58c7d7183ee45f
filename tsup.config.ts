import { defineConfig } from 'tsup';
import { entries } from './scripts/entries.js';

// Entries come from one list shared with package.json "exports" (test/unit/exports.test.ts keeps them in sync).
export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  shims: false,
  external: ['@aws-sdk/client-route-53', 'google-auth-library', 'ioredis'],
});
