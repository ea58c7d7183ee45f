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
import { createHash } from 'node:crypto';
import type { KeyType } from '../certificate.js';
import { buildCertificate } from '../x509/parse.js';
import { joinPem, pemToDer, splitCertificates } from '../x509/pem.js';
import type { Store } from './store.js';

/** Metadata stored next to each version. */
export interface VersionMeta {
  domains: string[];
  issuerId?: string;
  storedAt: string;
  serialNumber: string;
  /** The parsed facts of the leaf, so loading thousands of certificates needs no X.509 parsing (absent in old versions). */
  notBefore?: string;
  notAfter?: string;
  keyType?: KeyType;
  issuer?: string;
  fingerprint256?: string;
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
      const certificate = fromMeta(name, meta, fullchain.toString(), key.toString())
        ?? buildCertificate(name, meta.domains, fullchain.toString(), key.toString(), { trustedKey: true });
      return { certificate, version, meta };
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
    const meta: VersionMeta = {
      domains: certificate.domains,
      storedAt: new Date().toISOString(),
      serialNumber: certificate.serialNumber,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      keyType: certificate.keyType,
      issuer: certificate.issuer,
      fingerprint256: certificate.fingerprint256,
      ...(issuerId ? { issuerId } : {}),
    };
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

/**
 * Rebuilds a certificate from its stored facts without parsing X.509 (about
 * 0.16 ms each, which dominates loading 10,000). The leaf's SHA-256 must equal
 * the stored fingerprint, so facts never pair with another certificate;
 * anything missing or different falls back to full parsing.
 */
function fromMeta(name: string, meta: VersionMeta, fullchain: string, key: string): ManagedCertificate | undefined {
  if (!meta.notBefore || !meta.notAfter || !meta.keyType || !meta.issuer || !meta.fingerprint256) return undefined;
  if (!key.startsWith('-----BEGIN PRIVATE KEY-----')) return undefined;
  const blocks = splitCertificates(fullchain);
  const leaf = blocks[0];
  if (!leaf) return undefined;
  const digest = createHash('sha256').update(pemToDer(leaf)).digest('hex').toUpperCase().match(/../g)!.join(':');
  if (digest !== meta.fingerprint256) return undefined;
  return {
    name,
    domains: [...meta.domains],
    serialNumber: meta.serialNumber,
    notBefore: new Date(meta.notBefore),
    notAfter: new Date(meta.notAfter),
    keyType: meta.keyType,
    issuer: meta.issuer,
    fingerprint256: meta.fingerprint256,
    cert: leaf,
    chain: joinPem(blocks.slice(1)),
    fullchain: joinPem(blocks),
    key,
  };
}
