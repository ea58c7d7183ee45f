/** The route53 provider's pure parts: TXT wire format, change planning, per-name locks, error text. */
import { describe, expect, it } from 'vitest';
import { decodeRecordName, decodeTxtValue, encodeTxtValue } from '../../providers/route53/txt.js';
import { planAppend, planDelete, sameSets, type TxtSet } from '../../providers/route53/records.js';
import { NameLocks } from '../../providers/route53/locks.js';
import { redact, route53Error } from '../../providers/route53/errors.js';
import { shortZoneId } from '../../providers/route53/zones.js';
import { isCertpilotError } from '../../src/errors.js';

const set = (values: string[], ttl = 300): TxtSet => ({ name: '_acme-challenge.example.com.', ttl, values });

describe('TXT values on the wire', () => {
  it('quotes, escapes quotes and backslashes, and writes other bytes as octal', () => {
    expect(encodeTxtValue('abc')).toBe('"abc"');
    expect(encodeTxtValue('say "hi" \\ ok')).toBe('"say \\"hi\\" \\\\ ok"');
    expect(encodeTxtValue('é\n')).toBe('"\\303\\251\\012"');
    expect(encodeTxtValue('')).toBe('""');
  });

  it('splits values longer than 255 bytes into several strings', () => {
    const encoded = encodeTxtValue('x'.repeat(600));
    expect(encoded).toBe(`"${'x'.repeat(255)}" "${'x'.repeat(255)}" "${'x'.repeat(90)}"`);
  });

  it('decodes what it encodes, and what other tools wrote', () => {
    for (const value of ['plain', 'say "hi"', 'back\\slash', 'ünïcødé 🙂', 'x'.repeat(700), 'gdw2yNCdVD8sXf5kQJ9-8m2fYQ_8QPxj4dW8oRwFvPk']) {
      expect(decodeTxtValue(encodeTxtValue(value))).toBe(value);
    }
    expect(decodeTxtValue('"v=spf1" " -all"')).toBe('v=spf1 -all');
    expect(decodeTxtValue('unquoted')).toBe('unquoted');
  });

  it('reads record names as Route 53 spells them', () => {
    expect(decodeRecordName('\\052.Example.COM.')).toBe('*.example.com.');
    expect(decodeRecordName('_acme-challenge.example.com')).toBe('_acme-challenge.example.com.');
    expect(shortZoneId('/hostedzone/Z123')).toBe('Z123');
  });
});

describe('planning changes', () => {
  it('appends to a new set with our TTL', () => {
    expect(planAppend('a.example.com.', undefined, ['v1', 'v2', 'v1'], 60)).toEqual({
      Action: 'UPSERT',
      ResourceRecordSet: { Name: 'a.example.com.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"v1"' }, { Value: '"v2"' }] },
    });
  });

  it('keeps existing values exactly as read, and the shorter TTL', () => {
    const change = planAppend('x.', set(['"other"', '"long" "split"'], 3600), ['ours'], 60);
    expect(change?.ResourceRecordSet?.ResourceRecords).toEqual([{ Value: '"other"' }, { Value: '"long" "split"' }, { Value: '"ours"' }]);
    expect(change?.ResourceRecordSet?.TTL).toBe(60);
    expect(planAppend('x.', set(['"a"'], 30), ['b'], 60)?.ResourceRecordSet?.TTL).toBe(30);
  });

  it('does nothing when the value is already there', () => {
    expect(planAppend('x.', set(['"ours"']), ['ours'], 60)).toBeUndefined();
  });

  it('deletes by UPSERTing the rest, or DELETEs the set exactly as read', () => {
    expect(planDelete(set(['"a"', '"ours"']), ['ours'])).toEqual({ Action: 'UPSERT', ResourceRecordSet: { Name: '_acme-challenge.example.com.', Type: 'TXT', TTL: 300, ResourceRecords: [{ Value: '"a"' }] } });
    expect(planDelete(set(['"ours"', '"ours2"'], 77), ['ours', 'ours2'])).toEqual({ Action: 'DELETE', ResourceRecordSet: { Name: '_acme-challenge.example.com.', Type: 'TXT', TTL: 77, ResourceRecords: [{ Value: '"ours"' }, { Value: '"ours2"' }] } });
    expect(planDelete(set(['"a"']), ['ours'])).toBeUndefined();
    expect(planDelete(undefined, ['ours'])).toBeUndefined();
  });

  it('tells a changed set from an unchanged one', () => {
    const a = new Map([['n.', set(['"a"'])], ['m.', undefined]]);
    expect(sameSets(a, new Map([['n.', set(['"a"'])], ['m.', undefined]]))).toBe(true);
    expect(sameSets(a, new Map([['n.', set(['"a"', '"b"'])], ['m.', undefined]]))).toBe(false);
    expect(sameSets(a, new Map([['n.', set(['"a"'], 60)], ['m.', undefined]]))).toBe(false);
    expect(sameSets(a, new Map([['n.', undefined], ['m.', undefined]]))).toBe(false);
  });
});

describe('NameLocks', () => {
  const never = new AbortController().signal;

  it('serializes holders of one name, in arrival order', async () => {
    const locks = new NameLocks();
    const order: string[] = [];
    const run = async (label: string, keys: string[]) => {
      const release = await locks.acquire(keys, never);
      order.push(`${label}+`);
      await new Promise((r) => setTimeout(r, 10));
      order.push(`${label}-`);
      release();
    };
    await Promise.all([run('a', ['x']), run('b', ['x']), run('c', ['y'])]);
    expect(order.indexOf('a-')).toBeLessThan(order.indexOf('b+'));
    expect(order.indexOf('c+')).toBeLessThan(order.indexOf('a-')); // another name does not wait
    expect(locks.size).toBe(0);
  });

  it('never deadlocks when calls take overlapping names in different orders', async () => {
    const locks = new NameLocks();
    const hold = async (keys: string[]) => { const release = await locks.acquire(keys, never); await new Promise((r) => setTimeout(r, 5)); release(); };
    await Promise.all([hold(['a', 'b']), hold(['b', 'a']), hold(['b', 'c', 'a']), hold(['c', 'a'])]);
    expect(locks.size).toBe(0);
  });

  it('gives up on abort without blocking those queued behind', async () => {
    const locks = new NameLocks();
    const first = await locks.acquire(['x'], never);
    const controller = new AbortController();
    const waiting = locks.acquire(['x'], controller.signal);
    const third = locks.acquire(['x'], never);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    first();
    (await third)();
    expect(locks.size).toBe(0);
  });
});

describe('error text', () => {
  it('cuts the canonical request AWS echoes, and known secrets', () => {
    const text = redact("Mismatch. The Canonical String for this request should have been 'GET\nx-amz-security-token:TOKEN'", []);
    expect(text).toBe('Mismatch. [canonical request omitted]');
    expect(redact('has MYSECRETVALUE inside', ['MYSECRETVALUE'])).toBe('has [redacted] inside');
    expect(redact('AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/route53/aws4_request, Signature=abcdef', [])).not.toContain('abcdef');
  });

  it('names the provider, the action and the AWS code; throttling stays retryable', () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    const error = route53Error('GetChange C1', throttled, { secrets: [], attempts: 6 });
    expect(error.message).toBe('route53: GetChange C1 failed: Throttling (HTTP 400): Rate exceeded (after 6 attempts).');
    expect(isCertpilotError(error) && error.retryable).toBe(true);
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const permanent = route53Error('ListHostedZonesByName', denied, { secrets: [] });
    expect(isCertpilotError(permanent) && permanent.retryable).toBe(false);
    expect(permanent.message).toContain('docs/providers/route53.md');
  });

  it('is an AbortError when the signal fired', () => {
    const controller = new AbortController();
    controller.abort();
    const error = route53Error('GetChange C1', new Error('The operation was aborted'), { signal: controller.signal, secrets: [] });
    expect(isCertpilotError(error) && error.code).toBe('ABORTED');
  });
});
