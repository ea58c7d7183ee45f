/** The machine and software versions a benchmark ran on, for the report. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** What the report states about the environment. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  pebble: string;
  lego: string;
  certbot: string;
  acmeClient: string;
  /** Commit of the certpilot tree that ran, with a note when src/ or providers/ had uncommitted changes. */
  certpilot: string;
  /** 1-minute load average when the run started. */
  loadStart: number;
}

/**
 * Share of all cores' time that was busy over the next `ms`, from /proc/stat: taken
 * just before each run, it shows whether other work was competing for the CPU
 * (the 1-minute load average lags by a minute and cannot tell).
 */
export async function cpuBusy(ms = 1000): Promise<number> {
  const sample = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3]! + fields[4]! }; // idle + iowait
  };
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

const run = (cmd: string, args: string[]): string => {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return 'unknown'; }
};
const debVersion = (pkg: string) => run('dpkg-query', ['-W', '-f', '${Version}', pkg]);

/** Reads /proc/cpuinfo, os-release, package versions and the git commit of `repo`. */
export function describeMachine(repo: string): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  const dirty = run('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'providers']) !== '';
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${/^PRETTY_NAME="?([^"\n]+)/m.exec(osRelease)?.[1] ?? 'Linux'}, kernel ${os.release()}`,
    node: process.version,
    pebble: `${debVersion('pebble')} (Debian package)`,
    lego: `${debVersion('lego')} (Debian package)`,
    certbot: `${debVersion('certbot')} (Debian package)`,
    acmeClient: (JSON.parse(readFileSync(`${repo}/node_modules/acme-client/package.json`, 'utf8')) as { version: string }).version,
    certpilot: `${run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])}${dirty ? ' with uncommitted changes in src/ or providers/' : ''}`,
    loadStart: os.loadavg()[0]!,
  };
}
