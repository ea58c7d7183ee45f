/**
 * The package as users get it: `npm pack`, install the tarball into a fresh
 * project, load it with `import` and with `require`, and issue a certificate
 * through the public API against Pebble. Needs `npm run build` first (npm test does it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPebble, type Pebble } from '../helpers/pebble.js';

const root = path.resolve(import.meta.dirname, '../..');
let project: string;
let pebble: Pebble;

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test builds before it tests)');
  }
  pebble = await startPebble();
  project = await mkdtemp(path.join(tmpdir(), 'certpilot-consumer-'));
  execFileSync('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: root, stdio: 'pipe' });
  const tarball = (await readdir(project)).find((f) => f.endsWith('.tgz'))!;
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', `./${tarball}`], { cwd: project, stdio: 'pipe' });
}, 240_000);

afterAll(async () => {
  await pebble?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

function script(kind: 'esm' | 'cjs'): string {
  const load = kind === 'esm'
    ? "import { CertificateManager, AcmeIssuer, MemoryStore, isCertpilotError } from 'certpilot';\nimport { challtestsrv } from 'certpilot/providers/challtestsrv';"
    : "const { CertificateManager, AcmeIssuer, MemoryStore, isCertpilotError } = require('certpilot');\nconst { challtestsrv } = require('certpilot/providers/challtestsrv');";
  return `${load}
const [directoryUrl, ca, management, dns] = JSON.parse(process.env.CONSUMER_ARGS);
(async () => {
  const manager = new CertificateManager({
    store: new MemoryStore(),
    issuer: new AcmeIssuer({ directoryUrl, termsOfServiceAgreed: true, caCertificates: ca,
      dns: challtestsrv({ managementUrl: management }), propagation: { nameservers: [dns], intervalMs: 50 } }),
  });
  let typed = false;
  try { manager.provision({ name: 'x', domains: ['*.*.bad'] }); } catch (e) { typed = isCertpilotError(e) && e.code === 'INVALID_DOMAIN'; }
  const cert = await manager.provision({ name: 'consumer', domains: ['${kind}.consumer.example.test'] });
  await manager.close();
  console.log(JSON.stringify({ serial: cert.serialNumber, typed, domains: cert.domains }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
}

describe('the packed package', () => {
  it.each(['esm', 'cjs'] as const)('loads with %s and issues a certificate through the public API', async (kind) => {
    const file = path.join(project, kind === 'esm' ? 'main.mjs' : 'main.cjs');
    await writeFile(file, script(kind));
    const out = execFileSync(process.execPath, [file], {
      cwd: project,
      env: { ...process.env, CONSUMER_ARGS: JSON.stringify([pebble.directoryUrl, pebble.caPem, pebble.challtestsrv!.managementUrl, pebble.dnsServer]) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.typed).toBe(true);
    expect(result.serial).toMatch(/^[0-9a-f]+$/);
    expect(result.domains).toEqual([`${kind}.consumer.example.test`]);
  });

  it('ships types for every subpath', async () => {
    const pkg = (await import(path.join(project, 'node_modules/certpilot/package.json'), { with: { type: 'json' } })).default as {
      exports: Record<string, { import?: { types: string }; require?: { types: string } } | string>;
    };
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      for (const file of [target.import!.types, target.require!.types]) {
        expect(existsSync(path.join(project, 'node_modules/certpilot', file)), `${subpath}: ${file}`).toBe(true);
      }
    }
  });
});
