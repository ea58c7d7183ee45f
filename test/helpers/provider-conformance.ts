/**
 * The shared DNS provider conformance suite (after libdns): every provider
 * runs it against a real DNS server — BIND for RFC 2136, a wire-faithful fake
 * of the cloud API that publishes into challtestsrv for the clouds — and
 * finishes with an apex + wildcard issuance from Pebble validating there.
 */
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { AcmeIssuer } from '../../src/acme/issuer.js';
import { CertificateManager } from '../../src/manager.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { isCertpilotError } from '../../src/errors.js';
import { startPebble, type Pebble } from './pebble.js';
import { verifyChain } from './manager.js';

/** What a provider's test supplies to the suite. */
export interface ProviderHarness {
  provider: DnsProvider;
  /** A zone the provider may edit, FQDN with trailing dot (`example.test.`). */
  zone: string;
  /** `127.0.0.1:port` of the DNS server where the provider's records appear (and Pebble validates). */
  dnsServer: string;
  /** Creates a TXT value at `name` (relative to the zone) that is NOT the provider's (out of band). */
  addForeignRecord(name: string, value: string): Promise<void>;
  /** Longest time a change may take to become visible (eventual consistency of the fake). @default 5000 */
  propagationMs?: number;
  close(): Promise<void>;
}

/** TXT values at `fqdn` as `server` answers them. */
export async function txtAt(server: string, fqdn: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([server]);
  try {
    return (await resolver.resolveTxt(fqdn)).map((chunks) => chunks.join('')).sort();
  } catch {
    return [];
  }
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the conformance suite for one provider. `setup` runs once; every test uses fresh record names. */
export function describeProviderConformance(label: string, setup: () => Promise<ProviderHarness>): void {
  describe(`${label}: DNS provider conformance`, () => {
    let h: ProviderHarness;
    let n = 0;
    const signal = () => new AbortController().signal;
    const rec = (name: string, value: string): DnsRecord => ({ type: 'TXT', name, value, ttl: 60 });
    const fqdn = (name: string) => (name === '@' ? h.zone : `${name}.${h.zone}`).replace(/\.$/, '');
    const fresh = () => `_acme-challenge.c${Date.now().toString(36)}${n++}`;
    const wait = () => h.propagationMs ?? 5000;

    beforeAll(async () => { h = await setup(); });
    afterAll(async () => { await h?.close(); });

    it('has a name', () => {
      expect(h.provider.name).toMatch(/^[a-z0-9-]+$/);
    });

    it('a value becomes visible, is removed, and is gone', async () => {
      const name = fresh();
      const created = await h.provider.appendRecords(h.zone, [rec(name, 'value-one')], { signal: signal() });
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ type: 'TXT', name, value: 'value-one' });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).includes('value-one'), wait(), 'the value is visible');
      const deleted = await h.provider.deleteRecords(h.zone, created, { signal: signal() });
      expect(deleted.map((r) => r.value)).toEqual(['value-one']);
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 0, wait(), 'the value is gone');
    });

    it('two values at one name coexist, and deleting one keeps the other', async () => {
      const name = fresh();
      const a = await h.provider.appendRecords(h.zone, [rec(name, 'apex-value')], { signal: signal() });
      const b = await h.provider.appendRecords(h.zone, [rec(name, 'wildcard-value')], { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 2, wait(), 'both values are visible');
      expect(await txtAt(h.dnsServer, fqdn(name))).toEqual(['apex-value', 'wildcard-value']);
      await h.provider.deleteRecords(h.zone, a, { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).join() === 'wildcard-value', wait(), 'only the second value remains');
      await h.provider.deleteRecords(h.zone, b, { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 0, wait(), 'no value remains');
    });

    it('appends two values at one name in one call', async () => {
      const name = fresh();
      const created = await h.provider.appendRecords(h.zone, [rec(name, 'one'), rec(name, 'two')], { signal: signal() });
      expect(created.map((r) => r.value).sort()).toEqual(['one', 'two']);
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).join() === 'one,two', wait(), 'both values are visible');
      await h.provider.deleteRecords(h.zone, created, { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 0, wait(), 'no value remains');
    });

    it('deleting twice is fine', async () => {
      const name = fresh();
      const created = await h.provider.appendRecords(h.zone, [rec(name, 'twice')], { signal: signal() });
      await h.provider.deleteRecords(h.zone, created, { signal: signal() });
      await expect(h.provider.deleteRecords(h.zone, created, { signal: signal() })).resolves.toBeDefined();
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 0, wait(), 'the value is gone');
    });

    it('never touches records that are not its own', async () => {
      const name = fresh();
      await h.addForeignRecord(name, 'not-ours');
      const created = await h.provider.appendRecords(h.zone, [rec(name, 'ours')], { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).length === 2, wait(), 'both values are visible');
      await h.provider.deleteRecords(h.zone, created, { signal: signal() });
      await eventually(async () => (await txtAt(h.dnsServer, fqdn(name))).join() === 'not-ours', wait(), 'only the foreign value remains');
    });

    it('an aborted signal stops the call with an ABORTED error and creates nothing', async () => {
      const name = fresh();
      const controller = new AbortController();
      controller.abort();
      const error = await h.provider.appendRecords(h.zone, [rec(name, 'aborted')], { signal: controller.signal }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('ABORTED');
      await new Promise((r) => setTimeout(r, 200));
      expect(await txtAt(h.dnsServer, fqdn(name))).toEqual([]);
    });

    describe('end to end', () => {
      let pebble: Pebble;
      beforeAll(async () => { pebble = await startPebble({ dnsServer: h.dnsServer }); });
      afterAll(async () => { await pebble?.stop(); });

      it('issues an apex + wildcard certificate through the provider', async () => {
        const apex = `e2e${Date.now().toString(36)}.${h.zone.replace(/\.$/, '')}`;
        const manager = new CertificateManager({
          store: new MemoryStore(),
          issuer: new AcmeIssuer({
            directoryUrl: pebble.directoryUrl,
            termsOfServiceAgreed: true,
            caCertificates: pebble.caPem,
            dns: h.provider,
            propagation: { nameservers: [h.dnsServer], intervalMs: 100, timeoutMs: 30_000 },
          }),
        });
        try {
          const cert = await manager.provision({ name: 'e2e', domains: [apex, `*.${apex}`] });
          await verifyChain(pebble, cert.fullchain);
          await eventually(async () => (await txtAt(h.dnsServer, `_acme-challenge.${apex}`)).length === 0, wait(), 'the challenge records are gone');
        } finally {
          await manager.close();
        }
      });
    });
  });
}
