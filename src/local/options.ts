/** Options of the local CA, their defaults and their validation. */
import type { KeyType } from '../certificate.js';
import { ConfigError } from '../errors.js';
import { assertKeyType } from '../x509/keys.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Options of {@link LocalIssuer}. */
export interface LocalIssuerOptions {
  /**
   * Name of the CA: the prefix of its certificates' common names (`<name> Root`,
   * `<name> Intermediate`) and, as a slug, of its keys in the store
   * (`local-ca/<slug>/…`). Two issuers with the same name on one store share one CA.
   * At most 50 characters.
   * @default 'certpilot local CA'
   */
  name?: string;
  /** Key type of the CA keys created on first use, and of leaf keys when the request names none. @default 'ecdsa-p256' */
  keyType?: KeyType;
  /** Lifetime of leaf certificates. At most half of `intermediateLifetimeMs`. @default 86400000 (24 hours) */
  leafLifetimeMs?: number;
  /** Lifetime of the root created on first use. Clients trust it, so it lives long. @default 315360000000 (10 years of 365 days) */
  rootLifetimeMs?: number;
  /** Lifetime of each intermediate; a new one is signed by the root when a third of it remains. @default 31536000000 (365 days) */
  intermediateLifetimeMs?: number;
  /** Validity of each CRL (`nextUpdate - thisUpdate`); `crl()` re-signs once half of it has passed. @default 3600000 (1 hour) */
  crlLifetimeMs?: number;
  /** http(s) URL written into the CRL distribution point of leaves; serve `crl()` there. @default undefined (no distribution point) */
  crlUrl?: string;
}

/** {@link LocalIssuerOptions} with every default applied. */
export interface ResolvedLocalOptions {
  name: string;
  slug: string;
  keyType: KeyType;
  leafLifetimeMs: number;
  rootLifetimeMs: number;
  intermediateLifetimeMs: number;
  crlLifetimeMs: number;
  crlUrl: string | undefined;
}

/** Longest name: the intermediate's CN (`<name> Intermediate`) must fit X.520's 64 characters. */
const MAX_NAME = 50;

/** The store segment for a CA name: lower-case letters, digits and single hyphens. */
export function slugOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function fail(message: string): never {
  throw new ConfigError('INVALID_OPTIONS', message);
}

function duration(options: LocalIssuerOptions, key: 'leafLifetimeMs' | 'rootLifetimeMs' | 'intermediateLifetimeMs' | 'crlLifetimeMs', fallback: number): number {
  const value = options[key];
  if (value === undefined) return fallback;
  // X.509 times have whole seconds: anything shorter than one second cannot be written down.
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1000) {
    fail(`LocalIssuer ${key} must be a number of milliseconds of at least 1000, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Applies defaults and throws a {@link ConfigError} (`INVALID_OPTIONS`, `INVALID_KEY_TYPE`) for anything unusable. */
export function resolveOptions(options: LocalIssuerOptions | undefined): ResolvedLocalOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) fail('LocalIssuer options must be an object (or omitted)');
  const name = options.name === undefined ? 'certpilot local CA' : options.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) {
    fail(`LocalIssuer name must be a non-empty string of at most ${MAX_NAME} characters, got ${JSON.stringify(name)}`);
  }
  const slug = slugOf(name);
  if (slug === '') fail(`LocalIssuer name ${JSON.stringify(name)} needs at least one letter or digit (it names the CA's keys in the store)`);
  if (options.keyType !== undefined) assertKeyType(options.keyType);
  const leafLifetimeMs = duration(options, 'leafLifetimeMs', DAY);
  const intermediateLifetimeMs = duration(options, 'intermediateLifetimeMs', 365 * DAY);
  const rootLifetimeMs = duration(options, 'rootLifetimeMs', 10 * 365 * DAY);
  const crlLifetimeMs = duration(options, 'crlLifetimeMs', HOUR);
  // An intermediate must outlive the leaves it signs, with room to spare; otherwise it is replaced on nearly every issue.
  if (leafLifetimeMs * 2 > intermediateLifetimeMs) {
    fail(`LocalIssuer leafLifetimeMs (${leafLifetimeMs}) must be at most half of intermediateLifetimeMs (${intermediateLifetimeMs}): raise intermediateLifetimeMs`);
  }
  if (intermediateLifetimeMs > rootLifetimeMs) {
    fail(`LocalIssuer intermediateLifetimeMs (${intermediateLifetimeMs}) must not exceed rootLifetimeMs (${rootLifetimeMs})`);
  }
  let crlUrl: string | undefined;
  if (options.crlUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.crlUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      fail(`LocalIssuer crlUrl must be an http:// or https:// URL, got ${JSON.stringify(options.crlUrl)}`);
    }
    crlUrl = url.href;
  }
  return {
    name: name.trim(), slug, keyType: options.keyType ?? 'ecdsa-p256',
    leafLifetimeMs, rootLifetimeMs, intermediateLifetimeMs, crlLifetimeMs, crlUrl,
  };
}
