/**
 * Hot swap of mTLS material on the server side (docs/operations/certificates.md): servers get
 * `setSecureContext` on every rotation. The client side, an undici dispatcher, is `dispatcher.ts`
 * (its own entry point, `stella-gateway/pki/dispatcher`, so `stella-gateway/pki` loads no HTTP client).
 */
import { constants } from 'node:crypto';
import type { Server as TlsServer, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';
import type { MtlsCertificateProvider } from './provider.js';
import type { TlsMaterial } from './validate.js';
import { revokedSerials } from './crl.js';
import { normalizeSerial, pemBlocks } from './x509.js';

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
