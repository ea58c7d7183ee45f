/**
 * The lease protocol behind {@link RedisStore.lock}, on top of the shared
 * lease logic in lease.ts (wait loop, renewal every third of the TTL,
 * `lost`):
 *
 * - take: `SET <prefix>lock:<key> <value> NX PX <ttl>` — exactly one
 *   contender gets `OK`; an expired lock has simply vanished, so takeover
 *   needs no separate step;
 * - renew: Lua compare-and-PEXPIRE (redis-scripts.ts), bounded by a short
 *   timeout so an outage makes the lease run out instead of hanging;
 * - release: Lua compare-and-delete; a non-owner deletes nothing and gets
 *   `LOCK_NOT_OWNED` (from Lease).
 *
 * The value is `{"token","host","pid"}` JSON; the whole string is what the
 * scripts compare, host and pid only make LOCK_TIMEOUT messages useful.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { acquire, Lease, LockWaiters } from './lease.js';
import { exec, type RedisClient } from './redis-client.js';
import { RELEASE_LOCK, RENEW_LOCK, runScript } from './redis-scripts.js';
import type { StoreLockOptions } from './store.js';

/** Shared by every RedisStore in the process, so contenders in one process wake on release instead of polling. */
const waiters = new LockWaiters();

/** What {@link takeLock} needs from its store. */
export interface RedisLockContext {
  /** The store key being locked. */
  key: string;
  /** The Redis key of the lock (`<prefix>lock:<key>`). */
  lockKey: string;
  /** Identifies the lock among every server and prefix in the process, for in-process wake-ups. */
  wakeId: string;
  /** The store's bound on one command. */
  commandTimeoutMs: number;
  /** The store's set of held leases (released by `close()`). */
  held: Set<Lease>;
  /** Runs one command as the store does (typed errors, bounded wait); `evenIfClosed` lets release run during `close()`. */
  run<T>(operation: string, command: (client: RedisClient) => Promise<T>, timeoutMs?: number, evenIfClosed?: boolean): Promise<T>;
}

/** Takes the lock described by `ctx`, waiting and polling as lease.ts's `acquire` does. */
export function takeLock(ctx: RedisLockContext, options: StoreLockOptions | undefined): Promise<Lease> {
  const { key, lockKey, run } = ctx;
  return acquire(key, options, async (ttlMs) => {
    const token = randomUUID();
    const value = JSON.stringify({ token, host: os.hostname(), pid: process.pid });
    // Measured before the SET: our idea of the expiry must never be later than the server's.
    const started = Date.now();
    const taken = await run('lock', (c) => c.set(lockKey, value, 'PX', Math.ceil(ttlMs), 'NX'));
    if (taken !== 'OK') return { holder: await holder(ctx) };
    // Renewals must fail fast during an outage so the lease can run out and abort `lost`.
    const renewTimeout = Math.min(ctx.commandTimeoutMs, Math.max(50, Math.floor(ttlMs / 4)));
    const lease: Lease = new Lease({
      key, token, ttlMs, expiresAt: started + ttlMs,
      backend: {
        renew: async (expiresAt) => {
          const ms = Math.max(1, Math.ceil(expiresAt - Date.now()));
          return Number(await run('renew the lock on', (c) => runScript(c, RENEW_LOCK, [lockKey], [value, ms]), renewTimeout)) === 1;
        },
        release: async () => {
          try {
            return Number(await run('unlock', (c) => runScript(c, RELEASE_LOCK, [lockKey], [value]), undefined, true)) === 1;
          } finally {
            waiters.notify(ctx.wakeId);
          }
        },
      },
      onEnd: (ended) => ctx.held.delete(ended),
    });
    ctx.held.add(lease);
    return { lock: lease };
  }, { registry: waiters, id: ctx.wakeId });
}

/** Who holds the lock, for LOCK_TIMEOUT messages (`pid 4242 on web-3, lease expiring in 12 s`). */
async function holder(ctx: RedisLockContext): Promise<string | undefined> {
  try {
    const [value, pttl] = await ctx.run('inspect the lock', (c) => exec(c.multi().get(ctx.lockKey).pttl(ctx.lockKey)));
    const owner = JSON.parse(String(value)) as { host?: string; pid?: number } | null;
    if (!owner) return undefined;
    return `pid ${owner.pid} on ${owner.host}, lease expiring in ${Math.max(0, Math.ceil(Number(pttl) / 1000))} s`;
  } catch {
    return undefined; // a foreign value, or the lock vanished meanwhile
  }
}
