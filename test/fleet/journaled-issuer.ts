/**
 * What the core hook for the challenge journal does, wrapped around an
 * unmodified AcmeIssuer so the fleet test can prove it today: before each
 * order, delete what a dead predecessor left in the journal; during the
 * order, journal every record before it is created.
 *
 * The proper place is `AcmeIssuer.issue` (see docs/fleets.md and the report
 * of issue 6); this wrapper swaps the provider behind a proxy, which is only
 * correct while one order runs at a time in the process — true for the
 * fleet workers, each of which manages one name.
 */
import type { DnsProvider } from '../../src/challenges/provider.js';
import { journaledProvider, recoverChallenges, type RecoveryResult } from '../../src/challenges/journal.js';
import type { Issuer } from '../../src/issuer.js';

/** An issuer built by `make` around a provider that journals for the name being issued. */
export function journaledIssuer(make: (dns: DnsProvider) => Issuer, dns: DnsProvider, onRecovered: (result: RecoveryResult) => void): Issuer {
  let current = dns;
  const proxy: DnsProvider = {
    name: dns.name,
    appendRecords: (zone, records, options) => current.appendRecords(zone, records, options),
    deleteRecords: (zone, records, options) => current.deleteRecords(zone, records, options),
    ...(dns.listZones ? { listZones: dns.listZones.bind(dns) } : {}),
  };
  const inner = make(proxy);
  return {
    id: inner.id,
    keyType: inner.keyType,
    async issue(request, context) {
      // Called by the manager under the lock on certificates/<name>: every journal entry is a dead holder's.
      onRecovered(await recoverChallenges(dns, context.store, request.name, context.signal));
      current = journaledProvider(dns, context.store, request.name);
      try {
        return await inner.issue(request, context);
      } finally {
        current = dns;
      }
    },
    revoke: (certificate, reason, context) => inner.revoke(certificate, reason, context),
  };
}
