/**
 * Reload actions for programs that read certificate files (nginx, Redis,
 * Dragonfly, Envoy, HAProxy): after each rotation, run a callback or a
 * command so they pick up `<dir>/certificates/<name>/current/*.pem`.
 *
 * `certificate:rotated` fires after the store moved the `current` pointer
 * (for a FileStore, after the symlink swap), so an action always sees the
 * new files. Actions run one at a time: two `nginx -s reload` racing each
 * other help nobody. Rotations that arrive while an action runs coalesce per
 * name into one more run with the latest certificate — every swap is still
 * followed by a run that started after it, which is the only guarantee a
 * file reader needs. Commands run with `execFile`, never a shell, so a name
 * or path can never be interpreted as shell syntax.
 */
import { execFile } from 'node:child_process';
import { CertpilotError, scrub } from '../errors.js';
import type { CertificateRotatedEvent, ErrorEvent } from '../events.js';

/**
 * A command to run, without a shell. It gets the environment of this
 * process plus `CERTPILOT_NAME`, `CERTPILOT_SERIAL` and `CERTPILOT_CAUSE`.
 *
 * @example
 * ```ts
 * const reloadNginx: ReloadCommand = { command: '/usr/sbin/nginx', args: ['-s', 'reload'] };
 * ```
 */
export interface ReloadCommand {
  /** Executable: an absolute path, or a name looked up in `PATH`. */
  command: string;
  /** Arguments, passed as they are (no globbing, no quoting needed). @default [] */
  args?: string[];
  /** Working directory. @default this process's */
  cwd?: string;
  /** Extra environment variables. @default none */
  env?: Record<string, string>;
}

/**
 * What to do after a rotation: a function (awaited when it returns a
 * promise) or a {@link ReloadCommand}.
 *
 * @example
 * ```ts
 * const action: ReloadAction = async ({ name }) => { await redis.call('CONFIG', 'SET', 'tls-cert-file', file(name)); };
 * ```
 */
export type ReloadAction = ((event: CertificateRotatedEvent) => void | Promise<void>) | ReloadCommand;

/**
 * One completed reload, for {@link ReloadOptions.onReloaded}.
 *
 * @example
 * ```ts
 * onRotatedReload(manager, action, { onReloaded: (r) => metrics.observe('reload_ms', r.durationMs) });
 * ```
 */
export interface ReloadResult {
  name: string;
  /** Serial of the certificate the action ran for (the latest when rotations coalesced). */
  serialNumber: string;
  durationMs: number;
}

/**
 * Options of {@link onRotatedReload}.
 *
 * @example
 * ```ts
 * onRotatedReload(manager, { command: 'systemctl', args: ['reload', 'nginx'] }, { names: ['web'], timeoutMs: 10_000 });
 * ```
 */
export interface ReloadOptions {
  /** Only rotations of these names trigger the action. @default every name */
  names?: readonly string[];
  /**
   * Longest run. A command is then killed (SIGTERM); a callback is no
   * longer waited for. Either way a `TIMEOUT` error is reported and the
   * next run may start.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Receives failures (non-zero exit, missing executable, timeout, a
   * callback that throws). Nothing is ever thrown into the manager.
   * @default the manager's `error` event (context `reload`), or a process warning when nothing listens to it
   */
  onError?: (error: Error) => void;
  /** Called after each successful run. @default none */
  onReloaded?: (result: ReloadResult) => void;
}

/** What {@link onRotatedReload} needs from a manager. */
export interface RotationEmitter {
  on(event: 'certificate:rotated', listener: (event: CertificateRotatedEvent) => void): unknown;
  off(event: 'certificate:rotated', listener: (event: CertificateRotatedEvent) => void): unknown;
  emit?(event: 'error', payload: ErrorEvent): unknown;
  listenerCount?(event: 'error'): number;
}

/**
 * A failed reload command: it exited non-zero, died by a signal, or could
 * not start. `message` carries the scrubbed end of its stderr.
 *
 * @example
 * ```ts
 * onError: (e) => { if (e instanceof ReloadError) log.error({ exitCode: e.exitCode }, e.message); }
 * ```
 */
export class ReloadError extends CertpilotError {
  constructor(
    message: string,
    /** The executable. */
    readonly command: string,
    /** Exit code, when it exited. */
    readonly exitCode?: number,
    /** Signal that ended it, when one did. */
    readonly signal?: string,
    options?: { cause?: unknown },
  ) {
    super('RELOAD_FAILED', message, { retryable: true, details: { command, ...(exitCode !== undefined ? { exitCode } : {}), ...(signal ? { signal } : {}) }, ...(options?.cause !== undefined ? { cause: options.cause } : {}) });
  }
}

/** What stops the reloads, and waits for the ones queued. */
export interface ReloadHandle {
  /** Stops reacting to rotations; a run in progress finishes. */
  (): void;
  /** Resolves when no run is in progress or queued. */
  idle(): Promise<void>;
}

/**
 * Runs `action` after each rotation of the manager's certificates (once the
 * store's `current` pointer moved). Returns a handle that stops it.
 *
 * @example
 * ```ts
 * const manager = new CertificateManager({ store: new FileStore({ directory: '/var/lib/certpilot', dirMode: 0o750 }), issuer });
 * const stop = onRotatedReload(manager, { command: '/usr/sbin/nginx', args: ['-s', 'reload'] }, { names: ['web'] });
 * // nginx.conf: ssl_certificate /var/lib/certpilot/certificates/web/current/fullchain.pem; …
 * ```
 */
export function onRotatedReload(manager: RotationEmitter, action: ReloadAction, options: ReloadOptions = {}): ReloadHandle {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const report = options.onError ?? ((error: Error, name?: string) => {
    try {
      if (manager.emit && (manager.listenerCount?.('error') ?? 0) > 0) {
        manager.emit('error', { error, context: 'reload', ...(name ? { name } : {}) });
        return;
      }
    } catch { /* a throwing error listener: fall back to a warning */ }
    process.emitWarning(error);
  });
  /** Latest event per name waiting for a run (Map order = arrival order). */
  const queued = new Map<string, CertificateRotatedEvent>();
  let running: Promise<void> | undefined;

  const drain = async (): Promise<void> => {
    for (let next = first(queued); next; next = first(queued)) {
      queued.delete(next.name);
      const started = performance.now();
      try {
        await runWithTimeout(action, next, timeoutMs);
        options.onReloaded?.({ name: next.name, serialNumber: next.current.serialNumber, durationMs: performance.now() - started });
      } catch (error) {
        report(error as Error, next.name);
      }
    }
  };
  const listener = (event: CertificateRotatedEvent): void => {
    if (options.names && !options.names.includes(event.name)) return;
    queued.delete(event.name); // re-inserted last: a coalesced name waits its turn behind others
    queued.set(event.name, event);
    running ??= drain().finally(() => { running = undefined; });
  };
  manager.on('certificate:rotated', listener);

  const handle = (() => manager.off('certificate:rotated', listener)) as ReloadHandle;
  handle.idle = async () => {
    while (running) await running;
  };
  return handle;
}

function first(queued: Map<string, CertificateRotatedEvent>): CertificateRotatedEvent | undefined {
  return queued.values().next().value;
}

async function runWithTimeout(action: ReloadAction, event: CertificateRotatedEvent, timeoutMs: number): Promise<void> {
  if (typeof action !== 'function') return runCommand(action, event, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CertpilotError('TIMEOUT', `The reload callback for "${event.name}" did not finish within ${timeoutMs} ms`, { details: { name: event.name } })), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(() => action(event)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function runCommand(command: ReloadCommand, event: CertificateRotatedEvent, timeoutMs: number): Promise<void> {
  const env = {
    ...process.env, ...command.env,
    CERTPILOT_NAME: event.name, CERTPILOT_SERIAL: event.current.serialNumber, CERTPILOT_CAUSE: event.cause,
  };
  return new Promise((resolve, reject) => {
    execFile(command.command, command.args ?? [], { env, timeout: timeoutMs, killSignal: 'SIGTERM', windowsHide: true, maxBuffer: 1 << 20, ...(command.cwd ? { cwd: command.cwd } : {}) },
      (error, _stdout, stderr) => {
        if (!error) return resolve();
        const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string; code?: number | string };
        const tail = scrub(String(stderr ?? '').trim().slice(-300));
        const what = `Reload command ${command.command} for "${event.name}"`;
        if (failure.killed && failure.signal === 'SIGTERM') {
          reject(new CertpilotError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms and was killed`, { details: { name: event.name, command: command.command } }));
        } else if (typeof failure.code === 'string') {
          reject(new ReloadError(`${what} could not start: ${failure.code}`, command.command, undefined, undefined, { cause: error }));
        } else {
          const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${String(failure.code)}`;
          reject(new ReloadError(`${what} ${how}${tail ? `: ${tail}` : ''}`, command.command,
            typeof failure.code === 'number' ? failure.code : undefined, failure.signal ?? undefined));
        }
      });
  });
}
