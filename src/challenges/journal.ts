/**
 * The challenge journal: crash recovery for DNS-01 records.
 *
 * A process killed between presenting its TXT records and cleaning them up
 * (SIGKILL, OOM, a lost VM) leaves `_acme-challenge` records behind, and
 * nobody else knows about them. The journal closes that gap with the store
 * the fleet already shares:
 *
 * 1. Write-ahead: before a provider is asked to create records, what it is
 *    about to create is written to `challenges/<name>/<id>.json`. After the
 *    call the entry is updated with the provider's answer (its
 *    `providerData`, e.g. record ids).
 * 2. A successful delete removes the entry.
 * 3. The next holder of the name's lock calls {@link recoverChallenges}
 *    before it orders: every entry still there belongs to a holder that
 *    died (the lock guarantees nobody else is working on the name), so its
 *    records are deleted and the entry removed.
 *
 * Deleting tolerates records already gone (provider contract), so a holder
 * that crashed after cleaning but before removing its entry costs one
 * harmless extra delete. An entry whose delete fails stays for the next
 * holder to retry.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/store.js';
import type { DnsProvider, DnsRecord } from './provider.js';

/** What one `appendRecords` call created (or was about to), as stored. */
export interface JournalEntry {
  /** Format version. */
  version: 1;
  /** `DnsProvider.name` that created the records; recovery only uses the same provider. */
  provider: string;
  /** Zone passed to `appendRecords` (FQDN, trailing dot). */
  zone: string;
  /** The records, with the provider's `providerData` once it answered. */
  records: DnsRecord[];
  /** When the entry was written (ISO 8601). */
  createdAt: string;
}

/** What {@link recoverChallenges} did. */
export interface RecoveryResult {
  /** Entries whose records were deleted (and the entries removed). */
  recovered: JournalEntry[];
  /** Entries kept because their delete failed (retried by the next holder) or another provider wrote them. */
  kept: Array<{ entry: JournalEntry; reason: string }>;
}

/** Store prefix of the journal of the certificate `name`. */
export function journalPrefix(name: string): string {
  return `challenges/${name}`;
}

/**
 * Wraps `provider` so every record it creates for `name` is journaled in
 * `store` first and forgotten once deleted. Use one wrapper per order, under
 * the name's lock.
 *
 * @example
 * ```ts
 * await recoverChallenges(dns, context.store, request.name, context.signal);
 * const solver = new Dns01Solver({ provider: journaledProvider(dns, context.store, request.name), … });
 * ```
 */
export function journaledProvider(provider: DnsProvider, store: Store, name: string): DnsProvider {
  const open = new Map<string, JournalEntry>();
  const wrapped: DnsProvider = {
    name: provider.name,
    async appendRecords(zone, records, options) {
      const key = `${journalPrefix(name)}/${Date.now()}-${randomUUID()}.json`;
      const entry: JournalEntry = { version: 1, provider: provider.name, zone, records: records.map(plain), createdAt: new Date().toISOString() };
      // Before the provider call: a crash during it must still leave a trace.
      await store.set(key, JSON.stringify(entry));
      open.set(key, entry);
      const created = await provider.appendRecords(zone, records, options);
      if (Array.isArray(created) && created.length > 0) {
        // Keep what we asked for too: a provider may answer with less than it created.
        entry.records = [...created.map(plain), ...entry.records.filter((r) => !created.some((c) => same(c, r)))];
        await store.set(key, JSON.stringify(entry)).catch(() => undefined); // the write-ahead entry still covers the records
      }
      return created;
    },
    async deleteRecords(zone, records, options) {
      const deleted = await provider.deleteRecords(zone, records, options);
      for (const [key, entry] of open) {
        if (entry.zone !== zone || !entry.records.every((r) => records.some((d) => same(d, r)))) continue;
        open.delete(key);
        // A leftover entry only costs the next holder a harmless delete.
        await store.delete(key).catch(() => undefined);
      }
      return deleted;
    },
  };
  if (provider.listZones) wrapped.listZones = provider.listZones.bind(provider);
  return wrapped;
}

/**
 * Deletes the records of every journal entry of `name` — left by a holder
 * that died before cleaning up — and removes the entries. Call it while
 * holding the name's lock and before presenting new records. Never throws:
 * what could not be deleted stays in the journal and is reported in `kept`.
 */
export async function recoverChallenges(provider: DnsProvider, store: Store, name: string, signal: AbortSignal): Promise<RecoveryResult> {
  const result: RecoveryResult = { recovered: [], kept: [] };
  let keys: string[];
  try {
    keys = await store.list(journalPrefix(name));
  } catch {
    return result;
  }
  for (const key of keys) {
    if (signal.aborted) break;
    let entry: JournalEntry;
    try {
      entry = JSON.parse((await store.get(key))?.toString() ?? 'null') as JournalEntry;
      if (entry?.version !== 1 || !Array.isArray(entry.records)) throw new Error('not a journal entry');
    } catch {
      await store.delete(key).catch(() => undefined); // unreadable: nothing we could ever delete with it
      continue;
    }
    if (entry.provider !== provider.name) {
      result.kept.push({ entry, reason: `written by the ${entry.provider} provider, not ${provider.name}` });
      continue;
    }
    try {
      await provider.deleteRecords(entry.zone, entry.records, { signal });
      await store.delete(key);
      result.recovered.push(entry);
    } catch (error) {
      result.kept.push({ entry, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}

/** A record as JSON can hold it (providerData must be plain data to survive the store). */
function plain(record: DnsRecord): DnsRecord {
  return JSON.parse(JSON.stringify(record)) as DnsRecord;
}

function same(a: DnsRecord, b: DnsRecord): boolean {
  return a.value === b.value && a.name.toLowerCase() === b.name.toLowerCase();
}
