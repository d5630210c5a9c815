/**
 * Hot swap of mTLS material (docs/operations/certificates.md): clients get a dispatcher whose requests go to a fresh
 * undici `Agent` after every rotation while the old Agent is `close()`d (it finishes its
 * in-flight requests; never `destroy()`ed); servers get `setSecureContext` on every rotation.
 *
 * Use `request`/`fetch` from the npm `undici` package with this dispatcher, not Node's global
 * fetch (../shared/notes/gateways.md: mixing them breaks across majors).
 */
import { constants } from 'node:crypto';
import type { Server as TlsServer, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';
import { Agent, Dispatcher } from 'undici';
import type { MtlsCertificateProvider } from './provider.js';
import type { TlsMaterial } from './validate.js';
import { revokedSerials } from './crl.js';
import { normalizeSerial, pemBlocks } from './x509.js';

/** undici Agent options for a material: present the chain, trust the bundle. */
export function createMtlsAgentOptions(material: TlsMaterial, base: Agent.Options = {}): Agent.Options {
  const connect = typeof base.connect === 'object' && base.connect !== null ? base.connect : {};
  return { ...base, connect: { ...connect, key: material.key, cert: material.chain, ca: material.ca } };
}

/**
 * The secure-context options an mTLS server needs from a material (CRL included when the source has
 * one). No session tickets: a resumed session skips certificate verification and could outlive the
 * client certificate (docs/operations/certificates.md#sessions); Node keeps no server-side session
 * cache without `resumeSession` handlers, so nothing else can resume. Part of every context because
 * `setSecureContext` forgets `secureOptions` it is not given again.
 */
export function createMtlsSecureContextOptions(material: TlsMaterial, options: { crl?: boolean } = {}): SecureContextOptions {
  return {
    key: material.key,
    cert: material.chain,
    ca: material.ca,
    secureOptions: constants.SSL_OP_NO_TICKET,
    // Node loads only the first CRL of a PEM string; an array hands it every CA's CRL, which its
    // CRL_CHECK_ALL verification needs (UNABLE_TO_GET_CRL otherwise).
    ...(options.crl !== false && material.crl ? { crl: pemBlocks(material.crl, 'X509 CRL') } : {}),
  };
}

/**
 * A dispatcher that always forwards to the Agent built from the provider's current material.
 * Each `rotated` event builds a new Agent first, then closes the previous one.
 */
export class MtlsDispatcher extends Dispatcher {
  readonly #provider: MtlsCertificateProvider;
  readonly #base: Agent.Options;
  readonly #onRotated: (material: TlsMaterial) => void;
  #agent: Agent;
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(provider: MtlsCertificateProvider, base: Agent.Options = {}) {
    super();
    this.#provider = provider;
    this.#base = base;
    this.#agent = new Agent(createMtlsAgentOptions(provider.current(), base));
    this.#onRotated = (material) => {
      if (this.#closed) return;
      const old = this.#agent;
      this.#agent = new Agent(createMtlsAgentOptions(material, this.#base));
      this.#retire(old);
    };
    provider.on('rotated', this.#onRotated);
  }

  /** How many replaced Agents are still finishing their requests. */
  get retiringAgents(): number {
    return this.#closing.size;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#agent.dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = this.#shutdown((agent) => agent.close());
    if (callback) void done.then(callback);
    else return done;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const done = this.#shutdown((agent) => agent.destroy(err));
    if (callback) void done.then(callback);
    else return done;
  }

  #retire(agent: Agent): void {
    // close(), not destroy(): requests already on the old connections complete normally.
    const closing = agent.close().catch(() => undefined);
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }

  async #shutdown(how: (agent: Agent) => Promise<void>): Promise<void> {
    this.#closed = true;
    this.#provider.off('rotated', this.#onRotated);
    await Promise.all([how(this.#agent), ...this.#closing]);
  }
}

/**
 * An undici dispatcher that follows the provider's rotations.
 *
 * @example
 * import { request } from 'undici';
 * const dispatcher = createMtlsDispatcher(provider);
 * await request('https://gw-edge:8443/api/v1/evidence', { dispatcher, method: 'POST', body });
 */
export function createMtlsDispatcher(provider: MtlsCertificateProvider, agentOptions: Agent.Options = {}): MtlsDispatcher {
  return new MtlsDispatcher(provider, agentOptions);
}

/** Options of {@link attachToServer}. */
export interface AttachOptions {
  /** `false` leaves the CRL out of the secure context. */
  crl?: boolean;
  /**
   * Also end the open connections of peers whose certificate a new CRL revokes. Without it a
   * revoked client keeps a keep-alive connection it opened before the revocation.
   */
  endRevokedPeers?: boolean;
}

/**
 * Keeps a TLS/HTTPS server's certificate, trust bundle and CRL in step with the provider:
 * `setSecureContext` on every rotation (existing connections keep their context; new handshakes
 * get the new one). Applies the current material immediately. Returns a function that detaches.
 */
export function attachToServer(server: TlsServer | HttpsServer, provider: MtlsCertificateProvider, options: AttachOptions = {}): () => void {
  const open = new Set<TLSSocket>();
  const track = (socket: TLSSocket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const apply = (material: TlsMaterial): void => {
    server.setSecureContext(createMtlsSecureContextOptions(material, options));
    if (!options.endRevokedPeers || !material.crl || open.size === 0) return;
    const revoked = revokedSerials(material.crl);
    for (const socket of open) {
      const serial = socket.getPeerCertificate().serialNumber;
      // destroy, not end: a revoked peer's request in flight must not complete either.
      if (serial && revoked.has(normalizeSerial(serial))) socket.destroy();
    }
  };
  apply(provider.current());
  provider.on('rotated', apply);
  if (options.endRevokedPeers) server.on('secureConnection', track);
  return () => {
    provider.off('rotated', apply);
    server.off('secureConnection', track);
  };
}
