/** Build entries: output path (without extension, relative to dist/) → source file. Kept in sync with package.json "exports" by test/unit/exports.test.ts. */
export const entries: Record<string, string> = {
  index: 'src/index.ts',
  'providers/challtestsrv/index': 'providers/challtestsrv/index.ts',
  'providers/route53/index': 'providers/route53/index.ts',
  'providers/cloudflare/index': 'providers/cloudflare/index.ts',
  'providers/google-cloud-dns/index': 'providers/google-cloud-dns/index.ts',
  'providers/rfc2136/index': 'providers/rfc2136/index.ts',
  'storage/redis': 'src/storage/redis.ts',
};
