/**
 * The rfc2136 provider against a real BIND 9 whose TSIG key may only change
 * TXT records: the shared conformance suite (ending in a Pebble issuance that
 * validates against this BIND), then what only a real server can show —
 * policy refusals, key and clock errors, both transports.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rfc2136 } from '../../providers/rfc2136/index.js';
import { UpdateClient } from '../../providers/rfc2136/client.js';
import { RRClass, RRType, encodeTxt } from '../../providers/rfc2136/message.js';
import { createTsigKey } from '../../providers/rfc2136/tsig.js';
import { parseServer } from '../../providers/rfc2136/transport.js';
import type { DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { isCertpilotError, type CertpilotError } from '../../src/errors.js';
import { startBind, type Bind } from '../helpers/bind.js';
import { describeProviderConformance, txtAt } from '../helpers/provider-conformance.js';

/** Runs `nsupdate -k keyFile` (BIND's own client) with `commands`, for records that are not the provider's. */
function nsupdate(bind: Bind, commands: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/nsupdate', ['-k', bind.keyFile]);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nsupdate exited with ${code}: ${output}`))));
    child.stdin.end([`server 127.0.0.1 ${bind.port}`, ...commands, 'send', ''].join('\n'));
  });
}

describeProviderConformance('rfc2136 (BIND 9)', async () => {
  const bind = await startBind({ zones: ['example.test.'] });
  return {
    // No zones option: zone discovery goes through the core's SOA walk against BIND.
    provider: rfc2136({ server: bind.server, tsig: bind.tsig }),
    zone: 'example.test.',
    dnsServer: bind.server,
    addForeignRecord: (name, value) => nsupdate(bind, [`update add ${name}.example.test. 60 TXT "${value}"`]),
    // BIND applies an update before it answers: visible at once.
    propagationMs: 2000,
    close: () => bind.stop(),
  };
});

describe('rfc2136 against BIND 9', () => {
  let bind: Bind;
  const signal = () => new AbortController().signal;
  const rec = (name: string, value: string): DnsRecord => ({ type: 'TXT', name, value, ttl: 60 });
  let n = 0;
  const fresh = () => `_acme-challenge.f${n++}`;
  const fqdn = (name: string) => `${name}.example.test`;
  const failure = (promise: Promise<unknown>) => promise.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as CertpilotError);

  beforeAll(async () => { bind = await startBind({ zones: ['example.test.', 'second.test.'] }); });
  afterAll(async () => { await bind?.stop(); });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`adds and deletes over ${transport}`, async () => {
      const provider = rfc2136({ server: bind.server, tsig: bind.tsig, transport });
      const name = fresh();
      const created = await provider.appendRecords('example.test.', [rec(name, `via-${transport}`)], { signal: signal() });
      expect(await txtAt(bind.server, fqdn(name))).toEqual([`via-${transport}`]);
      await provider.deleteRecords('example.test.', created, { signal: signal() });
      expect(await txtAt(bind.server, fqdn(name))).toEqual([]);
    });
  }

  it('sends a message too big for a UDP datagram over TCP', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig, transport: 'udp' });
    const name = fresh();
    const records = Array.from({ length: 20 }, (_, i) => rec(name, `${i}-${'v'.repeat(43)}`));
    await provider.appendRecords('example.test.', records, { signal: signal() });
    expect(await txtAt(bind.server, fqdn(name))).toHaveLength(20);
    await provider.deleteRecords('example.test.', records, { signal: signal() });
    expect(await txtAt(bind.server, fqdn(name))).toEqual([]);
  });

  it('stores a value longer than 255 bytes as several strings that resolvers join', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig });
    const name = fresh();
    const long = 'L'.repeat(700);
    await provider.appendRecords('example.test.', [rec(name, long)], { signal: signal() });
    expect(await txtAt(bind.server, fqdn(name))).toEqual([long]);
    await provider.deleteRecords('example.test.', [rec(name, long)], { signal: signal() });
    expect(await txtAt(bind.server, fqdn(name))).toEqual([]);
  });

  it('writes at the zone apex for "@" and into the zone it is given', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig, zones: ['example.test', 'second.test'] });
    expect(await provider.listZones!({ signal: signal() })).toEqual(['example.test.', 'second.test.']);
    await provider.appendRecords('second.test.', [rec('@', 'at-apex')], { signal: signal() });
    expect(await txtAt(bind.server, 'second.test')).toEqual(['at-apex']);
    await provider.deleteRecords('second.test.', [rec('@', 'at-apex')], { signal: signal() });
    expect(await txtAt(bind.server, 'second.test')).toEqual([]);
  });

  it('concurrent appends at one name both survive (apex + wildcard challenges)', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig });
    const name = fresh();
    await Promise.all(['apex', 'wildcard'].map((value) => provider.appendRecords('example.test.', [rec(name, value)], { signal: signal() })));
    expect(await txtAt(bind.server, fqdn(name))).toEqual(['apex', 'wildcard']);
    await provider.deleteRecords('example.test.', [rec(name, 'apex'), rec(name, 'wildcard')], { signal: signal() });
  });

  it('deleting a value that is not there leaves the others alone', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig });
    const name = fresh();
    await provider.appendRecords('example.test.', [rec(name, 'keep')], { signal: signal() });
    await expect(provider.deleteRecords('example.test.', [rec(name, 'never-added'), rec(fresh(), 'nowhere')], { signal: signal() })).resolves.toHaveLength(2);
    expect(await txtAt(bind.server, fqdn(name))).toEqual(['keep']);
    await provider.deleteRecords('example.test.', [rec(name, 'keep')], { signal: signal() });
  });

  it('the TXT-only key cannot change an A record: REFUSED, with a clear error', async () => {
    const client = new UpdateClient({ server: parseServer(bind.server), key: createTsigKey(bind.tsig), protocol: 'tcp', timeoutMs: 5000 });
    const a = { name: 'example.test.', type: RRType.A, class: RRClass.IN, ttl: 60, rdata: Buffer.from([192, 0, 2, 66]) };
    const error = await failure(client.update('example.test.', [a], signal()));
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ rcode: 'REFUSED', reason: 'refused' });
    expect(error.message).toContain(`rfc2136: ${bind.server} refused the update of zone example.test. (REFUSED)`);
    expect(error.message).toContain(`update-policy of key "${bind.tsig.name}" (hmac-sha256) probably does not allow changing A records at example.test.`);
    const resolver = new Resolver();
    resolver.setServers([bind.server]);
    expect(await resolver.resolve4('example.test')).toEqual(['127.0.0.1']);
    // The same key may change TXT there.
    await client.update('example.test.', [{ ...a, type: RRType.TXT, rdata: encodeTxt('allowed') }], signal());
    expect(await txtAt(bind.server, 'example.test')).toContain('allowed');
    await client.update('example.test.', [{ ...a, type: RRType.TXT, class: RRClass.NONE, ttl: 0, rdata: encodeTxt('allowed') }], signal());
  });

  it('a wrong secret fails with BADSIG, and the error holds no secret', async () => {
    const wrong = randomBytes(32).toString('base64');
    const provider = rfc2136({ server: bind.server, tsig: { ...bind.tsig, secret: wrong } });
    const name = fresh();
    const error = await failure(provider.appendRecords('example.test.', [rec(name, 'v')], { signal: signal() }));
    expect(error.message).toContain(`knows key "${bind.tsig.name}" but its MAC did not verify (TSIG BADSIG)`);
    expect(error.details).toMatchObject({ tsigError: 'BADSIG', reason: 'badsig' });
    expect(error.retryable).toBe(false);
    const everything = [error.message, error.stack, JSON.stringify(error), JSON.stringify(error.details), inspect(error, { depth: 10 })].join('\n');
    for (const secret of [wrong, bind.tsig.secret]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(Buffer.from(secret, 'base64').toString('hex'));
    }
    expect(await txtAt(bind.server, fqdn(name))).toEqual([]);
  });

  it('an unknown key fails with BADKEY: the server does not know it', async () => {
    const provider = rfc2136({ server: bind.server, tsig: { ...bind.tsig, name: 'no-such-key' } });
    const error = await failure(provider.appendRecords('example.test.', [rec(fresh(), 'v')], { signal: signal() }));
    expect(error.message).toContain('the server does not know key "no-such-key" (hmac-sha256) (TSIG BADKEY)');
    expect(error.details).toMatchObject({ tsigError: 'BADKEY' });
  });

  it('a key with the wrong algorithm is unknown to BIND: BADKEY, naming the algorithm', async () => {
    const provider = rfc2136({ server: bind.server, tsig: { ...bind.tsig, algorithm: 'hmac-sha512' } });
    const error = await failure(provider.appendRecords('example.test.', [rec(fresh(), 'v')], { signal: signal() }));
    // BIND looks keys up by name *and* algorithm, so a wrong algorithm reads as an unknown key.
    expect(error.message).toContain(`the server does not know key "${bind.tsig.name}" (hmac-sha512) (TSIG BADKEY)`);
  });

  it('a clock an hour off fails with BADTIME, naming both clocks', async () => {
    const skewed = () => Math.floor(Date.now() / 1000) - 3600;
    const client = new UpdateClient({ server: parseServer(bind.server), key: createTsigKey(bind.tsig), protocol: 'udp', timeoutMs: 5000, now: skewed });
    const error = await failure(client.update('example.test.', [{ name: 'x.example.test.', type: RRType.TXT, class: RRClass.IN, ttl: 60, rdata: encodeTxt('v') }], signal()));
    expect(error.message).toContain('clock skew');
    expect(error.message).toContain('(TSIG BADTIME)');
    expect(error.message).toMatch(/\((3599|3600|3601) s apart\)/);
    expect(error.details).toMatchObject({ tsigError: 'BADTIME', reason: 'clock-skew' });
  });

  it('a zone the server does not serve fails with NOTAUTH', async () => {
    const provider: DnsProvider = rfc2136({ server: bind.server, tsig: bind.tsig });
    const error = await failure(provider.appendRecords('elsewhere.test.', [rec('_acme-challenge', 'v')], { signal: signal() }));
    expect(error.message).toContain('is not authoritative for zone elsewhere.test. (NOTAUTH)');
    expect(error.retryable).toBe(false);
  });

  it('a name outside the zone fails with NOTZONE', async () => {
    const provider = rfc2136({ server: bind.server, tsig: bind.tsig });
    const error = await failure(provider.appendRecords('example.test.', [rec('_acme-challenge.second.test.', 'v')], { signal: signal() }));
    expect(error.message).toContain('outside zone example.test. (NOTZONE): TXT records at _acme-challenge.second.test.');
  });
});
