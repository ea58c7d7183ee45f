import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { FileStore } from '../../../src/storage/file.js';
import { CertificateRepository } from '../../../src/storage/repository.js';
import { MemoryStore } from '../../../src/storage/memory.js';

it('FileStore.children lists names one level down, without lock or temp files, and the repository uses it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-children-'));
  try {
    const store = new FileStore({ directory: dir });
    await store.set('certificates/b/v1/cert.pem', 'x');
    await store.set('certificates/a/v1/cert.pem', 'x');
    await store.setPointer('certificates/a/current', 'v1');
    const lock = await store.lock('certificates/a');
    expect(await store.children('certificates')).toEqual(['a', 'b']);
    expect(await store.children('certificates/a')).toEqual(['current', 'v1']);
    expect(await store.children('')).toEqual(['certificates']);
    expect(await store.children('missing')).toEqual([]);
    await lock.release();
    // Same answer through children() (FileStore) and through list() (MemoryStore has no children()).
    const memory = new MemoryStore();
    await memory.set('certificates/b/v1/cert.pem', 'x');
    await memory.set('certificates/a/v1/cert.pem', 'x');
    expect(await new CertificateRepository(store).names()).toEqual(await new CertificateRepository(memory).names());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
