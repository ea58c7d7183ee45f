/**
 * A challtestsrv DNS provider whose deletes work across processes.
 *
 * The packaged `certpilot/providers/challtestsrv` deletes only values its
 * own instance added (it cannot tell another program's value from a
 * leftover), so a survivor could never remove the TXT record a killed
 * process left behind. This one reads what the host answers, clears it and
 * adds back every value it was not asked to delete — exact deletion by
 * value, like the real providers (Cloudflare, Route 53) do. Operations on
 * one host are serialized within the process; across the fleet the
 * certificate lock serializes them.
 */
import { Resolver } from 'node:dns/promises';
import { ChalltestsrvClient } from '../../providers/challtestsrv/api.js';
import type { DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { absoluteName } from '../../src/challenges/zones.js';

/** TXT values `host` answers on the challtestsrv DNS listener `dnsServer` (`ip:port`). */
export async function txtValues(dnsServer: string, host: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([dnsServer]);
  try {
    return (await resolver.resolveTxt(host)).map((chunks) => chunks.join(''));
  } catch (error) {
    if ((error as { code?: string }).code === 'ENODATA' || (error as { code?: string }).code === 'ENOTFOUND') return [];
    throw error;
  }
}

/** See the file comment. The name is `challtestsrv`, so journal entries match across processes. */
export function exactChalltestsrv(options: { managementUrl: string; dnsServer: string }): DnsProvider {
  const api = new ChalltestsrvClient({ managementUrl: options.managementUrl });
  const queues = new Map<string, Promise<unknown>>();
  const serialized = <T>(host: string, task: () => Promise<T>): Promise<T> => {
    const run = (queues.get(host) ?? Promise.resolve()).then(task, task);
    queues.set(host, run.catch(() => undefined));
    return run;
  };
  const byHost = (zone: string, records: DnsRecord[]) => {
    const groups = new Map<string, string[]>();
    for (const r of records) {
      const host = absoluteName(r.name, zone).toLowerCase();
      groups.set(host, [...(groups.get(host) ?? []), r.value]);
    }
    return groups;
  };
  return {
    name: 'challtestsrv',
    async appendRecords(zone, records, { signal }) {
      for (const [host, values] of byHost(zone, records)) {
        await serialized(host, async () => { for (const value of values) await api.setTxt(host, value, signal); });
      }
      return records.map((r) => ({ ...r }));
    },
    async deleteRecords(zone, records, { signal }) {
      for (const [host, values] of byHost(zone, records)) {
        await serialized(host, async () => {
          const current = await txtValues(options.dnsServer, host);
          if (!current.some((v) => values.includes(v))) return; // already gone
          await api.clearTxt(host, signal);
          for (const value of current) if (!values.includes(value)) await api.setTxt(host, value, signal);
        });
      }
      return records;
    },
    async listZones() {
      return ['.'];
    },
  };
}
