/**
 * The client certificate the worker presents at the edge (docs/operations/certificates.md, docs/scanner.md) and the connection pools
 * that present it.
 *
 * The delivery code depends only on {@link ClientCredentials}: "give me the material to use now".
 * The PKI's `MtlsCertificateProvider` satisfies it as is (`current()` returns a superset of
 * {@link ClientMaterial}); `certificates.ts` starts one from the topology.
 *
 * Why the worker keeps its own pool per certificate instead of the PKI's hot-swapping dispatcher
 * (`createMtlsDispatcher`): the
 * traversal intent signed into the envelope names the fingerprint of the certificate presented
 * on *this* request (docs/dsse.md), and hop 1 records the certificate it actually saw (docs/provenance.md). If a
 * rotation landed between signing and sending, a swapping dispatcher would present the new
 * certificate under an envelope naming the old one → `binding-mismatch`. Here the material is
 * read once per attempt, and the same snapshot picks both the fingerprint and the pool.
 */
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

/** Key material for one request. PEM strings throughout. */
export interface ClientMaterial {
  /** PKCS#8 private key. */
  key: string;
  /** The leaf certificate whose fingerprint the intent names. */
  cert: string;
  /** Leaf followed by intermediates, as sent in the handshake; defaults to `cert`. */
  chain?: string;
  /** Trust bundle the edge's server certificate must chain to. */
  ca: string;
  /** `sha256:` + lower-case hex SHA-256 of the leaf's DER (docs/provenance.md `peer`). */
  fingerprint: string;
}

/** Where the worker gets its current client certificate. */
export interface ClientCredentials {
  /** The material to use for the next request. Must be cheap: it is called once per attempt. */
  current(): ClientMaterial;
}

/** Options of {@link AgentPool}. */
export interface AgentPoolOptions {
  /** SNI and the name the edge's certificate must carry: the edge hop's `serverName`. */
  servername: string;
  /** TCP+TLS connect timeout. */
  connectTimeoutMs?: number;
}

/** Default connect timeout towards the edge. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * One undici `Agent` per client certificate. Asking for a new fingerprint builds a new agent and
 * closes the previous one gracefully (undici's `close()` lets in-flight requests finish, docs/operations/certificates.md
 * "hot swap"). TLS verification of the edge stays on: `ca` is the topology's trust bundle.
 */
export class AgentPool {
  private active: { fingerprint: string; agent: Agent } | undefined;
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly options: AgentPoolOptions) {}

  /** The dispatcher presenting `material`'s certificate. Call right before dispatching. */
  agentFor(material: ClientMaterial): Dispatcher {
    if (this.active?.fingerprint === material.fingerprint) return this.active.agent;
    const agent = new Agent({
      connect: {
        key: material.key,
        cert: material.chain ?? material.cert,
        ca: material.ca,
        servername: this.options.servername,
        rejectUnauthorized: true,
        timeout: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      },
    });
    const previous = this.active;
    this.active = { fingerprint: material.fingerprint, agent };
    if (previous) {
      const closing = previous.agent.close().catch(() => undefined);
      this.retiring.add(closing);
      void closing.then(() => this.retiring.delete(closing));
    }
    return agent;
  }

  /** Closes every agent, waiting for in-flight requests. */
  async close(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    await Promise.all([...this.retiring, active?.agent.close().catch(() => undefined)]);
  }
}
