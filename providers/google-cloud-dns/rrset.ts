/**
 * Edits the values of one TXT record set without losing anyone's values.
 *
 * Cloud DNS stores all TXT values of a name in one record set and has no
 * "add a value" call: a change replaces the whole set, and its deletion must
 * match the current set exactly. That makes a read-modify-write safe: we
 * delete the set exactly as we read it and add the edited set in the same
 * atomic change; if another writer changed the set in between, the deletion
 * no longer matches (412 conditionNotMet), or the set we thought absent now
 * exists (409 alreadyExists), and we read again and redo the edit.
 */
import { DnsError } from '../../src/errors.js';
import { sleep, type CloudDnsClient, type ResourceRecordSet } from './api.js';
import { CloudDnsError } from './errors.js';
import { quoteTxt, unquoteTxt } from './txt.js';

/** One rrdata of the current set with its unquoted value. */
export interface TxtEntry {
  rrdata: string;
  value: string;
}

/** Options of {@link editTxtSet}. */
export interface EditOptions {
  api: CloudDnsClient;
  /** Managed zone resource name. */
  managedZone: string;
  /** Record name, FQDN. */
  fqdn: string;
  /** TTL of a set we create; an existing set keeps its TTL so a delete restores it exactly. */
  ttl: number;
  /** Re-reads after a conflicting writer before giving up. */
  maxConflicts: number;
  /** Change polling, see `CloudDnsClient.waitForChange`. */
  poll: { intervalMs: number; timeoutMs: number };
  signal: AbortSignal;
}

/**
 * Applies `edit` to the current values at `fqdn` and writes the result.
 * `edit` receives the current entries and returns the entries to keep plus
 * new values to add, or `undefined` when nothing needs to change.
 * Resolves once the change is `done` (served by Cloud DNS).
 */
export async function editTxtSet(
  options: EditOptions,
  edit: (current: TxtEntry[]) => { keep: TxtEntry[]; add: string[] } | undefined,
): Promise<void> {
  const { api, managedZone, fqdn, signal } = options;
  for (let conflicts = 0; ; conflicts++) {
    const sets = await api.listRecordSets(managedZone, { name: fqdn, type: 'TXT' }, signal);
    const current = sets.find((s) => s.type === 'TXT' && s.name.toLowerCase() === fqdn.toLowerCase());
    const entries = (current?.rrdatas ?? []).map((rrdata) => ({ rrdata, value: unquoteTxt(rrdata) }));
    const next = edit(entries);
    if (!next) return;
    const rrdatas = [...next.keep.map((e) => e.rrdata), ...next.add.map(quoteTxt)];
    const deletions = current ? [exactly(current)] : [];
    const additions: ResourceRecordSet[] = rrdatas.length ? [{ kind: 'dns#resourceRecordSet', name: fqdn, type: 'TXT', ttl: current?.ttl ?? options.ttl, rrdatas }] : [];
    let change;
    try {
      change = await api.createChange(managedZone, { additions, deletions }, signal);
    } catch (error) {
      if (!isConflict(error, deletions.length > 0)) throw error;
      if (conflicts >= options.maxConflicts) {
        throw new DnsError('DNS_PROVIDER_ERROR', `google-cloud-dns: the TXT records at ${fqdn} in managed zone ${managedZone} kept changing while we edited them (${conflicts + 1} attempts); another writer is busy there`, {
          cause: error,
          retryable: true,
          details: { provider: 'google-cloud-dns', managedZone, name: fqdn },
        });
      }
      // Jitter, so two writers that collided do not collide again in lockstep.
      await sleep(50 + Math.random() * 100 * (conflicts + 1), signal);
      continue;
    }
    await api.waitForChange(managedZone, change, options.poll, signal);
    return;
  }
}

/** The set as read, with only the fields a deletion compares. */
function exactly(set: ResourceRecordSet): ResourceRecordSet {
  return {
    kind: 'dns#resourceRecordSet',
    name: set.name,
    type: set.type,
    ...(set.ttl !== undefined ? { ttl: set.ttl } : {}),
    rrdatas: set.rrdatas ?? [],
    ...(set.signatureRrdatas?.length ? { signatureRrdatas: set.signatureRrdatas } : {}),
  };
}

/**
 * Another writer got there first: our deletion no longer matches (412), the
 * set we meant to create exists (409), or the set we meant to delete is gone
 * (404; a missing zone would already have failed the read).
 */
function isConflict(error: unknown, deleting: boolean): boolean {
  if (!(error instanceof CloudDnsError)) return false;
  return error.status === 412 || error.status === 409 || (error.status === 404 && deleting);
}
