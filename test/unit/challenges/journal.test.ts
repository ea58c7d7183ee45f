import { describe, expect, it } from 'vitest';
import { journaledProvider, journalPrefix, recoverChallenges, type JournalEntry } from '../../../src/challenges/journal.js';
import type { DnsProvider, DnsRecord } from '../../../src/challenges/provider.js';
import { MemoryStore } from '../../../src/storage/memory.js';

/** A provider that keeps records in a map, like a DNS server would, and can be told to fail. */
function fakeProvider(name = 'fake') {
  const zone = new Map<string, string[]>();
  const calls: string[] = [];
  let failDeletes = false;
  let hangAppends = false;
  const provider: DnsProvider = {
    name,
    async appendRecords(_zone, records) {
      calls.push('append');
      for (const r of records) zone.set(r.name, [...(zone.get(r.name) ?? []), r.value]);
      if (hangAppends) return new Promise<never>(() => undefined);
      return records.map((r) => ({ ...r, providerData: { id: `id-${r.value}` } }));
    },
    async deleteRecords(_zone, records) {
      calls.push('delete');
      if (failDeletes) throw new Error('provider down');
      for (const r of records) zone.set(r.name, (zone.get(r.name) ?? []).filter((v) => v !== r.value));
      return records;
    },
  };
  return {
    provider, zone, calls,
    failDeletes: (on: boolean) => { failDeletes = on; },
    hangAppends: (on: boolean) => { hangAppends = on; },
  };
}

const record = (value: string): DnsRecord => ({ type: 'TXT', name: '_acme-challenge.api', value, ttl: 60 });
const signal = new AbortController().signal;

describe('challenge journal', () => {
  it('journals records before creating them, keeps the provider data, and forgets them once deleted', async () => {
    const store = new MemoryStore();
    const dns = fakeProvider();
    const journaled = journaledProvider(dns.provider, store, 'api');
    const created = await journaled.appendRecords('example.com.', [record('a'), record('b')], { signal });
    const keys = await store.list(journalPrefix('api'));
    expect(keys).toHaveLength(1);
    const entry = JSON.parse((await store.get(keys[0]!))!.toString()) as JournalEntry;
    expect(entry).toMatchObject({ version: 1, provider: 'fake', zone: 'example.com.' });
    expect(entry.records.map((r) => r.providerData)).toEqual([{ id: 'id-a' }, { id: 'id-b' }]);
    await journaled.deleteRecords('example.com.', created, { signal });
    expect(await store.list(journalPrefix('api'))).toEqual([]);
    expect(dns.zone.get('_acme-challenge.api')).toEqual([]);
  });

  it('lets the next holder delete what a crashed holder left behind', async () => {
    const store = new MemoryStore();
    const dns = fakeProvider();
    dns.hangAppends(true);
    // The "crashed" holder: the provider created the record but never answered.
    void journaledProvider(dns.provider, store, 'api').appendRecords('example.com.', [record('left-behind')], { signal });
    await new Promise((r) => setTimeout(r, 10));
    expect(dns.zone.get('_acme-challenge.api')).toEqual(['left-behind']);
    dns.hangAppends(false);
    const result = await recoverChallenges(dns.provider, store, 'api', signal);
    expect(result.recovered).toHaveLength(1);
    expect(result.kept).toEqual([]);
    expect(dns.zone.get('_acme-challenge.api')).toEqual([]);
    expect(await store.list(journalPrefix('api'))).toEqual([]);
    // Other names' journals are untouched.
    expect((await recoverChallenges(dns.provider, store, 'other', signal)).recovered).toEqual([]);
  });

  it('keeps entries it could not delete (retried next time) and entries of another provider', async () => {
    const store = new MemoryStore();
    const dns = fakeProvider();
    await journaledProvider(dns.provider, store, 'api').appendRecords('example.com.', [record('x')], { signal });
    await journaledProvider(fakeProvider('other').provider, store, 'api').appendRecords('example.com.', [record('y')], { signal });
    dns.failDeletes(true);
    const failed = await recoverChallenges(dns.provider, store, 'api', signal);
    expect(failed.recovered).toEqual([]);
    expect(failed.kept.map((k) => k.reason).sort()).toEqual(['provider down', 'written by the other provider, not fake']);
    dns.failDeletes(false);
    const retried = await recoverChallenges(dns.provider, store, 'api', signal);
    expect(retried.recovered).toHaveLength(1);
    expect(await store.list(journalPrefix('api'))).toHaveLength(1); // the other provider's entry
  });

  it('drops unreadable entries and never throws', async () => {
    const store = new MemoryStore();
    await store.set(`${journalPrefix('api')}/broken.json`, 'not json');
    const result = await recoverChallenges(fakeProvider().provider, store, 'api', signal);
    expect(result).toEqual({ recovered: [], kept: [] });
    expect(await store.list(journalPrefix('api'))).toEqual([]);
  });
});
