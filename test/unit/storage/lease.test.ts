import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LockError } from '../../../src/errors.js';
import { acquire, Lease, type LeaseBackend } from '../../../src/storage/lease.js';
import { expectCode } from '../../helpers/store-conformance.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

function lease(backend: Partial<LeaseBackend>, ttlMs = 3000) {
  const full: LeaseBackend = { renew: async () => true, release: async () => true, ...backend };
  return new Lease({ key: 'k', token: 't', ttlMs, expiresAt: Date.now() + ttlMs, backend: full });
}

describe('Lease', () => {
  it('renews every third of its TTL with a fresh expiry', async () => {
    const renewals: number[] = [];
    const held = lease({ renew: async (expiresAt) => { renewals.push(expiresAt - Date.now()); return true; } });
    await vi.advanceTimersByTimeAsync(3100);
    expect(renewals).toEqual([3000, 3000, 3000]);
    await held.release();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(renewals).toHaveLength(3);
  });

  it('aborts `lost` with LOCK_NOT_OWNED when renewal finds another owner', async () => {
    const held = lease({ renew: async () => false, release: async () => false });
    await vi.advanceTimersByTimeAsync(1000);
    expect(held.lost.aborted).toBe(true);
    expect((held.lost.reason as LockError).code).toBe('LOCK_NOT_OWNED');
    await expectCode(held.release(), 'LOCK_NOT_OWNED');
  });

  it('retries transient renewal errors and gives up only when the lease has run out', async () => {
    let calls = 0;
    const held = lease({ renew: async () => { calls++; throw new Error('EIO'); } });
    await vi.advanceTimersByTimeAsync(2000);
    expect(held.lost.aborted).toBe(false);
    expect(calls).toBeGreaterThan(2); // retried sooner than ttl/3
    await vi.advanceTimersByTimeAsync(1000);
    expect(held.lost.aborted).toBe(true);
  });

  it('gives up instead of renewing when its timer fired too late (a stalled process)', async () => {
    const renew = vi.fn(async () => true);
    const held = lease({ renew });
    vi.setSystemTime(Date.now() + 5000); // the clock jumps past the expiry before the timer runs
    await vi.advanceTimersByTimeAsync(1000);
    expect(renew).not.toHaveBeenCalled();
    expect(held.lost.aborted).toBe(true);
  });

  it('waits for an in-flight renewal before releasing', async () => {
    const order: string[] = [];
    let finishRenewal!: () => void;
    const held = lease({
      renew: () => new Promise((resolve) => { order.push('renew:start'); finishRenewal = () => { order.push('renew:end'); resolve(true); }; }),
      release: async () => { order.push('release'); return true; },
    });
    await vi.advanceTimersByTimeAsync(1000);
    const released = held.release();
    await vi.advanceTimersByTimeAsync(10);
    finishRenewal();
    await released;
    expect(order).toEqual(['renew:start', 'renew:end', 'release']);
  });

  it('returns the first outcome on a second release, but lets a failed I/O release be retried', async () => {
    let fail = true;
    const release = vi.fn(async () => { if (fail) throw new Error('EIO'); return true; });
    const held = lease({ release });
    await expect(held.release()).rejects.toThrow('EIO');
    fail = false;
    await held.release();
    await held.release();
    expect(release).toHaveBeenCalledTimes(2);
  });
});

describe('acquire', () => {
  it('polls starting at 10 ms, backing off to 250 ms, then fails with LOCK_TIMEOUT', async () => {
    const times: number[] = [];
    const start = Date.now();
    const pending = acquire('busy', { waitMs: 2000 }, async () => { times.push(Date.now() - start); return { holder: 'pid 1 on h' }; });
    const outcome = expectCode(pending, 'LOCK_TIMEOUT');
    await vi.advanceTimersByTimeAsync(2100);
    const error = await outcome;
    expect(error.message).toContain('"busy"');
    expect(error.message).toContain('held by pid 1 on h');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 3)).toEqual([10, 15, 23]);
    expect(Math.max(...gaps)).toBe(250);
    expect(times.at(-1)).toBe(2000); // one last try at the deadline
  });

  it('tries exactly once with waitMs 0', async () => {
    const attempt = vi.fn(async () => ({}));
    await expectCode(acquire('k', { waitMs: 0 }, attempt), 'LOCK_TIMEOUT');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('releases a lock won after the caller aborted', async () => {
    const controller = new AbortController();
    const release = vi.fn(async () => true);
    const pending = acquire('k', { signal: controller.signal }, async () => {
      controller.abort();
      return { lock: lease({ release }) };
    });
    await expectCode(pending, 'ABORTED');
    expect(release).toHaveBeenCalledOnce();
  });
});
