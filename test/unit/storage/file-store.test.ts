import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileStore } from '../../../src/storage/file.js';
import { describeStoreConformance, expectCode } from '../../helpers/store-conformance.js';

const temps: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certpilot-fs-'));
  temps.push(dir);
  return dir;
};
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of temps.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

describeStoreConformance('FileStore', () => {
  const directory = path.join(tempDir(), 'store');
  const peers: FileStore[] = [];
  return {
    store: new FileStore({ directory }),
    // A second instance on the same directory stands in for a second process.
    peer: () => { const peer = new FileStore({ directory }); peers.push(peer); return peer; },
    cleanup: async () => { await Promise.all(peers.map((peer) => peer.close())); },
  };
}, { readsThroughPointers: true });

const mode = (file: string) => statSync(file).mode & 0o777;

/** Every name below `dir` that is scratch (contains `~`), except the lock directory itself. */
const scratch = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.includes('~') && name !== '.locks~');

describe('FileStore on disk', () => {
  it('maps keys to files, writes sensitive values 0600 and creates directories 0700', async () => {
    const directory = path.join(tempDir(), 'new', 'store');
    const store = new FileStore({ directory });
    await store.set('certificates/api/v1/key.pem', 'KEY', { sensitive: true });
    await store.set('certificates/api/v1/cert.pem', 'CERT');
    expect(readFileSync(path.join(directory, 'certificates/api/v1/cert.pem'), 'utf8')).toBe('CERT');
    expect(mode(path.join(directory, 'certificates/api/v1/key.pem'))).toBe(0o600);
    expect(mode(path.join(directory, 'certificates/api/v1/cert.pem'))).toBe(0o644);
    for (const dir of ['', 'certificates', 'certificates/api', 'certificates/api/v1', '.locks~']) {
      expect(mode(path.join(directory, dir)), dir || 'root').toBe(0o700);
    }
  });

  it('applies configured modes exactly, whatever the umask', async () => {
    const directory = path.join(tempDir(), 'store');
    const store = new FileStore({ directory, fileMode: 0o640, dirMode: 0o750 });
    const previous = process.umask(0o077);
    try {
      await store.set('a/b/cert.pem', 'c');
      await store.set('a/b/key.pem', 'k', { sensitive: true });
    } finally {
      process.umask(previous);
    }
    expect(mode(path.join(directory, 'a/b/cert.pem'))).toBe(0o640);
    expect(mode(path.join(directory, 'a/b/key.pem'))).toBe(0o600);
    expect(mode(path.join(directory, 'a/b'))).toBe(0o750);
  });

  it('leaves no temp file and keeps the old value when a write fails', async () => {
    const directory = tempDir();
    const store = new FileStore({ directory });
    await store.set('a/key', 'old');
    const handle = await fs.open(path.join(directory, 'a/key'), 'r');
    const proto = Object.getPrototypeOf(handle) as { sync(): Promise<void>; writeFile(): Promise<void> };
    await handle.close();

    const sync = vi.spyOn(proto, 'sync').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const error = await expectCode(store.set('a/key', 'new'), 'STORE_ERROR');
    expect((error as { retryable?: boolean }).retryable).toBe(true);
    expect(sync).toHaveBeenCalled();
    const write = vi.spyOn(proto, 'writeFile').mockRejectedValueOnce(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }));
    await expectCode(store.set('a/key', 'new'), 'STORE_ERROR');
    expect(write).toHaveBeenCalled();
    expect((await store.get('a/key'))?.toString()).toBe('old');

    // A real failure at the rename step: the key is an existing directory.
    await store.set('dir/child', 'x');
    await expectCode(store.set('dir', 'value'), 'STORE_ERROR');
    // A key below an existing value.
    await expectCode(store.set('a/key/below', 'value'), 'STORE_ERROR');
    expect(scratch(directory)).toEqual([]);
  });

  it('keeps `current` a relative symlink that other programs read, swapped without a gap', async () => {
    const directory = tempDir();
    const store = new FileStore({ directory });
    await store.set('certificates/api/v1/fullchain.pem', 'one\n');
    await store.set('certificates/api/v2/fullchain.pem', 'two\n');
    await store.setPointer('certificates/api/current', 'v1');
    const link = path.join(directory, 'certificates/api/current');
    expect(execFileSync('readlink', [link], { encoding: 'utf8' })).toBe('v1\n');
    expect(execFileSync('cat', [path.join(link, 'fullchain.pem')], { encoding: 'utf8' })).toBe('one\n');

    // Another program reads through the link in a tight loop while we swap it 200 times.
    const reader = spawn('sh', ['-c', `while :; do cat "${link}/fullchain.pem" || echo MISSING; done`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    reader.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    reader.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    for (let i = 0; i < 200; i++) await store.setPointer('certificates/api/current', i % 2 ? 'v1' : 'v2');
    reader.kill('SIGKILL');
    await new Promise((resolve) => reader.once('exit', resolve));
    const lines = output.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(10);
    expect(new Set(lines)).toEqual(new Set(['one', 'two']));
    expect(await store.getPointer('certificates/api/current')).toBe('v1');
    expect(scratch(directory)).toEqual([]);
  });

  it('lists values only: no pointer targets twice, no temp, lock or foreign files', async () => {
    const directory = tempDir();
    const store = new FileStore({ directory });
    await store.set('c/api/v1/cert.pem', 'x');
    await store.setPointer('c/api/current', 'v1');
    await store.setPointer('c/api/broken', 'v9');
    const lock = await store.lock('c/api');
    writeFileSync(path.join(directory, 'c/api/.cert.pem.abc.tmp~'), 'half');
    writeFileSync(path.join(directory, 'c/api/not a key'), 'foreign');
    expect(await store.list('')).toEqual(['c/api/v1/cert.pem']);
    expect(await store.list('c/api/current')).toEqual([]);
    expect(await store.getPointer('c/api/v1/cert.pem')).toBeUndefined(); // a file is not a pointer
    await lock.release();
  });

  it('prunes emptied directories on delete, never the root', async () => {
    const directory = tempDir();
    const store = new FileStore({ directory });
    await store.set('a/b/c/d', 'x');
    await store.set('a/keep', 'y');
    await store.delete('a/b/c/d');
    expect(readdirSync(path.join(directory, 'a'))).toEqual(['keep']);
    await store.delete('a/keep');
    expect(readdirSync(directory)).toEqual(['.locks~']);
  });

  it('fails with STORE_NOT_WRITABLE naming the directory and the fix (path through a regular file)', async () => {
    const base = tempDir();
    writeFileSync(path.join(base, 'file.txt'), 'I am a file');
    const directory = path.join(base, 'file.txt', 'sub');
    const store = new FileStore({ directory });
    const error = await expectCode(store.ready(), 'STORE_NOT_WRITABLE');
    expect(error.message).toContain(directory);
    expect(error.message).toContain(`${path.join(base, 'file.txt')} is a regular file`);
    await expectCode(store.set('a', 'b'), 'STORE_NOT_WRITABLE');
    await expectCode(store.setPointer('a/current', 'v1'), 'STORE_NOT_WRITABLE');
    await expectCode(store.lock('a'), 'STORE_NOT_WRITABLE');
    expect(await store.get('a')).toBeUndefined();
    expect(await store.list('')).toEqual([]);
    // Once the operator fixes it, the same instance recovers.
    await fs.rm(path.join(base, 'file.txt'));
    await store.ready();
    await store.set('a', 'b');
    expect((await store.get('a'))?.toString()).toBe('b');
  });

  it.skipIf(process.getuid?.() === 0)('fails with STORE_NOT_WRITABLE on a read-only directory (non-root only)', async () => {
    const directory = tempDir();
    await fs.chmod(directory, 0o500);
    try {
      const error = await expectCode(new FileStore({ directory }).set('a', 'b'), 'STORE_NOT_WRITABLE');
      expect(error.message).toContain('permission denied');
    } finally {
      await fs.chmod(directory, 0o700);
    }
  });

  it('rejects a missing directory option', () => {
    expect(() => new FileStore({} as never)).toThrow(/directory/);
  });
});
