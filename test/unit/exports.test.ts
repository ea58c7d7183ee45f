/** package.json "exports" and the build entries must name the same subpaths, and every source must exist. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entries } from '../../scripts/entries.js';

const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };

describe('package exports', () => {
  it('every export subpath has a build entry and the other way round', () => {
    const fromExports = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'index' : k.slice(2).replace(/^(providers\/[^/]+)$/, '$1/index')));
    expect(fromExports.sort()).toEqual(Object.keys(entries).sort());
  });

  it('every build entry has a source file', () => {
    for (const source of Object.values(entries)) expect(existsSync(path.join(root, source)), source).toBe(true);
  });

  it('every export points into dist with types for import and require', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      const t = target as { import: { types: string; default: string }; require: { types: string; default: string } };
      const base = subpath === '.' ? 'index' : `${subpath.slice(2)}${subpath.startsWith('./providers/') ? '/index' : ''}`;
      expect(t.import).toEqual({ types: `./dist/${base}.d.ts`, default: `./dist/${base}.js` });
      expect(t.require).toEqual({ types: `./dist/${base}.d.cts`, default: `./dist/${base}.cjs` });
    }
  });
});
