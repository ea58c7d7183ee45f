/** Shared helpers of the LocalIssuer unit tests. */
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType, ManagedCertificate } from '../../../src/certificate.js';
import type { IssueContext } from '../../../src/issuer.js';
import type { LocalIssuer } from '../../../src/local/issuer.js';
import type { Store, StoreSetOptions } from '../../../src/storage/store.js';
import { buildCertificate } from '../../../src/x509/parse.js';
import { splitCertificates } from '../../../src/x509/pem.js';

export { x509 };

/** An issue context on `store` that nobody aborts. */
export function contextOf(store: Store, signal: AbortSignal = new AbortController().signal): IssueContext {
  return { store, signal, progress: () => undefined };
}

/** Issues through `issuer` and returns the result as the manager would hold it. */
export async function issue(
  issuer: LocalIssuer, store: Store, domains: string[], options: { name?: string; keyType?: KeyType; key?: string } = {},
): Promise<ManagedCertificate> {
  const name = options.name ?? 'test';
  const issued = await issuer.issue(
    { name, domains, keyType: options.keyType ?? issuer.keyType, ...(options.key ? { key: options.key } : {}) },
    contextOf(store),
  );
  return buildCertificate(name, domains, issued.fullchain, issued.key);
}

/** The certificates of a PEM bundle, parsed by Node (what a TLS peer sees). */
export function nodeCerts(pem: string): X509Certificate[] {
  return splitCertificates(pem).map((block) => new X509Certificate(block));
}

/** Records the options of every `set`, to check what is written as sensitive. */
export function recordSets(store: Store): Map<string, StoreSetOptions | undefined> {
  const seen = new Map<string, StoreSetOptions | undefined>();
  const set = store.set.bind(store);
  store.set = async (key, value, options) => {
    seen.set(key, options);
    return set(key, value, options);
  };
  return seen;
}
