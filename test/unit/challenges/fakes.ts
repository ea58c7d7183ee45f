/**
 * Table-driven fakes for the DNS-01 unit tests: a resolver that answers from
 * a record table (optionally per server) and a provider that keeps records
 * in memory and can be told to fail.
 */
import { AbortError, DnsError } from '../../../src/errors.js';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../../src/challenges/provider.js';
import { toFqdn, type DnsLookupOptions, type DnsLookupResult, type DnsRecordType, type DnsResolver } from '../../../src/challenges/resolver.js';
import { absoluteName } from '../../../src/challenges/zones.js';

type Table = Map<string, Map<DnsRecordType, string[]>>;

/** One recorded lookup. */
export interface LookupCall { name: string; type: DnsRecordType; servers: readonly string[] | undefined }

export class FakeResolver implements DnsResolver {
  /** Records every server has. */
  readonly records: Table = new Map();
  /** Records only one server has (overrides `records` for that server). */
  readonly perServer = new Map<string, Table>();
  /** `'name TYPE'` → error to throw. */
  readonly failures = new Map<string, Error>();
  readonly calls: LookupCall[] = [];

  set(name: string, type: DnsRecordType, values: string[], server?: string): this {
    const table = server ? (this.perServer.get(server) ?? this.perServer.set(server, new Map()).get(server)!) : this.records;
    const fqdn = toFqdn(name);
    const byType = table.get(fqdn) ?? table.set(fqdn, new Map()).get(fqdn)!;
    byType.set(type, values);
    return this;
  }

  fail(name: string, type: DnsRecordType, reason = 'ETIMEOUT'): this {
    this.failures.set(`${toFqdn(name)} ${type}`, new DnsError('DNS_LOOKUP_FAILED', `lookup of ${name} ${type} failed: ${reason}`, { retryable: true, details: { reason } }));
    return this;
  }

  async lookup(name: string, type: DnsRecordType, options: DnsLookupOptions = {}): Promise<DnsLookupResult> {
    const fqdn = toFqdn(name);
    this.calls.push({ name: fqdn, type, servers: options.servers });
    if (options.signal?.aborted) throw new AbortError('lookup aborted');
    const failure = this.failures.get(`${fqdn} ${type}`);
    if (failure) throw failure;
    const server = options.servers?.length === 1 ? options.servers[0] : undefined;
    const table = (server && this.perServer.get(server)?.has(fqdn) ? this.perServer.get(server) : this.records)!;
    const byType = table.get(fqdn);
    if (!byType) return { status: 'nxdomain' };
    const values = byType.get(type);
    return values && values.length ? { status: 'answer', values: [...values] } : { status: 'nodata' };
  }

  count(type: DnsRecordType, name?: string): number {
    return this.calls.filter((c) => c.type === type && (name === undefined || c.name === toFqdn(name))).length;
  }
}

/** One provider call. */
export interface ProviderCall { op: 'append' | 'delete' | 'list'; zone?: string; records?: DnsRecord[] }

/**
 * An in-memory provider. When `resolver` is given, created records become
 * visible as TXT answers there (like a provider that publishes at once).
 */
export class FakeProvider implements DnsProvider {
  readonly name = 'fake';
  readonly calls: ProviderCall[] = [];
  /** FQDN → values. */
  readonly store = new Map<string, string[]>();
  appendError: ((zone: string) => Error | undefined) | undefined;
  deleteError: Error | undefined;
  /** Create the records, then throw `appendError` (a call that half-worked). */
  failAfterCreate = false;
  listZones?: (options: DnsCallOptions) => Promise<string[]>;

  constructor(private readonly opts: { zones?: string[]; resolver?: FakeResolver } = {}) {
    if (opts.zones) {
      const zones = opts.zones;
      this.listZones = async () => {
        this.calls.push({ op: 'list' });
        return zones;
      };
    }
  }

  async appendRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
    this.calls.push({ op: 'append', zone, records });
    if (signal.aborted) throw new Error('aborted by signal');
    const error = this.appendError?.(zone);
    if (error && !this.failAfterCreate) throw error;
    for (const r of records) this.#add(absoluteName(r.name, zone), r.value);
    if (error) throw error;
    return records.map((r) => ({ ...r, providerData: { id: `${zone}/${r.name}/${r.value}` } }));
  }

  async deleteRecords(zone: string, records: DnsRecord[]): Promise<DnsRecord[]> {
    this.calls.push({ op: 'delete', zone, records });
    if (this.deleteError) throw this.deleteError;
    for (const r of records) {
      const fqdn = absoluteName(r.name, zone);
      const left = (this.store.get(fqdn) ?? []).filter((v) => v !== r.value);
      if (left.length) this.store.set(fqdn, left);
      else this.store.delete(fqdn);
      this.#publish(fqdn);
    }
    return records;
  }

  #add(fqdn: string, value: string): void {
    this.store.set(fqdn, [...(this.store.get(fqdn) ?? []), value]);
    this.#publish(fqdn);
  }

  #publish(fqdn: string): void {
    this.opts.resolver?.set(fqdn, 'TXT', this.store.get(fqdn) ?? []);
  }

  appends(): ProviderCall[] {
    return this.calls.filter((c) => c.op === 'append');
  }

  deletes(): ProviderCall[] {
    return this.calls.filter((c) => c.op === 'delete');
  }
}
