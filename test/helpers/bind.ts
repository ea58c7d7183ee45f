import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { requireBinary, startService } from './process.js';

const run = promisify(execFile);

/** A TSIG key as the `rfc2136` provider takes it. */
export interface TsigKey {
  name: string;
  /** base64 */
  secret: string;
  algorithm: 'hmac-sha256';
}

/** Options of {@link startBind}. */
export interface BindOptions {
  /** Zones (FQDNs, trailing dot optional) served as primary, each with SOA, NS (ns.<zone> at 127.0.0.1) and an apex A record. @default ['example.test.'] */
  zones?: string[];
}

/** A running BIND 9 authoritative server on 127.0.0.1. */
export interface Bind {
  /** `127.0.0.1:PORT` (for `rfc2136({ server })`, Pebble's `dnsServer`, `propagation.nameservers`). */
  server: string;
  port: number;
  /** Key allowed to update TXT records (only) anywhere in the zones. */
  tsig: TsigKey;
  /** Path of the key in named.conf syntax, for `nsupdate -k`. */
  keyFile: string;
  zones: string[];
  output(): string;
  /** Stops named and removes its temp directory. */
  stop(): Promise<void>;
}

const fqdn = (zone: string) => (zone.endsWith('.') ? zone : `${zone}.`);

/**
 * Starts `named -g -4` on a free port of 127.0.0.1 in a temp directory, serving `zones` with
 * dynamic TXT updates allowed to a fresh hmac-sha256 TSIG key, and waits until it answers SOA
 * for every zone (checked with `dig`). Needs no root; as root it keeps running as root.
 */
export async function startBind(options: BindOptions = {}): Promise<Bind> {
  requireBinary('/usr/sbin/named', 'bind9');
  requireBinary('/usr/bin/dig', 'bind9-dnsutils');
  const zones = (options.zones ?? ['example.test.']).map(fqdn);
  const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-bind-'));
  const port = await freePort();
  const tsig: TsigKey = { name: 'certpilot-test-key', secret: randomBytes(32).toString('base64'), algorithm: 'hmac-sha256' };
  const keyFile = path.join(dir, 'tsig.key');
  await writeFile(keyFile, `key "${tsig.name}" {\n  algorithm ${tsig.algorithm};\n  secret "${tsig.secret}";\n};\n`, { mode: 0o600 });
  const zoneBlocks: string[] = [];
  for (const [i, zone] of zones.entries()) {
    const file = path.join(dir, `zone${i}.db`);
    await writeFile(file, [
      '$TTL 60',
      `${zone} IN SOA ns.${zone} hostmaster.${zone} ( 1 60 60 600 60 )`,
      `${zone} IN NS ns.${zone}`,
      `ns.${zone} IN A 127.0.0.1`,
      `${zone} IN A 127.0.0.1`,
      '',
    ].join('\n'));
    zoneBlocks.push(`zone "${zone}" {\n  type primary;\n  file "${file}";\n  update-policy { grant ${tsig.name} zonesub TXT; };\n};`);
  }
  const conf = path.join(dir, 'named.conf');
  await writeFile(conf, `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  query-source address 127.0.0.1;
  recursion no;
  notify no;
  dnssec-validation no;
};
controls { };
include "${keyFile}";
${zoneBlocks.join('\n')}
`);
  const service = startService('/usr/sbin/named', ['-g', '-4', '-c', conf]);
  const stop = async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForSoa(port, zones, () => service.process.exitCode);
  } catch (error) {
    const log = service.output();
    await stop();
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return { server: `127.0.0.1:${port}`, port, tsig, keyFile, zones, output: service.output, stop };
}

async function waitForSoa(port: number, zones: string[], exitCode: () => number | null): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const zone of zones) {
    for (;;) {
      if (exitCode() !== null) throw new Error(`named exited with code ${exitCode()}`);
      const { stdout } = await run('/usr/bin/dig', ['+short', '+time=1', '+tries=1', '-p', String(port), '@127.0.0.1', zone, 'SOA'])
        .catch(() => ({ stdout: '' }));
      if (stdout.trim().startsWith(`ns.${zone}`)) break;
      if (Date.now() > deadline) throw new Error(`named on 127.0.0.1:${port} did not answer SOA for ${zone} within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
