/**
 * Validation and normalisation of what users pass as names and domains, so
 * every bad input fails early with a message that says what to fix.
 */
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Normalises one domain: lower-case, no trailing dot, IDNs to A-labels
 * (punycode). A wildcard is allowed only as the whole left-most label of a
 * name with at least two more labels (`*.example.com`). IP addresses are
 * refused because DNS-01 cannot validate them.
 */
export function normalizeDomain(input: unknown): string {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new ConfigError('INVALID_DOMAIN', `Domain must be a non-empty string, got ${JSON.stringify(input)}`);
  }
  let domain = input.trim().toLowerCase().replace(/\.$/, '');
  if (isIP(domain)) {
    throw new ConfigError('INVALID_DOMAIN', `"${input}" is an IP address: DNS-01 validates domain names only; request a name that resolves to it instead`);
  }
  const wildcard = domain.startsWith('*.');
  const rest = wildcard ? domain.slice(2) : domain;
  if (rest.includes('*')) {
    throw new ConfigError('INVALID_DOMAIN', `"${input}" has a wildcard in the wrong place: only a whole left-most label is allowed, as in "*.example.com"`);
  }
  const ascii = domainToASCII(rest);
  if (!ascii) {
    throw new ConfigError('INVALID_DOMAIN', `"${input}" is not a valid domain name (letters, digits and hyphens in dot-separated labels)`);
  }
  const labels = ascii.split('.');
  if (labels.length < 2) {
    throw new ConfigError('INVALID_DOMAIN', `"${input}" has a single label: CAs issue only for fully qualified names such as "${ascii}.example.com"`);
  }
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new ConfigError(
        'INVALID_DOMAIN',
        `"${input}" has an invalid label "${label}": labels are 1–63 letters, digits or hyphens, and do not start or end with a hyphen`,
      );
    }
  }
  domain = (wildcard ? '*.' : '') + ascii;
  if (domain.length > 253) {
    throw new ConfigError('INVALID_DOMAIN', `"${input}" is longer than 253 characters`);
  }
  return domain;
}

/** Normalises a list of domains, removes duplicates and refuses an empty list. Order is kept. */
export function normalizeDomains(input: unknown): string[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new ConfigError('INVALID_DOMAIN', 'domains must be a non-empty array of domain names, e.g. ["example.com", "*.example.com"]');
  }
  if (input.length > 100) {
    throw new ConfigError('INVALID_DOMAIN', `A certificate holds at most 100 names; got ${input.length}: split them over several managed names`);
  }
  return [...new Set(input.map(normalizeDomain))];
}

/** True when two domain lists hold the same names, in any order. */
export function sameDomains(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((d) => set.has(d));
}

/**
 * Checks a managed name: it becomes a directory or key segment, so it is
 * restricted to letters, digits, `.`, `_` and `-` (at most 64 characters).
 */
export function assertName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..' || name.includes('..')) {
    throw new ConfigError(
      'INVALID_NAME',
      `Certificate name ${JSON.stringify(name)} is invalid: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit (it is a handle such as "api", not a domain list)`,
    );
  }
}

/** True when the certificate name `pattern` (exact or `*.` wildcard) covers `host`. */
export function domainMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const h = host.toLowerCase().replace(/\.$/, '');
  if (p === h) return true;
  if (!p.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}
