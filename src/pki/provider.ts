/**
 * `MtlsCertificateProvider` (docs/operations/certificates.md): holds a worker's or a service's current key, certificate
 * chain and trust bundle, renews at a fraction of the lifetime with jitter, retries with
 * backoff, validates every new certificate before swapping it in, reloads the trust bundle, and
 * reports readiness (docs/services.md#health-and-metrics: degraded when renewal keeps failing and expiry nears).
 */
import { EventEmitter } from 'node:events';
import { PkiError } from './errors.js';
import { filesSource, localCaSource, type CertificateSource, type EnrollmentSource, type MtlsSource } from './sources.js';
import { validateMaterial, type MtlsIdentity, type TlsMaterial } from './validate.js';

/** Renew when this fraction of the lifetime has passed (docs/operations/certificates.md). */
export const DEFAULT_RENEW_AT_FRACTION = 2 / 3;
/** ±10 % jitter on the renewal moment, so a fleet issued together does not renew together. */
export const DEFAULT_JITTER_FRACTION = 0.1;
/** First retry delay after a failed renewal; doubles per failure. */
export const DEFAULT_RETRY_INITIAL_DELAY_MS = 1000;
/** Cap of the retry delay. */
export const DEFAULT_RETRY_MAX_DELAY_MS = 60_000;
/** While renewal fails, readiness turns false once this fraction of the lifetime has passed. */
export const DEFAULT_DEGRADED_AT_FRACTION = 5 / 6;
/** How often the trust bundle and CRL are re-read. */
export const DEFAULT_TRUST_RELOAD_INTERVAL_MS = 30_000;

/** Why a rotation happened. */
export type RotationReason = 'start' | 'schedule' | 'forced' | 'watch' | 'trust' | 'retry';

/** Events of {@link MtlsCertificateProvider}. */
export interface MtlsCertificateProviderEvents {
  rotated: [material: TlsMaterial, info: { previous: TlsMaterial | null; reason: RotationReason }];
  'renewal-failed': [error: Error, info: { attempt: number; retryInMs: number }];
}

/** Options of {@link MtlsCertificateProvider}. */
export interface MtlsCertificateProviderOptions {
  source: MtlsSource;
  /** Fraction of the lifetime after which renewal starts; default 2/3. */
  renewAtFraction?: number;
  /** Relative jitter of the renewal moment; default 0.1 (±10 %). */
  jitterFraction?: number;
  /** Random source in [0, 1) for the jitter; default Math.random. */
  random?: () => number;
  clock?: () => Date;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  degradedAtFraction?: number;
  trustReloadIntervalMs?: number;
}

/**
 * The current mTLS material of one identity, renewed in the background.
 *
 * @example
 * const provider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: './pki', role: 'scanner', name: 'scanner-01' } });
 * await provider.start();
 * const dispatcher = createMtlsDispatcher(provider); // undici requests follow every rotation
 */
export class MtlsCertificateProvider extends EventEmitter<MtlsCertificateProviderEvents> {
  readonly #source: CertificateSource;
  readonly #clock: () => Date;
  readonly #random: () => number;
  readonly #renewAt: number;
  readonly #jitter: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #degradedAt: number;
  readonly #trustReloadMs: number;
  #material: TlsMaterial | null = null;
  #identity: MtlsIdentity | null = null;
  #timer: NodeJS.Timeout | undefined;
  #trustTimer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #inflight: Promise<TlsMaterial> | null = null;
  #failures = 0;
  #lastError: Error | null = null;
  #nextRenewalAt: Date | null = null;
  #stopped = false;

  constructor(options: MtlsCertificateProviderOptions) {
    super();
    this.#clock = options.clock ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.#renewAt = options.renewAtFraction ?? DEFAULT_RENEW_AT_FRACTION;
    this.#jitter = options.jitterFraction ?? DEFAULT_JITTER_FRACTION;
    this.#retryInitialMs = options.retryInitialDelayMs ?? DEFAULT_RETRY_INITIAL_DELAY_MS;
    this.#retryMaxMs = options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
    this.#degradedAt = options.degradedAtFraction ?? DEFAULT_DEGRADED_AT_FRACTION;
    this.#trustReloadMs = options.trustReloadIntervalMs ?? DEFAULT_TRUST_RELOAD_INTERVAL_MS;
    if (!(this.#renewAt > 0 && this.#renewAt < 1)) throw new TypeError('renewAtFraction must be in (0, 1)');
    if (!(this.#jitter >= 0 && this.#jitter < 1)) throw new TypeError('jitterFraction must be in [0, 1)');
    this.#source = sourceFor(options.source, this.#clock);
  }

  /** Obtains and validates the first material, then schedules renewal. Rejects if the first material is unusable. */
  async start(): Promise<TlsMaterial> {
    if (this.#material) return this.#material;
    this.#stopped = false;
    const material = await this.#renew('start');
    if (this.#source.watch) this.#unwatch = this.#source.watch(() => void this.#renew('watch').catch(() => undefined));
    if (this.#trustReloadMs > 0) {
      this.#trustTimer = setInterval(() => void this.reloadTrust().catch(() => undefined), this.#trustReloadMs);
    }
    return material;
  }

  /** Stops timers and watchers (a started provider keeps the process alive until then). The last material stays readable. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#trustTimer);
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /** The material in use. Throws a TypeError before `start()` resolved. */
  current(): TlsMaterial {
    if (!this.#material) throw new TypeError('MtlsCertificateProvider: call start() first');
    return this.#material;
  }

  /** When the next scheduled renewal (or retry) will run, if any. */
  nextRenewalAt(): Date | null {
    return this.#nextRenewalAt;
  }

  /**
   * Readiness for `/healthz/ready` (docs/services.md#health-and-metrics): false without material, once expired, or while
   * renewal keeps failing after `degradedAtFraction` of the lifetime.
   */
  ready(): { ready: boolean; reason?: string } {
    const m = this.#material;
    if (!m) return { ready: false, reason: 'no certificate yet' };
    const now = this.#clock().getTime();
    if (now >= m.notAfter.getTime()) return { ready: false, reason: `certificate expired at ${m.notAfter.toISOString()}` };
    const lifetime = m.notAfter.getTime() - m.notBefore.getTime();
    const elapsed = (now - m.notBefore.getTime()) / lifetime;
    if (this.#failures > 0 && elapsed >= this.#degradedAt) {
      return { ready: false, reason: `renewal failing (${this.#failures} attempts: ${this.#lastError?.message ?? 'unknown'}); certificate expires at ${m.notAfter.toISOString()}` };
    }
    return { ready: true };
  }

  /** Renews now (e.g. after a CA rollover step). Resolves with the new material or rejects with the reason. */
  rotate(): Promise<TlsMaterial> {
    return this.#renew('forced');
  }

  /**
   * Re-reads the trust bundle and CRL; swaps them in when they changed. When the current leaf no
   * longer chains to the new bundle, renews the leaf instead. Resolves true when something changed.
   */
  async reloadTrust(): Promise<boolean> {
    const m = this.#material;
    if (!m || this.#inflight) return false;
    const trust = await this.#source.loadTrust();
    if (trust.ca === m.ca && (trust.crl ?? '') === (m.crl ?? '')) return false;
    try {
      const next = validateMaterial({ key: m.key, chain: m.chain, ...trust }, { now: this.#clock(), expectedIdentity: m.identity });
      this.#swap(next, 'trust');
    } catch {
      await this.#renew('trust');
    }
    return true;
  }

  #renew(reason: RotationReason): Promise<TlsMaterial> {
    if (this.#inflight) return this.#inflight;
    const run = this.#attempt(reason).finally(() => {
      this.#inflight = null;
    });
    this.#inflight = run;
    return run;
  }

  async #attempt(reason: RotationReason): Promise<TlsMaterial> {
    const previous = this.#material;
    try {
      const raw = await this.#source.obtain(previous);
      const next = validateMaterial(raw, { now: this.#clock(), ...(this.#identity ? { expectedIdentity: this.#identity } : {}) });
      if (previous && next.fingerprint === previous.fingerprint) {
        if (next.ca !== previous.ca || next.crl !== previous.crl) {
          this.#swap(next, 'trust');
          return next;
        }
        // An external issuer has not written a new certificate yet: only a failure once renewal is due.
        if (reason === 'schedule' || reason === 'retry') throw new PkiError('PKI_SOURCE_FAILED', 'the external issuer has not renewed the certificate yet');
        return previous;
      }
      this.#swap(next, reason);
      return next;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      if (reason === 'start' && !previous) throw err;
      this.#failures += 1;
      this.#lastError = err;
      const retryInMs = Math.min(this.#retryInitialMs * 2 ** (this.#failures - 1), this.#retryMaxMs);
      this.#schedule(retryInMs, 'retry');
      this.emit('renewal-failed', err, { attempt: this.#failures, retryInMs });
      throw err;
    }
  }

  #swap(next: TlsMaterial, reason: RotationReason): void {
    const previous = this.#material;
    this.#material = next;
    this.#identity ??= next.identity;
    this.#failures = 0;
    this.#lastError = null;
    const lifetimeMs = next.notAfter.getTime() - next.notBefore.getTime();
    const fraction = this.#renewAt * (1 + this.#jitter * (2 * this.#random() - 1));
    const at = next.notBefore.getTime() + lifetimeMs * fraction;
    this.#schedule(Math.max(0, at - this.#clock().getTime()), 'schedule');
    this.emit('rotated', next, { previous, reason });
  }

  #schedule(delayMs: number, reason: RotationReason): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#nextRenewalAt = new Date(this.#clock().getTime() + delayMs);
    // Kept referenced: a started provider is a live part of its process until stop().
    this.#timer = setTimeout(() => void this.#renew(reason).catch(() => undefined), delayMs);
  }
}

function sourceFor(source: MtlsSource, clock: () => Date): CertificateSource {
  switch (source.kind) {
    case 'local-ca':
      return localCaSource(source, clock);
    case 'files':
      return filesSource(source);
    case 'enrollment':
      return lazyEnrollmentSource(source);
    default: {
      const never: never = source;
      throw new TypeError(`unknown certificate source ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The enrollment source, its HTTP client (undici) loaded on first use: `stella-gateway/pki` loads no
 * HTTP library for a provider that never enrolls.
 */
function lazyEnrollmentSource(source: EnrollmentSource): CertificateSource {
  let loaded: Promise<CertificateSource> | undefined;
  const real = (): Promise<CertificateSource> => (loaded ??= import('./enrollment/client.js').then((m) => m.enrollmentSource(source)));
  return {
    external: false,
    obtain: async (current) => (await real()).obtain(current),
    loadTrust: async () => (await real()).loadTrust(),
  };
}
