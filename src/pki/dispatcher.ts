/**
 * Hot swap of mTLS material on the client side (docs/operations/certificates.md): a dispatcher whose
 * requests go to a fresh undici `Agent` after every rotation while the old Agent is `close()`d (it
 * finishes its in-flight requests; never `destroy()`ed). Entry point `stella-gateway/pki/dispatcher`.
 *
 * Use `request`/`fetch` from the npm `undici` package with this dispatcher, not Node's global
 * fetch (../shared/notes/gateways.md: mixing them breaks across majors).
 */
import { Agent, Dispatcher } from 'undici';
import type { MtlsCertificateProvider } from './provider.js';
import type { TlsMaterial } from './validate.js';

/** undici Agent options for a material: present the chain, trust the bundle. */
export function createMtlsAgentOptions(material: TlsMaterial, base: Agent.Options = {}): Agent.Options {
  const connect = typeof base.connect === 'object' && base.connect !== null ? base.connect : {};
  return { ...base, connect: { ...connect, key: material.key, cert: material.chain, ca: material.ca } };
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
