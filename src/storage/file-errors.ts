/**
 * FileStore's failures as errors an operator can act on: which directory or
 * key, the errno, and the command or setting that fixes it. Permission and
 * read-only failures are `STORE_NOT_WRITABLE`; everything else `STORE_ERROR`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { StoreError } from '../errors.js';
import { errnoCode } from './atomic-file.js';

/**
 * A `STORE_NOT_WRITABLE` error for `directory` caused by `error`. Looks at
 * the path to name the exact component in the way (a regular file where a
 * directory should be).
 */
export async function notWritable(directory: string, error: unknown): Promise<StoreError> {
  const code = errnoCode(error) ?? 'error';
  const uid = process.getuid?.();
  const user = uid === undefined ? 'the user running certpilot' : `the user running certpilot (uid ${uid})`;
  let reason: string;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      reason = `permission denied: give ${user} write access (e.g. \`chown -R ${uid ?? '<user>'} ${directory} && chmod 700 ${directory}\`) or choose another directory`;
      break;
    case 'EROFS':
      reason = 'it is on a read-only file system: mount it read-write (or a writable volume there) or choose another directory';
      break;
    case 'ENOTDIR':
    case 'EEXIST': {
      const blocker = await firstNonDirectory(directory);
      reason = blocker
        ? `${blocker} is a regular file, not a directory: remove or move it, or choose another directory`
        : 'a component of the path is not a directory: fix the path or choose another directory';
      break;
    }
    case 'ENOSPC':
    case 'EDQUOT':
      reason = 'the file system is full: free some space or choose another directory';
      break;
    default:
      reason = 'make sure it is (or can be created as) a directory that certpilot can write, or choose another directory';
  }
  return new StoreError('STORE_NOT_WRITABLE', `FileStore directory ${directory} is not writable (${code}): ${reason}`, {
    cause: error,
    details: { directory, errno: code },
  });
}

/** The first existing ancestor-or-self of `target` that is not a directory. */
async function firstNonDirectory(target: string): Promise<string | undefined> {
  const parts: string[] = [];
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    parts.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const candidate of parts) {
    try {
      if (!(await fs.stat(candidate)).isDirectory()) return candidate;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The error for a failed `operation` on `key` in the store at `directory`.
 * Out-of-space and descriptor exhaustion are marked retryable.
 */
export function fileStoreError(directory: string, operation: string, key: string, error: unknown): StoreError {
  const code = errnoCode(error);
  const details = { key, directory, errno: code };
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StoreError('STORE_NOT_WRITABLE', `Cannot ${operation} "${key}" in ${directory} (${code}): give the user running certpilot (uid ${process.getuid?.() ?? '?'}) read and write access to the directory and everything below it, or use another directory`, { cause: error, details });
  }
  const hint = code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENOTEMPTY'
    ? ': a value and a key prefix collide (one key is a parent path of another)'
    : '';
  return new StoreError('STORE_ERROR', `Cannot ${operation} "${key}" in ${directory} (${code ?? 'error'})${hint}`, {
    cause: error,
    retryable: code === 'ENOSPC' || code === 'EDQUOT' || code === 'EMFILE' || code === 'ENFILE' || code === 'EIO' || code === 'EAGAIN',
    details,
  });
}
