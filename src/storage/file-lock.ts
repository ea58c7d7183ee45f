/**
 * The lock-file protocol behind {@link FileStore.lock}. One JSON file per
 * locked key under `<directory>/.locks~/`, holding `{ token, expiresAt, pid,
 * host, key }`, shared by every process (and host, on a network file system)
 * that uses the directory.
 *
 * - Create: `open(O_CREAT | O_EXCL)`, so exactly one contender wins.
 * - Renew: read, check the token, write a new `expiresAt` to a temp file and
 *   rename it over the lock.
 * - Take over an expired lock or release one's own: rename the file to a
 *   unique scratch name, check that what was moved is byte-for-byte the file
 *   that was judged stale (or ours), and only then delete it. If a fresh lock
 *   was moved by mistake it is linked back (`link` never overwrites).
 *
 * Remaining race (inherent to leases on a plain file system, as in certmagic):
 * an owner frozen for longer than its lease (debugger, VM pause, a clock
 * jump) may wake and write its renewal just as a contender has judged the
 * lease expired. Each side then believes it owns the lock until the next
 * renewal, where the loser sees a foreign token and aborts `lost`. A
 * contender that moves back a lock while a third party creates a new one
 * also makes the original owner lose. Hosts sharing a directory must keep
 * their clocks in sync (expiry is wall-clock time); pick `ttlMs` well above
 * the longest pause you expect.
 *
 * The owner's pid and host are recorded for diagnostics only: they are not
 * used to break a lock early, because containers sharing a volume can see
 * the same hostname with unrelated pid namespaces.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, scratchPath, writeFileAtomic } from './atomic-file.js';

/** Directory (below the store's directory) that holds lock files. Contains `~`, so no key can name it. */
export const LOCK_DIRECTORY = '.locks~';

/** The content of a lock file. */
export interface LockRecord {
  /** Random owner token. */
  token: string;
  /** Milliseconds since the epoch after which the lock may be taken over. */
  expiresAt: number;
  /** Owner's process id (diagnostics only). */
  pid: number;
  /** Owner's host name (diagnostics only). */
  host: string;
  /** The locked key (diagnostics: lock file names may be hashed). */
  key: string;
}

/** What a contender saw when it looked at a lock file. */
interface Observed {
  raw: Buffer;
  record: LockRecord | undefined;
  expiresAt: number;
}

/** The lock file for `key` in a store rooted at `directory`. */
export function lockFilePath(directory: string, key: string): string {
  // `/` becomes `%2F`; keys never contain `%`, so the mapping is one-to-one.
  let name = encodeURIComponent(key);
  if (name.length > 180) name = `${name.slice(0, 100)}~${createHash('sha256').update(key).digest('hex')}`;
  return path.join(directory, LOCK_DIRECTORY, `${name}.lock`);
}

/** A human description of a lock holder for `LOCK_TIMEOUT` messages. */
export function describeHolder(record: LockRecord | undefined): string | undefined {
  if (!record) return undefined;
  const seconds = Math.max(0, Math.ceil((record.expiresAt - Date.now()) / 1000));
  return `pid ${record.pid} on ${record.host}, lease expiring in ${seconds} s`;
}

/**
 * One attempt to take the lock at `file`. Resolves `acquired: true` when we
 * now own it; otherwise reports the current holder. Expired locks are
 * taken over here.
 */
export async function tryCreateLock(file: string, record: LockRecord, ttlMs: number): Promise<{ acquired: boolean; holder?: LockRecord }> {
  for (let round = 0; round < 4; round++) {
    try {
      await createExclusive(file, record);
      return { acquired: true };
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    const seen = await observe(file, ttlMs);
    if (!seen) continue; // released between our create and our read
    if (seen.expiresAt > Date.now()) return { acquired: false, ...(seen.record ? { holder: seen.record } : {}) };
    await removeIfUnchanged(file, seen.raw);
  }
  // Lost every round to other contenders: let the caller wait and retry.
  return { acquired: false };
}

/** Moves the expiry of our lock at `file` to `expiresAt`; `false` when the token is no longer ours. */
export async function renewLock(file: string, token: string, expiresAt: number): Promise<boolean> {
  const seen = await observe(file, 0);
  if (seen?.record?.token !== token) return false;
  // Durability does not matter for a lease: after a crash it expires anyway.
  await writeFileAtomic(file, Buffer.from(JSON.stringify({ ...seen.record, expiresAt })), { mode: 0o600, durable: false });
  return true;
}

/** Deletes our lock at `file`; `false` (deleting nothing) when someone else owns it. */
export async function releaseLock(file: string, token: string): Promise<boolean> {
  for (let round = 0; round < 3; round++) {
    const seen = await observe(file, 0);
    if (seen?.record?.token !== token) return false;
    if (await removeIfUnchanged(file, seen.raw)) return true;
  }
  return false;
}

async function createExclusive(file: string, record: LockRecord): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(record));
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(file).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

/**
 * Reads a lock file. A file we cannot parse (a creator that crashed before
 * writing, or one still writing) counts as expiring `ttlMs` after its mtime,
 * so it blocks briefly but never forever.
 */
async function observe(file: string, ttlMs: number): Promise<Observed | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stat = await handle.stat();
    const raw = await handle.readFile();
    const record = parseRecord(raw);
    return { raw, record, expiresAt: record ? record.expiresAt : stat.mtimeMs + ttlMs };
  } finally {
    await handle.close();
  }
}

function parseRecord(raw: Buffer): LockRecord | undefined {
  try {
    const value = JSON.parse(raw.toString('utf8')) as Partial<LockRecord>;
    if (typeof value.token !== 'string' || typeof value.expiresAt !== 'number') return undefined;
    return { token: value.token, expiresAt: value.expiresAt, pid: Number(value.pid), host: String(value.host), key: String(value.key) };
  } catch {
    return undefined;
  }
}

/**
 * Deletes `file` only if it still holds exactly `raw`. Renaming first makes
 * the check and the removal one step as far as other contenders can tell:
 * nobody can replace the file between our check and our delete.
 */
async function removeIfUnchanged(file: string, raw: Buffer): Promise<boolean> {
  const aside = scratchPath(file, 'stale');
  try {
    await fs.rename(file, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
  const moved = await fs.readFile(aside).catch(() => undefined);
  if (moved?.equals(raw)) {
    await fs.unlink(aside).catch(() => undefined);
    return true;
  }
  // We moved a lock that changed after we looked at it: put it back, unless a new one
  // was created meanwhile (`link` refuses to overwrite; see the race note above).
  try {
    await fs.link(aside, file);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') await fs.rename(aside, file).catch(() => undefined);
  }
  await fs.unlink(aside).catch(() => undefined);
  return false;
}
