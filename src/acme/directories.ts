/** Well-known ACME directory URLs. Any RFC 8555 directory URL works as well. */
export const ACME_DIRECTORIES = {
  /** Let's Encrypt production. */
  letsEncrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  /** Let's Encrypt staging (untrusted certificates, generous rate limits): use it while testing. */
  letsEncryptStaging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
  /** ZeroSSL (needs external account binding). */
  zeroSsl: 'https://acme.zerossl.com/v2/DV90',
  /** Google Trust Services production (needs external account binding). */
  googleTrustServices: 'https://dv.acme-v02.api.pki.goog/directory',
  /** Google Trust Services staging (needs external account binding). */
  googleTrustServicesStaging: 'https://dv.acme-v02.test-api.pki.goog/directory',
} as const;
