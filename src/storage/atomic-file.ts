/**
 * Crash-safe file primitives for {@link FileStore}: write-to-temp-then-rename,
 * atomic symlink swaps, directory creation with exact modes, and the naming
 * rule that keeps scratch files out of the key namespace.
 *
 * Scratch names always contain `~`, a character {@link assertKey} refuses in
 * keys, so a temp file or the lock directory can never collide with, or be
 * listed as, a key.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Marks scratch files (temp writes, swapped-away locks): never a valid key segment. */
export const SCRATCH_MARK = '~';

/** The errno `code` of a Node system error, if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A unique scratch path next to `target` (same directory, so `rename` stays atomic). */
export function scratchPath(target: string, kind = 'tmp'): string {
  // Keep well under NAME_MAX (255 bytes) even for long key segments.
  const base = path.basename(target).slice(0, 120);
  return path.join(path.dirname(target), `.${base}.${randomBytes(6).toString('hex')}.${kind}${SCRATCH_MARK}`);
}

/**
 * Creates `dir` and any missing parents with exactly `mode` (not masked by
 * the umask: an operator who asks for 0750 so nginx's group can read gets it).
 * Existing directories are left as they are.
 */
export async function ensureDir(dir: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(dir, { mode });
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw error;
    await ensureDir(path.dirname(dir), mode);
    return ensureDir(dir, mode);
  }
  await fs.chmod(dir, mode);
}

/** Flushes a directory entry change (a rename, a new file) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms and file systems cannot fsync a directory; atomicity does not depend on it.
    if (!['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP', 'EACCES'].includes(errnoCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Exact mode of the written file. */
  mode: number;
  /** Flush data and the directory entry before resolving. @default true */
  durable?: boolean;
}

/**
 * Writes `data` to `target` so that readers see either the old content or the
 * new one, never a mix, and a failure (or a crash) leaves the old content:
 * temp file in the same directory, write, fsync, rename, fsync the directory.
 * The temp file is removed when anything fails.
 */
export async function writeFileAtomic(target: string, data: Buffer, options: AtomicWriteOptions): Promise<void> {
  const temp = scratchPath(target);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', options.mode);
    // The open mode is masked by the umask; sensitive files must be exactly what was asked.
    await handle.chmod(options.mode);
    await handle.writeFile(data);
    if (options.durable !== false) await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
  if (options.durable !== false) await fsyncDir(path.dirname(target));
}

/**
 * Points the symlink `link` at `target` atomically: a reader following `link`
 * always finds the old target or the new one, never a missing link. The
 * link is relative, so the whole directory can be moved or bind-mounted.
 */
export async function symlinkAtomic(link: string, target: string): Promise<void> {
  const temp = scratchPath(link);
  try {
    await fs.symlink(target, temp);
    await fs.rename(temp, link);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
  await fsyncDir(path.dirname(link));
}

/**
 * Removes now-empty directories from `dir` up to (not including) `stop`.
 * Stops at the first directory that is not empty or cannot be removed.
 */
export async function pruneEmptyDirs(dir: string, stop: string): Promise<void> {
  const inside = stop.endsWith(path.sep) ? stop : stop + path.sep;
  let current = dir;
  while (current.startsWith(inside)) {
    try {
      await fs.rmdir(current);
    } catch {
      return;
    }
    current = path.dirname(current);
  }
}
