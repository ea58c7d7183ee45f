/**
 * Fleets: many certpilot processes on one RedisStore, against a real Pebble
 * and redis-server. Each instance is its own Node process (test/fleet/worker.ts)
 * so locks, leases and pub/sub cross real process boundaries, and a SIGKILL
 * is a real crash.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/storage/redis.js';
import { txtValues } from '../fleet/exact-challtestsrv.js';
import { normalizeSerial, servedSerial, whenServed, Worker } from '../fleet/fleet.js';
import type { WorkerConfig } from '../fleet/protocol.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startRedis, type Redis } from '../helpers/redis.js';

const LOCK_TTL_MS = 2000;
let pebble: Pebble;
let redis: Redis;
let inspector: RedisStore;
const workers: Worker[] = [];

beforeAll(async () => {
  [pebble, redis] = await Promise.all([startPebble(), startRedis()]);
  inspector = new RedisStore({ url: redis.url, prefix: 'fleet:' });
});
afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()));
  await inspector?.close();
  await Promise.all([pebble?.stop(), redis?.stop()]);
});

/** Worker settings for `name`; `issuer: false` makes a follower. */
function config(name: string, options: { issuer?: boolean; hangAfterPresent?: boolean; ca?: Pebble } = {}): WorkerConfig {
  const ca = options.ca ?? pebble;
  return {
    redisUrl: redis.url,
    prefix: 'fleet:',
    name,
    domains: [`${name}.fleet.test`],
    lockTtlMs: LOCK_TTL_MS,
    // Far longer than any assertion below: only pub/sub can explain a fast switch.
    checkIntervalMs: 60_000,
    ...(options.issuer === false ? {} : {
      acme: { directoryUrl: ca.directoryUrl, caPem: ca.caPem, managementUrl: ca.challtestsrv!.managementUrl, dnsServer: ca.dnsServer },
    }),
    ...(options.hangAfterPresent ? { hangAfterPresent: true } : {}),
  };
}

async function start(count: number, cfg: WorkerConfig, label: string): Promise<Worker[]> {
  const started = await Promise.all(Array.from({ length: count }, (_, i) => Worker.start(cfg, `${label}-${i}`)));
  workers.push(...started);
  return started;
}

describe('a fleet on one RedisStore', () => {
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  it('10 processes provision the same name at once: Pebble sees one order, all 10 serve one serial', async () => {
    const fleet = await start(10, config('once'), 'provisioner');
    const orders = pebble.orderCount();
    const issued = pebble.issuedSerials().length;
    const replies = await Promise.all(fleet.map((w) => w.request('provision', 90_000)));
    expect(pebble.orderCount() - orders).toBe(1);
    expect(pebble.issuedSerials().length - issued).toBe(1);
    const serials = new Set(replies.map((r) => normalizeSerial(r.serial!)));
    expect(serials.size).toBe(1);
    const [serial] = serials;
    expect(serial).toBe(normalizeSerial(pebble.issuedSerials().at(-1)!));
    const ports = await Promise.all(fleet.map((w) => w.request('serve')));
    const served = await Promise.all(ports.map((p) => servedSerial(p.port!, 'once.fleet.test')));
    expect(new Set(served)).toEqual(new Set([serial]));
    // One version in the store, one issuer: the nine others took the stored result.
    const versions = new Set((await inspector.list('certificates/once')).map((k) => k.split('/')[2]));
    expect(versions.size).toBe(1);
  });

  it('a SIGKILLed lock holder: another process finishes after the lease, one certificate, no orphaned TXT record', async () => {
    const name = 'crash';
    const host = `_acme-challenge.${name}.fleet.test.`;
    const issued = pebble.issuedSerials().length;
    const [victim] = await start(1, config(name, { hangAfterPresent: true }), 'victim');
    const survivors = await start(2, config(name), 'survivor');

    void victim!.request('provision').catch(() => undefined); // never answers: killed below
    await victim!.waitFor((m) => m.type === 'presented', 30_000, 'the victim presenting its record');
    const orphan = await txtValues(pebble.dnsServer, host);
    expect(orphan).toHaveLength(1); // the record a crash would leave behind
    expect(await inspector.list(`challenges/${name}`)).toHaveLength(1); // journaled before it was created

    const results = survivors.map((w) => w.request('provision', 60_000));
    await new Promise((r) => setTimeout(r, 500));
    expect(survivors.every((w) => w.of('presented').length === 0)).toBe(true); // still locked out by the live victim
    const killedAt = Date.now();
    await victim!.kill();
    const replies = await Promise.all(results);
    const finishedAt = Math.max(...replies.map((r) => r.at));

    // The lease had to run out first; then one survivor did the work and the other took its result.
    expect(finishedAt - killedAt).toBeGreaterThan(LOCK_TTL_MS / 2);
    expect(finishedAt - killedAt).toBeLessThan(LOCK_TTL_MS + 10_000);
    expect(new Set(replies.map((r) => r.serial)).size).toBe(1);
    expect(pebble.issuedSerials().length - issued).toBe(1);
    const orderers = survivors.filter((w) => w.of('presented').length > 0);
    expect(orderers).toHaveLength(1);
    expect(orderers[0]!.of('recovered')[0]).toMatchObject({ records: 1, kept: 0 });
    const versions = new Set((await inspector.list(`certificates/${name}`)).map((k) => k.split('/')[2]));
    expect(versions.size).toBe(1);
    expect(await inspector.getPointer(`certificates/${name}/current`)).toBe([...versions][0]);

    // Neither the victim's record nor the survivor's own is left, and the journal is empty.
    expect(await txtValues(pebble.dnsServer, host)).toEqual([]);
    expect(await inspector.list(`challenges/${name}`)).toEqual([]);
  });
});

describe('rotation across the fleet', () => {
  const name = 'roll';
  const domain = `${name}.fleet.test`;
  let issuer: Worker;
  let followers: Worker[];
  let ports: number[];

  beforeAll(async () => {
    issuer = (await start(1, config(name), 'issuer'))[0]!;
    followers = await start(4, config(name, { issuer: false }), 'follower');
    await issuer.request('provision');
    ports = [(await issuer.request('serve')).port!];
    for (const follower of followers) {
      ports.push((await follower.request('serve')).port!);
      await follower.request('monitor');
    }
  });

  it('reaches every other process\'s HTTPS server within one second', async () => {
    const before = normalizeSerial(issuer.of('rotated').at(-1)!.serial);
    expect(await Promise.all(ports.map((p) => servedSerial(p, domain)))).toEqual(ports.map(() => before));

    const rotated = await issuer.request('rotate');
    expect(normalizeSerial(rotated.serial!)).not.toBe(before);
    const seenAt = await Promise.all(ports.map((p) => whenServed(p, domain, rotated.serial!, 5000)));
    const delays = seenAt.map((t) => Math.max(0, t - rotated.at));
    expect(Math.max(...delays)).toBeLessThan(1000);
    for (const follower of followers) {
      const event = follower.of('rotated').at(-1)!;
      expect(normalizeSerial(event.serial)).toBe(normalizeSerial(rotated.serial!));
      expect(event.cause).toBe('remote');
    }
  });

  it('survives a Redis restart: keeps serving, reconnects, and picks up the next rotation', async () => {
    const current = normalizeSerial(issuer.of('rotated').at(-1)!.serial);
    await redis.restart(); // no persistence: the store comes back empty
    expect(await Promise.all(ports.map((p) => servedSerial(p, domain)))).toEqual(ports.map(() => current));

    // Every follower's subscriber is back (ioredis reconnects; the store subscribes again on ready).
    const deadline = Date.now() + 15_000;
    const { Redis: IORedis } = await import('ioredis');
    const raw = new IORedis(redis.url);
    try {
      while (Number(((await raw.pubsub('NUMSUB', 'fleet:changes')) as [string, number])[1]) < followers.length) {
        if (Date.now() > deadline) throw new Error('the followers did not resubscribe within 15 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      raw.disconnect();
    }

    const rotated = await issuer.request('rotate');
    const seenAt = await Promise.all(ports.map((p) => whenServed(p, domain, rotated.serial!, 5000)));
    expect(Math.max(...seenAt.map((t) => t - rotated.at))).toBeLessThan(1000);
    expect(await Promise.all(ports.map((p) => servedSerial(p, domain)))).toEqual(ports.map(() => normalizeSerial(rotated.serial!)));
  });
});

describe('renewal in a fleet of issuers', () => {
  let shortLived: Pebble;
  beforeAll(async () => { shortLived = await startPebble({ certificateValidityPeriod: 16 }); });
  afterAll(async () => { await shortLived?.stop(); });

  // Control-loop renewals re-check the store under the lock, so of 3 issuers only the first orders.
  it('renews each certificate once, however many issuer instances run the control loop', async () => {
    const fleet = await start(3, config('renew', { ca: shortLived }), 'renewer');
    const [first] = await Promise.all(fleet.map((w) => w.request('provision')));
    await Promise.all(fleet.map((w) => w.request('monitor')));
    expect(shortLived.issuedSerials()).toHaveLength(1);
    // 16 s certificates renew at half their lifetime (+ a spread of up to 10 % of the rest).
    await Promise.all(fleet.map((w) => w.waitFor((m) => m.type === 'rotated' && m.serial !== first!.serial, 20_000, 'the renewal')));
    await new Promise((r) => setTimeout(r, 2 * LOCK_TTL_MS)); // time for any duplicate order to show up
    expect(shortLived.issuedSerials()).toHaveLength(2);
    const causes = fleet.map((w) => w.of('rotated').at(-1)!.cause).sort();
    expect(causes).toEqual(['remote', 'remote', 'renewed']);
  }, 60_000);
});
