/** The control loop with a fake clock: backoff that survives restarts, ARI, expiring, status. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CertificateManager } from '../../../src/manager.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import type { CertificateExpiringEvent, CertificateFailedEvent, CertificateRotatedEvent } from '../../../src/events.js';
import { FakeIssuer } from '../../helpers/fake-issuer.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const spec = { name: 'api', domains: ['api.example.test'] };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(new Date('2026-03-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

let current: FakeIssuer | undefined;

/** Moves the fake clock in steps, letting real signing work finish after each step. */
async function advance(ms: number, step = 10 * MINUTE): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await vi.advanceTimersByTimeAsync(Math.min(step, ms - t));
    await current?.idle();
    await vi.advanceTimersByTimeAsync(0);
  }
}

describe('control loop', () => {
  it('a CA down for 48 hours with 3 restarts gets no more attempts than the backoff allows', async () => {
    const store = new MemoryStore();
    const issuer = new FakeIssuer();
    current = issuer;
    // Already deep in its renewal window: 80 of 90 days gone.
    issuer.validity = { fromMs: -80 * DAY, toMs: 10 * DAY };
    let manager = new CertificateManager({ store, issuer, checkIntervalMs: 10 * MINUTE });
    await manager.provision(spec);
    const issuedAt = issuer.calls.length;
    issuer.failing = true;
    const failures: CertificateFailedEvent[] = [];
    const expiring: CertificateExpiringEvent[] = [];
    const wire = (m: CertificateManager) => {
      m.on('certificate:failed', (e) => failures.push(e));
      m.on('certificate:expiring', (e) => expiring.push(e));
    };
    wire(manager);
    manager.monitor();
    const started = Date.now();
    for (let restart = 0; restart < 3; restart++) {
      await advance(12 * HOUR);
      await manager.close();
      manager = new CertificateManager({ store, issuer, checkIntervalMs: 10 * MINUTE });
      wire(manager);
      // a restarted host provisions again: the stored certificate is served, the backoff is kept
      const served = await manager.provision(spec);
      expect(served.notAfter.getTime()).toBeGreaterThan(Date.now());
      manager.monitor();
    }
    await advance(48 * HOUR - (Date.now() - started));
    const attempts = issuer.calls.slice(issuedAt).map((t) => t - started);
    // 0, ~1 min, ~11 min, ~111 min, ~25.8 h, ~49.8 h (each step ±20 %): at most 6 attempts in 48 hours,
    // however many restarts — a restart that reset the state would retry at once and break the gaps below.
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    expect(attempts.length).toBeLessThanOrEqual(6);
    const ladder = [MINUTE, 10 * MINUTE, 100 * MINUTE, DAY];
    for (let i = 1; i < attempts.length; i++) {
      expect(attempts[i]! - attempts[i - 1]!).toBeGreaterThanOrEqual(0.8 * ladder[Math.min(i - 1, ladder.length - 1)]! - 1);
    }
    expect(failures.map((f) => f.attempt)).toEqual(attempts.map((_, i) => i + 1));
    expect(failures.every((f) => f.nextAttemptAt && f.nextAttemptAt.getTime() > Date.now() - 48 * HOUR)).toBe(true);
    // 10 days left of 90, renewal failing: past the middle of the window → expiring
    expect(expiring.length).toBe(failures.length);
    expect(expiring[0]!.expiresInMs).toBeLessThanOrEqual(10 * DAY);
    const status = manager.status()[0]!;
    expect(status).toMatchObject({ name: 'api', attempts: attempts.length, renewReason: 'retry', lastError: { code: 'ACME_SERVER_INTERNAL' } });
    expect(status.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now());
    // the CA is back: the next attempt succeeds and resets the state
    issuer.failing = false;
    issuer.validity = { fromMs: -60_000, toMs: 90 * DAY };
    const renewed = new Promise<CertificateRotatedEvent>((resolve) => manager.on('certificate:rotated', (e) => resolve(e)));
    // the pending attempt may be up to 1.2 days away (the daily step plus 20 % jitter)
    await advance(2 * DAY);
    expect((await renewed).cause).toBe('renewed');
    expect(manager.status()[0]).toMatchObject({ attempts: 0, renewReason: 'lifetime' });
    expect(manager.status()[0]!.lastError).toBeUndefined();
    await manager.close();
  });

  it('renews when the ARI window opens, and at once when the window has passed', async () => {
    const store = new MemoryStore();
    const issuer = new FakeIssuer();
    current = issuer;
    const manager = new CertificateManager({ store, issuer, checkIntervalMs: HOUR });
    const first = await manager.provision(spec);
    issuer.ari = { start: new Date(Date.now() + 2 * DAY), end: new Date(Date.now() + 2 * DAY + HOUR), retryAfter: new Date(Date.now() + 6 * HOUR) };
    const causes: string[] = [];
    manager.on('certificate:rotated', (e) => causes.push(e.cause));
    manager.monitor();
    await advance(HOUR);
    expect(manager.status()[0]).toMatchObject({ renewReason: 'ari' });
    expect(manager.status()[0]!.renewAt!.getTime()).toBeGreaterThanOrEqual(issuer.ari.start.getTime());
    expect(causes).toEqual([]);
    await advance(2 * DAY + 2 * HOUR, HOUR);
    expect(causes).toEqual(['renewed']);
    expect(manager.get('api')!.serialNumber).not.toBe(first.serialNumber);
    // a window in the past: the CA wants it replaced now (a revocation) → replaced at once, as revoked
    issuer.ari = { start: new Date(Date.now() - 2 * DAY), end: new Date(Date.now() - DAY), retryAfter: new Date(Date.now() + HOUR) };
    // a CA without ARI for the new certificate is asked again after a day
    await advance(DAY + 2 * HOUR, HOUR);
    expect(causes).toEqual(['renewed', 'revoked']);
    await manager.close();
  });

  it('a listener that throws does not break the loop', async () => {
    const issuer = new FakeIssuer();
    current = issuer;
    issuer.validity = { fromMs: -60_000, toMs: 4 * HOUR };
    const manager = new CertificateManager({ store: new MemoryStore(), issuer, checkIntervalMs: HOUR });
    const errors: string[] = [];
    manager.on('error', (e) => errors.push(e.context));
    manager.on('certificate:rotated', () => { throw new Error('listener bug'); });
    await manager.provision(spec);
    manager.monitor();
    await advance(6 * HOUR, 30 * MINUTE);
    expect(issuer.calls.length).toBeGreaterThanOrEqual(3);
    expect(errors.filter((c) => c.includes('certificate:rotated')).length).toBe(issuer.calls.length);
    await manager.close();
  });
});
