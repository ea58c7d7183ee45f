import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { AcmeIssuer, type AcmeIssuerOptions } from '../../src/acme/issuer.js';
import { CertificateManager, type CertificateManagerOptions } from '../../src/manager.js';
import type { Store } from '../../src/storage/store.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { challtestsrv } from '../../providers/challtestsrv/index.js';
import type { Pebble } from './pebble.js';

/** An AcmeIssuer wired to a test Pebble and its challtestsrv. */
export function pebbleIssuer(pebble: Pebble, overrides: Partial<AcmeIssuerOptions> = {}): AcmeIssuer {
  if (!pebble.challtestsrv) throw new Error('pebbleIssuer needs a Pebble started with its own challtestsrv');
  return new AcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    email: 'ops@example.test',
    termsOfServiceAgreed: true,
    caCertificates: pebble.caPem,
    dns: challtestsrv({ managementUrl: pebble.challtestsrv.managementUrl }),
    propagation: { nameservers: [pebble.dnsServer], intervalMs: 50, timeoutMs: 10_000 },
    ...overrides,
  });
}

/** A manager on `store` (default: a new MemoryStore) issuing from the test Pebble. */
export function pebbleManager(pebble: Pebble, options: Partial<CertificateManagerOptions> & { issuerOptions?: Partial<AcmeIssuerOptions>; store?: Store } = {}): CertificateManager {
  const { issuerOptions, ...rest } = options;
  return new CertificateManager({ store: new MemoryStore(), issuer: pebbleIssuer(pebble, issuerOptions), ...rest });
}

/** A temp directory removed by the returned cleanup. */
export async function tempDir(prefix = 'certpilot-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Verifies `fullchain` (leaf first) up to Pebble's current root; throws on any break. */
export async function verifyChain(pebble: Pebble, fullchain: string): Promise<void> {
  const blocks = fullchain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs = [...blocks.map((b) => new X509Certificate(b)), new X509Certificate(await pebble.rootPem())];
  if (certs.length < 3) throw new Error(`expected leaf + intermediate(s) + root, got ${certs.length} certificates`);
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i]!.verify(certs[i + 1]!.publicKey)) throw new Error(`certificate ${i} is not signed by certificate ${i + 1}`);
  }
}
