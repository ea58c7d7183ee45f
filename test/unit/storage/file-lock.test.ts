import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../../src/storage/file.js';
import { lockFilePath } from '../../../src/storage/file-lock.js';
import { suspendRenewal } from '../../../src/storage/lease.js';
import { expectCode } from '../../helpers/store-conformance.js';

const worker = fileURLToPath(new URL('./lock-worker.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const temps: string[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
const newStore = () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'certpilot-lock-'));
  temps.push(directory);
  const store = new FileStore({ directory });
  cleanups.push(() => store.close());
  return { directory, store };
};
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const dir of temps.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

const readLock = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { token: string; expiresAt: number; pid: number; host: string; key: string };
const writeLock = (file: string, record: object) => writeFileSync(file, JSON.stringify(record));

/** Runs the worker in its own Node process. */
function runWorker(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exit, output: () => output };
}

describe('FileStore locks', () => {
  it('keeps { token, expiresAt, pid, host } in .locks~/, renews expiresAt, removes the file on release', async () => {
    const { directory, store } = newStore();
    const lock = await store.lock('certificates/api', { ttlMs: 300 });
    const file = lockFilePath(directory, 'certificates/api');
    expect(path.dirname(file)).toBe(path.join(directory, '.locks~'));
    const first = readLock(file);
    expect(first).toMatchObject({ token: lock.token, pid: process.pid, host: os.hostname(), key: 'certificates/api' });
    await sleep(250);
    const renewed = readLock(file);
    expect(renewed.token).toBe(lock.token);
    expect(renewed.expiresAt).toBeGreaterThan(first.expiresAt);
    await lock.release();
    expect(readdirSync(path.dirname(file))).toEqual([]);
  });

  it('takes over an expired lock file left by a dead process', async () => {
    const { directory, store } = newStore();
    await store.ready();
    const file = lockFilePath(directory, 'orders/api');
    writeLock(file, { token: 'dead-owner', expiresAt: Date.now() - 1000, pid: 999_999, host: 'gone', key: 'orders/api' });
    const started = Date.now();
    const lock = await store.lock('orders/api', { waitMs: 2000 });
    expect(Date.now() - started).toBeLessThan(200);
    expect(readLock(file).token).toBe(lock.token);
    await lock.release();
    expect(readdirSync(path.dirname(file))).toEqual([]); // no stale or temp files left behind
  });

  it('waits for a live foreign lock and times out naming the key and the holder', async () => {
    const { directory, store } = newStore();
    await store.ready();
    const file = lockFilePath(directory, 'orders/api');
    writeLock(file, { token: 'alive', expiresAt: Date.now() + 60_000, pid: 4242, host: 'other-host', key: 'orders/api' });
    const error = await expectCode(store.lock('orders/api', { waitMs: 150 }), 'LOCK_TIMEOUT');
    expect(error.message).toContain('"orders/api"');
    expect(error.message).toContain('pid 4242 on other-host');
    expect(readLock(file).token).toBe('alive');
  });

  it('treats an unreadable lock file as held until ttl after its mtime', async () => {
    const { directory, store } = newStore();
    await store.ready();
    const file = lockFilePath(directory, 'k');
    writeFileSync(file, ''); // a creator that crashed before writing its record
    await expectCode(store.lock('k', { ttlMs: 10_000, waitMs: 80 }), 'LOCK_TIMEOUT');
    const past = new Date(Date.now() - 60_000);
    utimesSync(file, past, past);
    const lock = await store.lock('k', { ttlMs: 10_000, waitMs: 500 });
    await lock.release();
  });

  it('fires `lost` when someone else owns the file, and release never deletes their lock', async () => {
    const { directory, store } = newStore();
    const lock = await store.lock('k', { ttlMs: 300 });
    const file = lockFilePath(directory, 'k');
    const foreign = { token: 'intruder', expiresAt: Date.now() + 60_000, pid: 1, host: 'h', key: 'k' };
    writeLock(file, foreign);
    await sleep(250);
    expect(lock.lost.aborted).toBe(true);
    await expectCode(lock.release(), 'LOCK_NOT_OWNED');
    expect(readLock(file)).toEqual(foreign);
  });

  it('refuses release by a taken-over holder across instances and keeps the new owner\'s file', async () => {
    const { directory, store } = newStore();
    const other = new FileStore({ directory });
    cleanups.push(() => other.close());
    const old = await store.lock('k', { ttlMs: 100 });
    suspendRenewal(old);
    const owner = await other.lock('k', { waitMs: 2000 });
    await expectCode(old.release(), 'LOCK_NOT_OWNED');
    expect(readLock(lockFilePath(directory, 'k')).token).toBe(owner.token);
    await owner.release();
  });

  it('recreates a lock directory removed behind its back', async () => {
    const { directory, store } = newStore();
    await store.ready();
    await fs.rm(path.join(directory, '.locks~'), { recursive: true });
    await (await store.lock('k', { waitMs: 0 })).release();
  });

  it('releases held locks on close', async () => {
    const { directory, store } = newStore();
    await store.lock('a');
    await store.lock('b');
    await store.close();
    expect(readdirSync(path.join(directory, '.locks~'))).toEqual([]);
    await expectCode(store.lock('c'), 'CLOSED');
  });

  it('hashes lock file names of very long keys to stay under NAME_MAX', async () => {
    const { directory, store } = newStore();
    const key = Array.from({ length: 40 }, (_, i) => `segment-${i}`).join('/');
    const lock = await store.lock(key);
    expect(path.basename(lockFilePath(directory, key)).length).toBeLessThan(255);
    await lock.release();
  });

  it('excludes other processes: contending workers never overlap while appending', async () => {
    const { directory } = newStore();
    const log = path.join(directory, '..', `${path.basename(directory)}.log`);
    temps.push(log);
    const rounds = 10;
    const workers = ['w1', 'w2', 'w3'].map((id) => runWorker(['contend', directory, log, id, String(rounds)]));
    for (let i = 0; i < 300 && !workers.every((w) => w.output().includes('ready')); i++) await sleep(50);
    writeFileSync(`${log}.go`, '');
    temps.push(`${log}.go`);
    const codes = await Promise.all(workers.map((w) => w.exit));
    expect(codes, workers.map((w) => w.output()).join('\n')).toEqual([0, 0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3 * rounds * 2);
    for (let i = 0; i < lines.length; i += 2) {
      const [start, end] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
      expect(start[0]).toBe('start');
      expect(end[0]).toBe('end');
      expect(end.slice(1)).toEqual(start.slice(1)); // the same worker and round: no interleaving
    }
    expect(new Set(lines.map((line) => line.split(' ')[3])).size).toBe(3);
    // The workers really contended: the lock changed hands between processes several times.
    const owners = lines.filter((_, i) => i % 2 === 0).map((line) => line.split(' ')[1]);
    expect(owners.filter((owner, i) => i > 0 && owner !== owners[i - 1]).length).toBeGreaterThan(3);
  });

  it('takes over the lock of a process killed with SIGKILL once its lease expires', async () => {
    const { directory, store } = newStore();
    const holder = runWorker(['hold', directory, '800']);
    for (let i = 0; i < 200 && !holder.output().includes('locked'); i++) await sleep(50);
    expect(holder.output()).toContain('locked');
    await expectCode(store.lock('shared/resource', { waitMs: 100 }), 'LOCK_TIMEOUT');
    holder.child.kill('SIGKILL');
    await holder.exit;
    const started = Date.now();
    const lock = await store.lock('shared/resource', { waitMs: 5000 });
    expect(Date.now() - started).toBeLessThan(1500);
    await lock.release();
  });
});
