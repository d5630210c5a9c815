/**
 * The client certificate the worker presents at the edge (SPEC §5, §8) and the connection pools
 * that present it.
 *
 * The delivery code depends only on {@link ClientCredentials}: "give me the material to use now".
 * The PKI's `MtlsCertificateProvider` is adapted to it in `provider.ts`; {@link fileCredentials}
 * reads `scanner.tls` files (written by an external issuer) and notices when they change.
 *
 * Why the worker keeps its own pool per certificate instead of one hot-swapping dispatcher: the
 * traversal intent signed into the envelope names the fingerprint of the certificate presented
 * on *this* request (SPEC §3), and hop 1 records the certificate it actually saw (SPEC §4). If a
 * rotation landed between signing and sending, a swapping dispatcher would present the new
 * certificate under an envelope naming the old one → `binding-mismatch`. Here the material is
 * read once per attempt, and the same snapshot picks both the fingerprint and the pool.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { ScannerError } from './errors.js';

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
  /** `sha256:` + lower-case hex SHA-256 of the leaf's DER (SPEC §4 `peer`). */
  fingerprint: string;
}

/** Where the worker gets its current client certificate. */
export interface ClientCredentials {
  /** The material to use for the next request. Must be cheap: it is called once per attempt. */
  current(): ClientMaterial;
}

/** `sha256:<hex>` of the DER of the first certificate in a PEM text (SPEC §4 `peer` format). */
export function certificateFingerprint(pem: string): string {
  let der: Buffer;
  try {
    der = new X509Certificate(pem).raw;
  } catch (error) {
    throw new ScannerError('SCANNER_CONFIG', `not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** Files of a client certificate, as in `scanner.tls` of the topology plus the trust bundle. */
export interface ClientCertificateFiles {
  cert: string;
  key: string;
  chain?: string;
  ca: string;
}

/**
 * Credentials read from files, re-read whenever one of them changes (mtime or size), so an
 * external issuer (cert-manager, step, Vault agent) can rotate them under a running worker.
 */
export function fileCredentials(files: ClientCertificateFiles): ClientCredentials {
  let stamp = '';
  let material: ClientMaterial | undefined;
  const paths = [files.cert, files.key, files.chain ?? files.cert, files.ca];
  return {
    current(): ClientMaterial {
      let next: string;
      try {
        next = paths.map((p) => { const s = statSync(p); return `${s.mtimeMs}:${s.size}`; }).join('|');
      } catch (error) {
        throw new ScannerError('SCANNER_CONFIG', `client certificate files unreadable: ${(error as Error).message}`, { cause: error });
      }
      if (material && next === stamp) return material;
      const cert = readFileSync(files.cert, 'utf8');
      material = {
        key: readFileSync(files.key, 'utf8'),
        cert,
        chain: readFileSync(files.chain ?? files.cert, 'utf8'),
        ca: readFileSync(files.ca, 'utf8'),
        fingerprint: certificateFingerprint(cert),
      };
      stamp = next;
      return material;
    },
  };
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
 * closes the previous one gracefully (undici's `close()` lets in-flight requests finish, SPEC §5
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
