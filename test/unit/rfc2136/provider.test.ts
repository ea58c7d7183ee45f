/** The rfc2136 factory without a server: options, defaults, listZones, aborts, secrets kept out of sight. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../../src/errors.js';
import { meta, rfc2136, type Rfc2136Options } from '../../../providers/rfc2136/index.js';
import { parseServer } from '../../../providers/rfc2136/transport.js';
import type { DnsProvider } from '../../../src/challenges/provider.js';

const secret = 'c2VjcmV0LWtleS1mb3ItY2VydHBpbG90LXRlc3RzLTAxMjM0NTY3ODk=';
const base: Rfc2136Options = { server: '127.0.0.1:1', tsig: { name: 'certpilot', secret } };

function configError(options: unknown): Error & { code?: string } {
  try {
    rfc2136(options as Rfc2136Options);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a ConfigError');
}

describe('rfc2136 factory', () => {
  it('is named rfc2136, like its subpath and meta', () => {
    expect(rfc2136(base).name).toBe('rfc2136');
    expect(meta.name).toBe('rfc2136');
    expect(meta.permissions).toContain('TXT');
  });

  it('has no listZones without zones, so the core walks SOAs', () => {
    expect(rfc2136(base).listZones).toBeUndefined();
    expect('listZones' in rfc2136(base)).toBe(false);
  });

  it('lists the zones it was given, as FQDNs', async () => {
    const provider = rfc2136({ ...base, zones: ['Example.com', 'example.org.'] });
    expect(await provider.listZones!({ signal: new AbortController().signal })).toEqual(['example.com.', 'example.org.']);
  });

  it('rejects bad options with INVALID_OPTIONS and a message saying what to fix', () => {
    expect(configError(undefined).message).toMatch(/rfc2136: options are required/);
    expect(configError({ ...base, server: '' }).message).toMatch(/not a valid 'host:port'/);
    expect(configError({ ...base, server: '127.0.0.1:99999' }).message).toMatch(/not a valid/);
    expect(configError({ ...base, tsig: undefined }).message).toMatch(/tsig.name is required/);
    expect(configError({ ...base, tsig: { name: 'k', secret, algorithm: 'hmac-md5' } }).message).toMatch(/hmac-md5.*not supported; use one of hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512/);
    expect(configError({ ...base, timeoutMs: 0 }).message).toMatch(/timeoutMs must be a positive number/);
    expect(configError({ ...base, transport: 'quic' }).message).toMatch(/transport must be 'tcp' or 'udp'/);
    for (const error of [configError({ ...base, server: '' }), configError({ ...base, transport: 'x' })]) {
      expect(isCertpilotError(error) && error.code).toBe('INVALID_OPTIONS');
    }
  });

  it('never echoes a malformed secret', () => {
    const error = configError({ ...base, tsig: { name: 'k', secret: 'hunter2-is-my-password!' } });
    expect(error.message).toContain('tsig.secret must be the base64 secret');
    expect(error.message).not.toContain('hunter2');
  });

  it('keeps the secret out of the provider object', () => {
    const provider = rfc2136(base);
    expect(JSON.stringify(provider)).not.toContain(secret);
    expect(inspect(provider, { depth: 10, showHidden: true })).not.toContain(secret);
  });

  it('stops with ABORTED before touching the network when the signal is already aborted', async () => {
    const provider: DnsProvider = rfc2136(base);
    const controller = new AbortController();
    controller.abort();
    const record = { type: 'TXT' as const, name: '_acme-challenge', value: 'v', ttl: 60 };
    for (const call of [provider.appendRecords, provider.deleteRecords]) {
      const error = await call('example.com.', [record], { signal: controller.signal }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('ABORTED');
    }
  });

  it('does nothing for an empty list', async () => {
    const provider = rfc2136(base); // port 1: any network use would fail
    await expect(provider.appendRecords('example.com.', [], { signal: new AbortController().signal })).resolves.toEqual([]);
    await expect(provider.deleteRecords('example.com.', [], { signal: new AbortController().signal })).resolves.toEqual([]);
  });

  it('refuses record types other than TXT', async () => {
    const provider = rfc2136(base);
    const error = await provider.appendRecords('example.com.', [{ type: 'A' as 'TXT', name: 'x', value: '1.2.3.4', ttl: 60 }], { signal: new AbortController().signal }).catch((e) => e);
    expect(error.message).toBe('rfc2136: only TXT records are supported, got A');
  });
});

describe('parseServer', () => {
  it.each([
    ['127.0.0.1:5353', { host: '127.0.0.1', port: 5353 }],
    ['127.0.0.1', { host: '127.0.0.1', port: 53 }],
    ['ns1.example.com:53', { host: 'ns1.example.com', port: 53 }],
    ['ns1.example.com', { host: 'ns1.example.com', port: 53 }],
    ['[::1]:8053', { host: '::1', port: 8053 }],
    ['[2001:db8::1]', { host: '2001:db8::1', port: 53 }],
    ['2001:db8::1', { host: '2001:db8::1', port: 53 }],
  ])('%s', (server, endpoint) => {
    expect(parseServer(server)).toEqual(endpoint);
  });

  it.each(['', ':53', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:5x', 'a b:53', 'http://x'])('rejects %j', (server) => {
    expect(() => parseServer(server)).toThrow(/not a valid 'host:port'/);
  });
});
