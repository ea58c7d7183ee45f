/**
 * Reading one TXT record set and planning the change that adds or removes
 * values in it. Route 53 keeps all TXT values of a name in one record set:
 * UPSERT replaces the whole set, DELETE must name the set exactly as it is
 * (TTL and every value, else InvalidChangeBatch). So appending writes the
 * old values plus ours, and deleting writes the old values minus ours —
 * or deletes the set, exactly as read, when nothing else is left.
 */
import type { Change, ResourceRecordSet } from '@aws-sdk/client-route-53';
import { DnsError } from '../../src/errors.js';
import type { Route53Api } from './api.js';
import { decodeRecordName, decodeTxtValue, encodeTxtValue } from './txt.js';

/** A simple-routing TXT record set as Route 53 holds it. */
export interface TxtSet {
  /** Name as Route 53 spells it (sent back unchanged in a DELETE). */
  name: string;
  ttl: number;
  /** Values exactly as Route 53 returned them (quoted). */
  values: string[];
}

/**
 * The TXT set at `fqdn` (lower-case, trailing dot) in zone `hostedZoneId`,
 * or `undefined`. Record sets with a routing policy (weighted, latency, …)
 * are refused: a simple set cannot live beside them.
 */
export async function readTxtSet(api: Route53Api, hostedZoneId: string, fqdn: string, signal: AbortSignal): Promise<TxtSet | undefined> {
  const out = await api.listResourceRecordSets(
    // Lists start at the first set >= (name, type): the set we want is first, if it exists.
    { HostedZoneId: hostedZoneId, StartRecordName: fqdn, StartRecordType: 'TXT', MaxItems: 1 },
    signal,
  );
  const set: ResourceRecordSet | undefined = out.ResourceRecordSets?.[0];
  if (!set?.Name || decodeRecordName(set.Name) !== fqdn || set.Type !== 'TXT') return undefined;
  if (set.SetIdentifier !== undefined || set.AliasTarget !== undefined) {
    throw new DnsError('DNS_PROVIDER_ERROR', `route53: the TXT records at ${fqdn} use a routing policy (set identifier ${JSON.stringify(set.SetIdentifier ?? 'alias')}); certpilot only edits simple record sets. Use another name via a CNAME, or remove the routing policy.`, {
      details: { provider: 'route53', recordName: fqdn },
    });
  }
  return { name: set.Name, ttl: set.TTL ?? 300, values: (set.ResourceRecords ?? []).map((r) => r.Value ?? '') };
}

/**
 * The UPSERT that adds `values` to `current`, or `undefined` when all are
 * there already. A new set gets `ttl`; an existing set keeps the shorter of
 * its TTL and ours, so stale challenge values are not cached for long.
 */
export function planAppend(fqdn: string, current: TxtSet | undefined, values: readonly string[], ttl: number): Change | undefined {
  const present = new Set(current?.values.map(decodeTxtValue));
  const added = [...new Set(values)].filter((v) => !present.has(v));
  if (added.length === 0) return undefined;
  const next = [...(current?.values ?? []), ...added.map(encodeTxtValue)];
  return {
    Action: 'UPSERT',
    ResourceRecordSet: {
      Name: current?.name ?? fqdn,
      Type: 'TXT',
      TTL: current ? Math.min(current.ttl, ttl) : ttl,
      ResourceRecords: next.map((Value) => ({ Value })),
    },
  };
}

/**
 * The change that removes `values` from `current`: an UPSERT of what is
 * left (same TTL), or a DELETE of the set exactly as read when nothing is
 * left; `undefined` when none of the values is there (already gone).
 */
export function planDelete(current: TxtSet | undefined, values: readonly string[]): Change | undefined {
  if (!current) return undefined;
  const remove = new Set(values);
  const remaining = current.values.filter((raw) => !remove.has(decodeTxtValue(raw)));
  if (remaining.length === current.values.length) return undefined;
  const set = { Name: current.name, Type: 'TXT' as const, TTL: current.ttl };
  return remaining.length > 0
    ? { Action: 'UPSERT', ResourceRecordSet: { ...set, ResourceRecords: remaining.map((Value) => ({ Value })) } }
    : { Action: 'DELETE', ResourceRecordSet: { ...set, ResourceRecords: current.values.map((Value) => ({ Value })) } };
}

/** True when two reads of the same names found the same sets (nobody changed them in between). */
export function sameSets(a: ReadonlyMap<string, TxtSet | undefined>, b: ReadonlyMap<string, TxtSet | undefined>): boolean {
  for (const [name, set] of a) {
    const other = b.get(name);
    if (!set || !other) { if (set !== other) return false; continue; }
    if (set.ttl !== other.ttl || set.values.join('\0') !== other.values.join('\0')) return false;
  }
  return true;
}
