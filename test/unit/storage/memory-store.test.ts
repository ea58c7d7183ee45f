import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../../src/storage/memory.js';
import { describeStoreConformance, expectCode } from '../../helpers/store-conformance.js';

describeStoreConformance('MemoryStore', () => {
  const store = new MemoryStore();
  // One process, one store: the "peer" is the same instance.
  return { store, peer: () => store };
}, { readsThroughPointers: true });

describe('MemoryStore', () => {
  it('resolves pointers like symlinks: reads follow them, writes replace them', async () => {
    const store = new MemoryStore();
    await store.set('c/api/v1/key.pem', 'k1');
    await store.setPointer('c/api/current', 'v1');
    expect((await store.get('c/api/current/key.pem'))?.toString()).toBe('k1');
    // Writing through the pointer lands in the target, like a file in a symlinked directory.
    await store.set('c/api/current/extra', 'x');
    expect(await store.list('c/api')).toEqual(['c/api/v1/extra', 'c/api/v1/key.pem']);
    // A pointer to a single value reads as that value.
    await store.setPointer('c/api/latest', 'v1/key.pem');
    expect((await store.get('c/api/latest'))?.toString()).toBe('k1');
    // A value written at a pointer's key replaces the pointer.
    await store.set('c/api/latest', 'plain');
    expect(await store.getPointer('c/api/latest')).toBeUndefined();
    expect((await store.get('c/api/latest'))?.toString()).toBe('plain');
  });

  it('reports pointer loops as STORE_ERROR', async () => {
    const store = new MemoryStore();
    await store.setPointer('x/a', 'b');
    await store.setPointer('x/b', 'a');
    await expectCode(store.get('x/a/file'), 'STORE_ERROR');
  });

  it('notifies watchers of changes below a prefix, and a throwing watcher breaks nothing', async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    const stop = store.watch('certs/api', (key) => seen.push(key));
    store.watch('', () => { throw new Error('listener bug'); });
    await store.set('certs/api/v1/cert.pem', 'c');
    await store.set('certs/apiother/x', 'no');
    await store.setPointer('certs/api/current', 'v1');
    await store.delete('certs/api/v1/cert.pem');
    await store.delete('certs/api/missing');
    await Promise.resolve();
    expect(seen).toEqual(['certs/api/v1/cert.pem', 'certs/api/current', 'certs/api/v1/cert.pem']);
    stop();
    await store.set('certs/api/v2/cert.pem', 'c');
    await Promise.resolve();
    expect(seen).toHaveLength(3);
  });

  it('wakes an in-process waiter as soon as the lock is released', async () => {
    const store = new MemoryStore();
    const first = await store.lock('k');
    const waiting = store.lock('k', { waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 400)); // the poll interval has grown to its 250 ms ceiling
    const released = Date.now();
    await first.release();
    const second = await waiting;
    expect(Date.now() - released).toBeLessThan(50);
    await second.release();
  });

  it('expires an unrenewed lock by wall-clock time (fake timers)', async () => {
    vi.useFakeTimers();
    try {
      const store = new MemoryStore();
      const lock = await store.lock('k', { ttlMs: 1000 });
      await vi.advanceTimersByTimeAsync(10_000); // renewal keeps it alive
      await expectCode(store.lock('k', { waitMs: 0 }), 'LOCK_TIMEOUT');
      expect(lock.lost.aborted).toBe(false);
      await lock.release();
    } finally {
      vi.useRealTimers();
    }
  });

  it('releases held locks on close and refuses new ones', async () => {
    const store = new MemoryStore();
    const lock = await store.lock('k');
    await store.close();
    await expect(lock.release()).resolves.toBeUndefined();
    await expectCode(store.lock('k'), 'CLOSED');
  });

  it('validates lock options', async () => {
    const store = new MemoryStore();
    await expectCode(store.lock('k', { ttlMs: 0 }), 'INVALID_OPTIONS');
    await expectCode(store.lock('k', { waitMs: -1 }), 'INVALID_OPTIONS');
  });
});
