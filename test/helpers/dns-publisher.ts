/**
 * Publishes a fake cloud's TXT record sets into pebble-challtestsrv, so the
 * records a provider writes through a fake API are served by the DNS server
 * that Pebble validates against. challtestsrv can only clear every value of a
 * host, so each publish sends the whole set for that host.
 */
export interface DnsPublisher {
  /** Makes `fqdn` (with or without trailing dot) answer exactly `values`. */
  publish(fqdn: string, values: string[]): Promise<void>;
}

/** A publisher that writes into the challtestsrv at `managementUrl`; hosts are serialized. */
export function challtestsrvPublisher(managementUrl: string): DnsPublisher {
  const chains = new Map<string, Promise<void>>();
  const published = new Map<string, string[]>();
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${managementUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}`);
  };
  return {
    publish(fqdn, values) {
      const host = fqdn.endsWith('.') ? fqdn : `${fqdn}.`;
      const run = async () => {
        const before = published.get(host) ?? [];
        const added = values.filter((v) => !before.includes(v));
        // Only a removal needs the clear (which empties the name for a moment): additions go straight in.
        if (before.some((v) => !values.includes(v))) {
          await post('/clear-txt', { host });
          for (const value of values) await post('/set-txt', { host, value });
        } else {
          for (const value of added) await post('/set-txt', { host, value });
        }
        published.set(host, [...values]);
      };
      const next = (chains.get(host) ?? Promise.resolve()).then(run, run);
      chains.set(host, next.catch(() => undefined));
      return next;
    },
  };
}
