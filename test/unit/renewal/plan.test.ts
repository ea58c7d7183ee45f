import { describe, expect, it } from 'vitest';
import { planRenewal, spreadFraction } from '../../../src/renewal/plan.js';
import { renewalTime } from '../../../src/renewal/window.js';
import { backoffDelay } from '../../../src/renewal/backoff.js';
import { parseRenewalInfo, certId, authorityKeyIdentifier } from '../../../src/acme/ari.js';
import { createCa, issueCertificate } from '../../helpers/selfsigned.js';
import { X509Certificate } from 'node:crypto';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const start = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);

describe('lifetime ratio', () => {
  it.each([
    ['90 days', 90 * DAY, 60 * DAY],
    ['45 days', 45 * DAY, 30 * DAY],
    ['160 hours', 160 * HOUR, 80 * HOUR],
    ['10 days', 10 * DAY, 5 * DAY],
    ['11 days', 11 * DAY, (11 * DAY * 2) / 3],
  ])('%s renews at the ratio point plus its spread', (_label, lifetime, ratioPoint) => {
    expect(renewalTime(start, at(lifetime)).getTime()).toBeCloseTo(start.getTime() + ratioPoint, -1);
    const plan = planRenewal({ notBefore: start, notAfter: at(lifetime), serialNumber: 'abc123', now: start.getTime() });
    expect(plan.reason).toBe('lifetime');
    const remaining = lifetime - ratioPoint;
    expect(plan.at.getTime()).toBeGreaterThanOrEqual(start.getTime() + ratioPoint - 1);
    expect(plan.at.getTime()).toBeLessThanOrEqual(start.getTime() + ratioPoint + 0.1 * remaining + 1);
  });

  it('renewBefore as a ratio or a duration', () => {
    expect(renewalTime(start, at(90 * DAY), { renewBefore: 0.5 }).getTime()).toBe(start.getTime() + 45 * DAY);
    expect(renewalTime(start, at(90 * DAY), { renewBefore: 7 * DAY }).getTime()).toBe(start.getTime() + 83 * DAY);
    // a duration longer than the lifetime means "renew at once"
    expect(renewalTime(start, at(DAY), { renewBefore: 7 * DAY }).getTime()).toBe(start.getTime());
  });

  it('spreads certificates across the window but keeps each stable', () => {
    const fractions = Array.from({ length: 200 }, (_, i) => spreadFraction(`serial${i}`));
    expect(new Set(fractions.map((f) => Math.floor(f * 10))).size).toBe(10);
    expect(spreadFraction('abc')).toBe(spreadFraction('abc'));
  });
});

describe('ARI and retries', () => {
  const base = { notBefore: start, notAfter: at(90 * DAY), serialNumber: 'ff01' };

  it('follows the ARI window', () => {
    const ari = { start: at(50 * DAY), end: at(52 * DAY) };
    const plan = planRenewal({ ...base, ari, now: start.getTime() });
    expect(plan.reason).toBe('ari');
    expect(plan.at.getTime()).toBeGreaterThanOrEqual(ari.start.getTime());
    expect(plan.at.getTime()).toBeLessThanOrEqual(ari.end.getTime());
  });

  it('a window in the past means renew now', () => {
    const now = at(10 * DAY).getTime();
    const plan = planRenewal({ ...base, ari: { start: at(DAY), end: at(2 * DAY) }, now });
    expect(plan).toEqual({ at: new Date(now), reason: 'ari-window-passed' });
  });

  it('the lifetime ratio is the floor when ARI suggests too late', () => {
    const plan = planRenewal({ ...base, ari: { start: at(88 * DAY), end: at(89 * DAY) }, now: start.getTime() });
    expect(plan.reason).toBe('lifetime');
    expect(plan.at.getTime()).toBe(start.getTime() + 75 * DAY); // middle of the 60–90 day window
  });

  it('a pending backoff postpones the attempt', () => {
    const next = at(70 * DAY);
    expect(planRenewal({ ...base, nextAttemptAt: next, now: start.getTime() })).toEqual({ at: next, reason: 'retry' });
  });

  it('the backoff ladder is front-loaded, jittered, and capped at a day', () => {
    expect(backoffDelay(1, () => 0.5)).toBe(60_000);
    expect(backoffDelay(2, () => 0.5)).toBe(600_000);
    expect(backoffDelay(3, () => 0.5)).toBe(6_000_000);
    expect(backoffDelay(4, () => 0.5)).toBe(DAY);
    expect(backoffDelay(40, () => 0.5)).toBe(DAY);
    expect(backoffDelay(1, () => 0)).toBe(48_000);
    expect(backoffDelay(1, () => 0.999999)).toBeLessThanOrEqual(72_000);
  });

  it('parses renewalInfo answers, clamps Retry-After and refuses malformed ones', () => {
    const now = start.getTime();
    const good = parseRenewalInfo(200, { suggestedWindow: { start: at(DAY).toISOString(), end: at(2 * DAY).toISOString() }, explanationURL: 'https://ca.example/why' }, '30', now);
    expect(good.start).toEqual(at(DAY));
    expect(good.retryAfter.getTime()).toBe(now + 60_000); // 30 s → clamped to 1 minute
    expect(good.explanationURL).toBe('https://ca.example/why');
    expect(parseRenewalInfo(200, JSON.stringify({ suggestedWindow: { start: at(DAY), end: at(2 * DAY) } }), '999999', now).retryAfter.getTime()).toBe(now + DAY);
    expect(parseRenewalInfo(200, { suggestedWindow: { start: at(DAY), end: at(2 * DAY) } }, undefined, now).retryAfter.getTime()).toBe(now + 6 * HOUR);
    for (const bad of [{}, { suggestedWindow: { start: 'x', end: 'y' } }, { suggestedWindow: { start: at(2 * DAY), end: at(DAY) } }, 'not json', null]) {
      expect(() => parseRenewalInfo(200, bad, undefined, now)).toThrow(expect.objectContaining({ code: 'ACME_MALFORMED' }));
    }
    expect(() => parseRenewalInfo(404, {}, undefined, now)).toThrow(expect.objectContaining({ code: 'ACME_ERROR' }));
  });

  it('has no CertID for a certificate without an Authority Key Identifier', async () => {
    const ca = await createCa();
    const leaf = await issueCertificate(ca, { name: 'x', domains: ['x.example.test'] });
    expect(authorityKeyIdentifier(new X509Certificate(leaf.cert).raw)).toBeUndefined();
    expect(certId(leaf.cert)).toBeUndefined();
  });
});
