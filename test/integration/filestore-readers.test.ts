/**
 * Programs that read certificate files (nginx, Redis, Envoy…) while the
 * manager rotates: a separate reader process reads `current/fullchain.pem`
 * and `current/key.pem` in a tight loop during 100 swaps of a FileStore's
 * `current` symlink. Resolving `current` once per pair (realpath) and
 * reading both files from that version directory never yields a torn file
 * or a key that does not match its certificate. Then the reload actions
 * that run after each swap: callbacks, commands without a shell, coalescing,
 * failures and timeouts.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../src/errors.js';
import type { ErrorEvent } from '../../src/events.js';
import { LocalIssuer } from '../../src/local/issuer.js';
import { CertificateManager } from '../../src/manager.js';
import { FileStore } from '../../src/storage/file.js';
import { onRotatedReload, ReloadError } from '../../src/storage/reload.js';
import { tempDir } from '../helpers/manager.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(keepVersions = 5) {
  const { dir, cleanup } = await tempDir('certpilot-readers-');
  cleanups.push(cleanup);
  const store = new FileStore({ directory: dir });
  const manager = new CertificateManager({ store, issuer: new LocalIssuer({ name: 'reader test CA' }), keepVersions });
  cleanups.push(() => manager.close());
  await manager.provision({ name: 'web', domains: ['web.readers.test'] });
  return { dir, manager, live: path.join(dir, 'certificates', 'web') };
}

/**
 * The reader, as plain JavaScript in its own process so that its tight loop
 * really runs in parallel with the writer. `resolved` is THE way to read a
 * pair (see docs/rotation.md); `naive` opens both paths through the symlink
 * separately and is only measured, to show why the rule exists.
 */
const READER = String.raw`
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [live, stopFile, mode] = process.argv.slice(1);
const stats = { reads: 0, torn: 0, mismatched: 0, retries: 0, versions: 0, problems: [] };
const seen = new Set();
const complete = (pem) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) || []).join('') === pem && pem.length > 0;
for (let i = 0; ; i++) {
  if (i % 200 === 0 && fs.existsSync(stopFile)) break;
  let fullchain, key, dir;
  try {
    if (mode === 'resolved') {
      dir = fs.realpathSync(path.join(live, 'current'));     // one resolution per pair
      fullchain = fs.readFileSync(path.join(dir, 'fullchain.pem'), 'utf8');
      key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
    } else {
      fullchain = fs.readFileSync(path.join(live, 'current', 'fullchain.pem'), 'utf8');
      key = fs.readFileSync(path.join(live, 'current', 'key.pem'), 'utf8');
    }
  } catch (error) {
    // The version directory was pruned between resolving and reading (keepVersions behind): resolve again.
    if (error.code === 'ENOENT') { stats.retries++; continue; }
    throw error;
  }
  stats.reads++;
  if (dir && !seen.has(dir)) { seen.add(dir); stats.versions++; }
  let cert, privateKey;
  try {
    if (!complete(fullchain)) throw new Error('incomplete PEM');
    cert = new crypto.X509Certificate(fullchain);
    privateKey = crypto.createPrivateKey(key);
  } catch (error) {
    stats.torn++;
    if (stats.problems.length < 5) stats.problems.push('torn: ' + error.message);
    continue;
  }
  if (!cert.checkPrivateKey(privateKey)) {
    stats.mismatched++;
    if (stats.problems.length < 5) stats.problems.push('mismatched pair, serial ' + cert.serialNumber);
  }
}
process.stdout.write(JSON.stringify(stats));
`;

interface ReaderStats { reads: number; torn: number; mismatched: number; retries: number; versions: number; problems: string[] }

function startReader(live: string, stopFile: string, mode: 'resolved' | 'naive'): Promise<ReaderStats> {
  const child = spawn(process.execPath, ['-e', READER, live, stopFile, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ReaderStats) : reject(new Error(`reader exited ${code}: ${err}`))));
  });
}

const serialOfFile = (file: string) => new X509Certificate(readFileSync(file)).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

describe('FileStore readers during 100 swaps', () => {
  it('never see a torn file or a mismatched pair when they resolve current once per pair; reload actions run after every swap', async () => {
    const { dir, manager, live } = await setup();
    const stopFile = path.join(dir, 'stop-readers');
    const resolved = startReader(live, stopFile, 'resolved');
    const naive = startReader(live, stopFile, 'naive');

    // Reload actions: a callback (which checks that the swap already happened) and a command without a shell.
    const calls: string[] = [];
    const notYetSwapped: string[] = [];
    const errors: ErrorEvent[] = [];
    manager.on('error', (event) => errors.push(event));
    const callback = onRotatedReload(manager, ({ current }) => {
      calls.push(current.serialNumber);
      const onDisk = serialOfFile(path.join(realpathSync(path.join(live, 'current')), 'cert.pem'));
      if (onDisk !== current.serialNumber) notYetSwapped.push(current.serialNumber);
    });
    const appended = path.join(dir, 'reloads.log');
    const command = onRotatedReload(manager, {
      // sh is the program run here (a small one starts fast); certpilot itself never goes through a shell.
      command: '/bin/sh',
      args: ['-c', 'echo "$CERTPILOT_NAME $CERTPILOT_SERIAL" >> "$1"', 'reload', appended],
    });
    cleanups.push(callback, command);

    const serials: string[] = [];
    for (let i = 0; i < 100; i++) {
      serials.push((await manager.rotate('web')).serialNumber);
      // One command run per swap, so the log can be compared line by line.
      await Promise.all([callback.idle(), command.idle()]);
    }
    await writeFile(stopFile, '');
    const [good, bad] = await Promise.all([resolved, naive]);

    expect(good.problems).toEqual([]);
    expect(good.torn).toBe(0);
    expect(good.mismatched).toBe(0);
    expect(good.reads).toBeGreaterThan(1000);
    expect(good.versions).toBeGreaterThan(50); // it really read across the swaps
    // Only ever 5 versions on disk (keepVersions), the live one among them.
    const versions = (await import('node:fs')).readdirSync(live).filter((entry) => entry !== 'current');
    expect(versions.length).toBeLessThanOrEqual(5);
    expect(serialOfFile(path.join(live, 'current', 'cert.pem'))).toBe(serials.at(-1));

    expect(calls).toEqual(serials);
    expect(notYetSwapped).toEqual([]);
    expect((await readFile(appended, 'utf8')).trim().split('\n')).toEqual(serials.map((s) => `web ${s}`));
    expect(errors).toEqual([]);
    console.log(
      `readers: realpath-once ${good.reads} reads over ${good.versions} versions, 0 torn, 0 mismatched, ${good.retries} re-resolves after pruning; ` +
        `naive (two opens through the symlink) ${bad.reads} reads, ${bad.mismatched} mismatched pairs, ${bad.torn} torn`,
    );
  });
});

describe('onRotatedReload', () => {
  it('coalesces a burst into fewer runs, the last one with the final certificate, one at a time', async () => {
    const { manager } = await setup();
    const runs: string[] = [];
    let running = 0;
    let overlapped = false;
    const handle = onRotatedReload(manager, async ({ current }) => {
      running++;
      if (running > 1) overlapped = true;
      await new Promise((resolve) => setTimeout(resolve, 30));
      runs.push(current.serialNumber);
      running--;
    });
    cleanups.push(handle);
    const rotations = await Promise.all(Array.from({ length: 10 }, () => manager.rotate('web')));
    await handle.idle();
    expect(overlapped).toBe(false);
    expect(runs.length).toBeLessThan(10);
    expect(runs.at(-1)).toBe(rotations.at(-1)!.serialNumber);

    handle(); // stopped: no more runs
    await manager.rotate('web');
    await handle.idle();
    expect(runs.at(-1)).toBe(rotations.at(-1)!.serialNumber);
  });

  it('reports failures, timeouts and throwing callbacks as errors and keeps going', async () => {
    const { manager } = await setup();
    const errors: ErrorEvent[] = [];
    manager.on('error', (event) => errors.push(event));
    const handles = [
      onRotatedReload(manager, { command: process.execPath, args: ['-e', "process.stderr.write('no such site'); process.exit(3)"] }),
      onRotatedReload(manager, { command: '/nonexistent/reload-me', args: [] }),
      onRotatedReload(manager, { command: process.execPath, args: ['-e', 'setTimeout(() => {}, 10000)'] }, { timeoutMs: 300 }),
      onRotatedReload(manager, () => { throw new Error('callback broke'); }, { names: ['web'] }),
      onRotatedReload(manager, () => { throw new Error('never: other name'); }, { names: ['other'] }),
    ];
    cleanups.push(...handles);
    await manager.rotate('web');
    await Promise.all(handles.map((h) => h.idle()));

    const messages = errors.map((e) => e.error.message);
    expect(errors.every((e) => e.context === 'reload' && e.name === 'web')).toBe(true);
    expect(errors).toHaveLength(4);
    const exit = errors.find((e) => e.error instanceof ReloadError && e.error.exitCode === 3)!;
    expect(exit.error.message).toContain('exited with code 3: no such site');
    expect(messages.some((m) => m.includes('could not start: ENOENT'))).toBe(true);
    expect(errors.some((e) => isCertpilotError(e.error) && e.error.code === 'TIMEOUT')).toBe(true);
    expect(messages).toContain('callback broke');
    expect(messages.some((m) => m.includes('never'))).toBe(false);
  });
});
