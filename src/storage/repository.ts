/**
 * The certificate repository on top of any {@link Store}:
 * `certificates/<name>/<version>/{cert,chain,fullchain,key}.pem` + `meta.json`,
 * and a `certificates/<name>/current` pointer to the active version (a
 * symlink in FileStore, so nginx & co. read `<name>/current/fullchain.pem`).
 * A version is fully written before the pointer moves, so a failed write never
 * touches what is active.
 */
import type { ManagedCertificate } from '../certificate.js';
import { StoreError } from '../errors.js';
import { buildCertificate } from '../x509/parse.js';
import type { Store } from './store.js';

/** Metadata stored next to each version. */
export interface VersionMeta {
  domains: string[];
  issuerId?: string;
  storedAt: string;
  serialNumber: string;
}

/** A stored certificate and the version that holds it. */
export interface StoredCertificate {
  certificate: ManagedCertificate;
  version: string;
  meta: VersionMeta;
}

const ROOT = 'certificates';

/** Reads and writes certificate versions in a store. */
export class CertificateRepository {
  constructor(private readonly store: Store, private readonly keepVersions = 5) {}

  /** The version the `current` pointer names, if any. */
  async currentVersion(name: string): Promise<string | undefined> {
    return this.store.getPointer(`${ROOT}/${name}/current`);
  }

  /** Loads the active certificate of `name`; a damaged version is a `STORE_CORRUPT` error. */
  async load(name: string, knownVersion?: string): Promise<StoredCertificate | undefined> {
    const version = knownVersion ?? (await this.currentVersion(name));
    if (!version) return undefined;
    const base = `${ROOT}/${name}/${version}`;
    const [fullchain, key, metaRaw] = await Promise.all([
      this.store.get(`${base}/fullchain.pem`),
      this.store.get(`${base}/key.pem`),
      this.store.get(`${base}/meta.json`),
    ]);
    if (!fullchain || !key || !metaRaw) {
      throw new StoreError('STORE_CORRUPT', `Stored certificate "${name}" (version ${version}) is incomplete in the ${this.store.kind} store: it will be issued again`, { details: { name, version } });
    }
    try {
      const meta = JSON.parse(metaRaw.toString()) as VersionMeta;
      return { certificate: buildCertificate(name, meta.domains, fullchain.toString(), key.toString(), { trustedKey: true }), version, meta };
    } catch (error) {
      throw new StoreError('STORE_CORRUPT', `Stored certificate "${name}" (version ${version}) cannot be parsed: it will be issued again`, { details: { name, version }, cause: error });
    }
  }

  /** Writes a new version and then points `current` at it; prunes old versions. Resolves to the version id. */
  async save(certificate: ManagedCertificate, issuerId?: string): Promise<string> {
    const { name } = certificate;
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
    const version = `${stamp}-${certificate.serialNumber.slice(-16)}`;
    const base = `${ROOT}/${name}/${version}`;
    const meta: VersionMeta = { domains: certificate.domains, storedAt: new Date().toISOString(), serialNumber: certificate.serialNumber, ...(issuerId ? { issuerId } : {}) };
    await this.store.set(`${base}/key.pem`, certificate.key, { sensitive: true });
    await Promise.all([
      this.store.set(`${base}/cert.pem`, certificate.cert),
      this.store.set(`${base}/chain.pem`, certificate.chain),
      this.store.set(`${base}/fullchain.pem`, certificate.fullchain),
    ]);
    // meta.json last: a version without it is incomplete and never pointed at.
    await this.store.set(`${base}/meta.json`, JSON.stringify(meta, null, 2));
    await this.store.setPointer(`${ROOT}/${name}/current`, version);
    await this.prune(name, version).catch(() => undefined);
    return version;
  }

  /** Every name with something stored (callers read the `current` pointer themselves: a name may have none yet). */
  async names(): Promise<string[]> {
    if (this.store.children) return this.store.children(ROOT);
    const names = new Set<string>();
    for (const key of await this.store.list(ROOT)) {
      const name = key.split('/')[1];
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  private async prune(name: string, current: string): Promise<void> {
    const keys = await this.store.list(`${ROOT}/${name}`);
    const versions = [...new Set(keys.map((k) => k.split('/')[2]).filter((v): v is string => !!v && v !== 'current'))].sort();
    const old = versions.filter((v) => v !== current).slice(0, Math.max(0, versions.length - this.keepVersions));
    for (const version of old) {
      for (const key of keys.filter((k) => k.startsWith(`${ROOT}/${name}/${version}/`))) await this.store.delete(key);
    }
  }
}
