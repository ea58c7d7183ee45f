/**
 * A {@link Store} on the local (or a shared network) file system: one file
 * per key, atomic writes, `current` symlinks that other programs follow, and
 * lock files that exclude every process using the same directory.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, StoreError } from '../errors.js';
import { ensureDir, errnoCode, pruneEmptyDirs, symlinkAtomic, writeFileAtomic } from './atomic-file.js';
import { describeHolder, LOCK_DIRECTORY, lockFilePath, releaseLock, renewLock, tryCreateLock } from './file-lock.js';
import { acquire, Lease, LockWaiters } from './lease.js';
import { assertKey, type Store, type StoreLock, type StoreLockOptions, type StoreSetOptions } from './store.js';
import { fileStoreError, notWritable } from './file-errors.js';

/** Same rule as {@link assertKey} for one segment: anything else in the tree is scratch. */
const KEY_SEGMENT = /^[A-Za-z0-9._@=+-]+$/;

/** Shared by every FileStore in the process, so two instances on one directory wake each other. */
const waiters = new LockWaiters();

/** Options for {@link FileStore}. */
export interface FileStoreOptions {
  /** Root directory of the store; created (with `dirMode`) if missing. Keys are paths below it. */
  directory: string;
  /** Exact mode of files holding non-sensitive values (certificates, metadata). @default 0o644 */
  fileMode?: number;
  /** Exact mode of files written with `sensitive: true` (private keys). @default 0o600 */
  sensitiveFileMode?: number;
  /** Exact mode of directories the store creates. Loosen (e.g. `0o750`) to let a web server's group read `current/…`. @default 0o700 */
  dirMode?: number;
  /** fsync every value and its directory before `set` resolves; `false` keeps atomicity but not durability across power loss. @default true */
  fsync?: boolean;
}

/**
 * A {@link Store} backed by a directory. Key `a/b/c` is the file
 * `<directory>/a/b/c`; pointers are relative symlinks swapped atomically, so
 * nginx or Redis can read `<directory>/certificates/api/current/fullchain.pem`
 * directly. Writes are atomic and durable (temp file, fsync, rename, fsync
 * of the directory); `sensitive` values are written 0600.
 *
 * The directory is validated lazily by the first write or lock, or eagerly
 * by {@link FileStore.ready}: a directory that cannot be written fails with a
 * `StoreError` `STORE_NOT_WRITABLE` that names it and says what to fix.
 * Reads never create anything.
 *
 * @example
 * ```ts
 * const store = new FileStore({ directory: '/var/lib/certpilot' });
 * await store.ready(); // optional: fail at startup rather than on the first write
 * await store.set('certificates/api/v1/key.pem', keyPem, { sensitive: true });
 * await store.setPointer('certificates/api/current', 'v1');
 * ```
 */
export class FileStore implements Store {
  /** Always `file`. */
  readonly kind = 'file';
  /** Absolute root directory. */
  readonly directory: string;
  readonly #fileMode: number;
  readonly #sensitiveMode: number;
  readonly #dirMode: number;
  readonly #durable: boolean;
  readonly #held = new Set<Lease>();
  #ready: Promise<void> | undefined;
  #closed = false;

  constructor(options: FileStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory === '') {
      throw new ConfigError('INVALID_OPTIONS', 'FileStore needs a `directory` (for example /var/lib/certpilot)');
    }
    this.directory = path.resolve(options.directory);
    this.#fileMode = options.fileMode ?? 0o644;
    this.#sensitiveMode = options.sensitiveFileMode ?? 0o600;
    this.#dirMode = options.dirMode ?? 0o700;
    this.#durable = options.fsync ?? true;
  }

  /**
   * Creates the directory (and its lock directory) if needed and proves it is
   * writable by creating and removing a file — a permission check alone is
   * wrong for root, read-only mounts and paths through a regular file.
   * Called automatically before the first write; safe to call again after
   * fixing a failure.
   */
  ready(): Promise<void> {
    this.#ready ??= this.#probe().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #probe(): Promise<void> {
    try {
      await ensureDir(this.directory, this.#dirMode);
      await ensureDir(path.join(this.directory, LOCK_DIRECTORY), this.#dirMode);
      const probe = path.join(this.directory, `.probe.${randomUUID()}.tmp~`);
      await fs.writeFile(probe, '', { flag: 'wx', mode: 0o600 });
      await fs.unlink(probe);
    } catch (error) {
      throw await notWritable(this.directory, error);
    }
  }

  /** Reads the file for `key`, following pointer symlinks on the way (`…/current/cert.pem`). */
  async get(key: string): Promise<Buffer | undefined> {
    const file = this.#path(key);
    try {
      return await fs.readFile(file);
    } catch (error) {
      // A directory, or a path through a file, holds no value: same as missing.
      if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errnoCode(error) ?? '')) return undefined;
      throw this.#error('read', key, error);
    }
  }

  /** Atomically replaces the file for `key`; mode `sensitiveFileMode` when `sensitive`, else `fileMode`. */
  async set(key: string, value: Buffer | string, options: StoreSetOptions = {}): Promise<void> {
    const file = this.#path(key);
    await this.ready();
    const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const mode = options.sensitive ? this.#sensitiveMode : this.#fileMode;
    await this.#withParent(key, file, () => writeFileAtomic(file, data, { mode, durable: this.#durable }));
  }

  /** Removes the file or pointer at `key` and any directories that became empty. */
  async delete(key: string): Promise<void> {
    const file = this.#path(key);
    try {
      await fs.unlink(file);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errnoCode(error) ?? '')) return;
      throw this.#error('delete', key, error);
    }
    // Version directories would otherwise pile up empty forever.
    await pruneEmptyDirs(path.dirname(file), this.directory);
  }

  /** Keys of values below `prefix` (`''` for all), sorted. Pointer symlinks, temp and lock files are skipped. */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    const dir = base === '' ? this.directory : this.#path(base);
    const keys: string[] = [];
    try {
      // The prefix itself may be a pointer: its keys are listed under their real names instead.
      if (base !== '' && (await fs.lstat(dir)).isSymbolicLink()) return [];
      await this.#walk(dir, base, keys);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes(errnoCode(error) ?? '')) return [];
      throw this.#error('list', base, error);
    }
    return keys.sort();
  }

  /** Names directly below `prefix` (one `readdir`), sorted; temp and lock files are skipped. */
  async children(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    try {
      const names = await fs.readdir(base === '' ? this.directory : this.#path(base));
      return names.filter((n) => KEY_SEGMENT.test(n) && n !== '.' && n !== '..').sort();
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes(errnoCode(error) ?? '')) return [];
      throw this.#error('list', base, error);
    }
  }

  async #walk(dir: string, prefix: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes(errnoCode(error) ?? '') && prefix !== '') return; // removed meanwhile
      throw error;
    }
    for (const entry of entries) {
      if (!KEY_SEGMENT.test(entry.name) || entry.name === '.' || entry.name === '..') continue;
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      // Symlinks are pointers: descending them would list every version twice.
      if (entry.isDirectory()) await this.#walk(path.join(dir, entry.name), key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  /** Atomically (re)points the relative symlink at `key` to `target`, a path relative to the link's directory. */
  async setPointer(key: string, target: string): Promise<void> {
    const link = this.#path(key);
    assertKey(target);
    await this.ready();
    await this.#withParent(key, link, () => symlinkAtomic(link, target));
  }

  /** The target of the symlink at `key`, or `undefined` when there is none (or a plain file is there). */
  async getPointer(key: string): Promise<string | undefined> {
    const link = this.#path(key);
    try {
      return await fs.readlink(link);
    } catch (error) {
      // EINVAL: a regular file or directory sits where the pointer would be.
      if (['ENOENT', 'ENOTDIR', 'EINVAL'].includes(errnoCode(error) ?? '')) return undefined;
      throw this.#error('read pointer', key, error);
    }
  }

  /**
   * Takes the lock on `key`, shared with every process using this directory
   * (protocol and its one remaining race: see file-lock.ts). Waits by polling
   * (10 ms growing to 250 ms); waiters in this process wake on release.
   */
  async lock(key: string, options?: StoreLockOptions): Promise<StoreLock> {
    assertKey(key);
    if (this.#closed) throw new StoreError('CLOSED', `The file store at ${this.directory} is closed; cannot lock "${key}"`);
    await this.ready();
    const file = lockFilePath(this.directory, key);
    return acquire(key, options, async (ttlMs) => {
      const token = randomUUID();
      const record = { token, expiresAt: Date.now() + ttlMs, pid: process.pid, host: os.hostname(), key };
      let outcome;
      try {
        outcome = await tryCreateLock(file, record, ttlMs).catch(async (error: unknown) => {
          // Someone removed the lock directory (a clean-up script): recreate it once.
          if (errnoCode(error) !== 'ENOENT') throw error;
          await ensureDir(path.dirname(file), this.#dirMode);
          return tryCreateLock(file, record, ttlMs);
        });
      } catch (error) {
        throw this.#error('lock', key, error);
      }
      if (!outcome.acquired) return { holder: describeHolder(outcome.holder) };
      const lease: Lease = new Lease({
        key, token, ttlMs, expiresAt: record.expiresAt,
        backend: {
          renew: (expiresAt) => renewLock(file, token, expiresAt),
          release: async () => {
            try {
              return await releaseLock(file, token);
            } catch (error) {
              throw this.#error('unlock', key, error);
            } finally {
              waiters.notify(file);
            }
          },
        },
        onEnd: (ended) => this.#held.delete(ended),
      });
      this.#held.add(lease);
      return { lock: lease };
    }, { registry: waiters, id: file });
  }

  /** Releases every lock this instance holds; later `lock` calls fail with `CLOSED`. Values stay on disk. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#held].map((lease) => lease.release()));
  }

  /** The file for `key`, refusing anything that would resolve outside the directory. */
  #path(key: string): string {
    assertKey(key);
    const file = path.resolve(this.directory, ...key.split('/'));
    const relative = path.relative(this.directory, file);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new ConfigError('INVALID_NAME', `Store key ${JSON.stringify(key)} resolves outside ${this.directory}`);
    }
    return file;
  }

  /** Creates the parent of `file` and runs `write`, retrying when a concurrent delete pruned the parent. */
  async #withParent(key: string, file: string, write: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await ensureDir(path.dirname(file), this.#dirMode);
        return await write();
      } catch (error) {
        if (errnoCode(error) === 'ENOENT' && attempt < 3) continue;
        throw this.#error('write', key, error);
      }
    }
  }

  #error(operation: string, key: string, error: unknown): StoreError {
    return fileStoreError(this.directory, operation, key, error);
  }
}
