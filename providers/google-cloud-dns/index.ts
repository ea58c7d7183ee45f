/**
 * DNS provider for Google Cloud DNS (REST API v1 over `fetch`).
 *
 * @example
 * ```ts
 * import { googleCloudDns } from 'certpilot/providers/google-cloud-dns';
 * const dns = googleCloudDns({ project: 'my-project' }); // Application Default Credentials
 * ```
 */
import type { DnsProvider } from '../../src/challenges/provider.js';
import { createGoogleCloudDns } from './provider.js';

export { CLOUD_DNS_SCOPE } from './auth.js';
export { CloudDnsError } from './errors.js';

/** Options of {@link googleCloudDns}. */
export interface GoogleCloudDnsOptions {
  /** Google Cloud project ID that owns the managed zones. */
  project: string;
  /**
   * Resource name of the managed zone to write to (`example-com`, not the
   * DNS name). Saves the zone lookup and lets the credentials do without
   * `dns.managedZones.list`.
   * @default found by listing the project's managed zones with the zone's DNS name
   */
  managedZone?: string;
  /**
   * Service-account key (the parsed JSON object, or its text) used through
   * google-auth-library.
   * @default Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server)
   */
  credentials?: Record<string, unknown> | string;
  /**
   * An OAuth 2 access token with the `ndev.clouddns.readwrite` (or
   * `cloud-platform`) scope, or a function called before every request that
   * returns a current one. When given, google-auth-library is not needed.
   * @default tokens from `credentials` or Application Default Credentials
   */
  accessToken?: string | (() => Promise<string> | string);
  /**
   * Base URL of the API; the provider appends `/dns/v1/projects/…`.
   * @default 'https://dns.googleapis.com'
   */
  endpoint?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /**
   * Retries of one request after 429, 5xx or a network error, and re-reads
   * after another writer changed the same record set.
   * @default 5
   */
  maxRetries?: number;
  /** Longest wait between two polls of a pending change (polling starts at 100 ms). @default 2000 */
  pollIntervalMs?: number;
  /** How long a change may stay `pending` before the call fails (retryably). @default 120000 */
  changeTimeoutMs?: number;
  /** Bound on each HTTP request. @default 30000 */
  requestTimeoutMs?: number;
  /**
   * Also write to private (VPC-only) managed zones when a zone has no public
   * one, and list them in `listZones`. Only useful with a CA inside the VPC.
   * @default false
   */
  allowPrivateZones?: boolean;
}

/** Facts about this provider, for documentation and tooling. */
export const meta = {
  name: 'google-cloud-dns',
  description: 'Google Cloud DNS (REST API v1)',
  permissions:
    'a custom role with dns.changes.create, dns.changes.get, dns.resourceRecordSets.list/create/update/delete and dns.managedZones.list (dns.managedZones.get instead when managedZone is set)',
  peerDependencies: ['google-auth-library (only without accessToken)'],
} as const;

/**
 * Creates a {@link DnsProvider} that edits TXT records in Google Cloud DNS.
 *
 * Values at one name live in one record set; every edit is one atomic
 * change that deletes the set exactly as read and adds the edited set, so
 * other values at the name (another challenge's, or foreign records) are
 * never lost, and a concurrent writer makes the change fail and be redone.
 * Calls resolve when Cloud DNS reports the change `done`.
 *
 * @example
 * ```ts
 * const dns = googleCloudDns({ project: 'my-project', credentials: JSON.parse(await readFile('sa.json', 'utf8')) });
 * const created = await dns.appendRecords('example.com.', [{ type: 'TXT', name: '_acme-challenge', value: 'abc', ttl: 60 }], { signal });
 * await dns.deleteRecords('example.com.', created, { signal });
 * ```
 */
export function googleCloudDns(options: GoogleCloudDnsOptions): DnsProvider {
  return createGoogleCloudDns(options);
}
