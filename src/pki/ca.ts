/**
 * The local CA (docs/operations/certificates.md): `initPki` creates generation 1 (a root and an issuing intermediate,
 * ECDSA P-256), `publishTrust` writes `ca-bundle.pem`, `crl.pem` and the active `root.pem` /
 * `intermediate.pem` (docs/CONVENTIONS.md), `revokeCertificate` adds a serial to the CRL.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { withoutEmptyEntryExtensions } from './crl.js';
import { PkiError } from './errors.js';
import { certificateFingerprint, generateKeyPair, importSigningKey, normalizeSerial, PKI_ALGORITHMS, privateKeyToPem, x509, type CryptoKey } from './x509.js';
import {
  pkiPaths,
  PRIVATE_FILE_MODE,
  readState,
  writeFileAtomic,
  writeState,
  withDirLock,
  type CaGeneration,
  type CaState,
} from './store.js';

/** Default trust domain of the SPIFFE IDs when none is given. */
export const DEFAULT_TRUST_DOMAIN = 'stella.local';
/** Root CA lifetime: 10 years. */
export const ROOT_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;
/** Issuing intermediate lifetime: 5 years (a rollover replaces it well before). */
export const INTERMEDIATE_LIFETIME_SECONDS = 5 * 365 * 24 * 3600;
/**
 * How long a published CRL stays valid. Gateways refuse every client once the CRL's nextUpdate
 * passes, so `pki revoke` and `pki crl` republish it; schedule `pki crl` daily.
 */
export const CRL_VALIDITY_SECONDS = 7 * 24 * 3600;

/** What `initPki` (and `pki init`) report. */
export interface PkiInfo {
  dir: string;
  trustDomain: string;
  generation: number;
  rootCert: string;
  intermediateCert: string;
  caBundle: string;
  crl: string;
  rootFingerprint: string;
  intermediateFingerprint: string;
}

/** Options of {@link initPki}. */
export interface InitPkiOptions {
  dir: string;
  trustDomain?: string;
  clock?: () => Date;
}

/**
 * Creates the CA in `dir`: root + intermediate, keys PKCS#8 mode 0600 written atomically, the
 * trust bundle and both CRLs. Refuses a directory that already holds a CA.
 *
 * @example
 * const info = await initPki({ dir: './pki', trustDomain: 'stella.local' });
 */
export async function initPki(options: InitPkiOptions): Promise<PkiInfo> {
  const clock = options.clock ?? (() => new Date());
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  if (!/^[a-z0-9.-]{1,253}$/.test(trustDomain)) {
    throw new PkiError('PKI_INVALID_NAME', `trust domain "${trustDomain}" must be a lower-case DNS name`);
  }
  return withDirLock(options.dir, async () => {
    const existing = await readState(options.dir).catch((error: unknown) => {
      if (error instanceof PkiError && error.code === 'PKI_NOT_INITIALIZED') return undefined;
      throw error;
    });
    if (existing) throw new PkiError('PKI_ALREADY_INITIALIZED', `${options.dir} already holds a CA`);
    const state: CaState = { version: 1, trustDomain, activeGeneration: 1, generations: [], issued: [], revoked: [], crlNumber: 0 };
    await createGeneration(options.dir, state, 1, clock());
    await publishTrust(options.dir, state, clock());
    await writeState(options.dir, state);
    return pkiInfo(options.dir, state);
  });
}

/** Summarises the active generation of a CA directory. */
export async function pkiInfo(dir: string, state?: CaState): Promise<PkiInfo> {
  const s = state ?? (await readState(dir));
  const paths = pkiPaths(dir);
  const gen = paths.generation(s.activeGeneration);
  const root = new x509.X509Certificate(await readFile(gen.rootCert, 'utf8'));
  const intermediate = new x509.X509Certificate(await readFile(gen.intermediateCert, 'utf8'));
  return {
    dir: paths.dir,
    trustDomain: s.trustDomain,
    generation: s.activeGeneration,
    rootCert: paths.rootCert,
    intermediateCert: paths.intermediateCert,
    caBundle: paths.caBundle,
    crl: paths.crl,
    rootFingerprint: certificateFingerprint(new Uint8Array(root.rawData)),
    intermediateFingerprint: certificateFingerprint(new Uint8Array(intermediate.rawData)),
  };
}

/** A random positive 128-bit serial (RFC 5280 §4.1.2.2: ≤ 20 octets, unpredictable). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Creates and stores a new root + intermediate pair as generation `id`; adds it to `state`. */
export async function createGeneration(dir: string, state: CaState, id: number, now: Date): Promise<void> {
  const paths = pkiPaths(dir).generation(id);
  // A random tag keeps the DNs of two CAs with the same trust domain apart: OpenSSL picks issuers
  // and CRLs by name first, so look-alike DNs turn a wrong-CA refusal into a confusing CRL error.
  const label = `${state.trustDomain} G${id} ${randomBytes(4).toString('hex')}`;
  const rootKeys = await generateKeyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=Stella Root CA ${label}, O=Stella Gateway`,
    notBefore: now,
    notAfter: new Date(now.getTime() + ROOT_LIFETIME_SECONDS * 1000),
    keys: rootKeys,
    signingAlgorithm: PKI_ALGORITHMS.signing,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const interKeys = await generateKeyPair();
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=Stella Issuing CA ${label}, O=Stella Gateway`,
    issuer: root.subject,
    notBefore: now,
    notAfter: new Date(now.getTime() + INTERMEDIATE_LIFETIME_SECONDS * 1000),
    publicKey: interKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: PKI_ALGORITHMS.signing,
    extensions: [
      // pathLen 0: the intermediate issues leaves only.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  await writeFileAtomic(paths.rootKey, privateKeyToPem(rootKeys.privateKey), PRIVATE_FILE_MODE);
  await writeFileAtomic(paths.intermediateKey, privateKeyToPem(interKeys.privateKey), PRIVATE_FILE_MODE);
  await writeFileAtomic(paths.rootCert, root.toString('pem') + '\n');
  await writeFileAtomic(paths.intermediateCert, intermediate.toString('pem') + '\n');
  const generation: CaGeneration = { id, createdAt: now.toISOString(), trusted: true };
  state.generations.push(generation);
}

/** The certificates and signing key of one CA of a generation. */
export interface LoadedCa {
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
}

/** Loads a generation's root or intermediate with its signing key. */
export async function loadCa(dir: string, generation: number, which: 'root' | 'intermediate'): Promise<LoadedCa> {
  const paths = pkiPaths(dir).generation(generation);
  const certPem = await readFile(which === 'root' ? paths.rootCert : paths.intermediateCert, 'utf8');
  const keyPem = await readFile(which === 'root' ? paths.rootKey : paths.intermediateKey, 'utf8');
  return { cert: new x509.X509Certificate(certPem), certPem, key: await importSigningKey(keyPem) };
}

/**
 * Writes `ca-bundle.pem` (root + intermediate of every trusted generation, active first),
 * `crl.pem` (a fresh CRL of every one of those CAs, concatenated: NGINX/HAProxy and Node's
 * `crl` option check the whole chain) and the active `root.pem` / `intermediate.pem`.
 */
export async function publishTrust(dir: string, state: CaState, now: Date): Promise<void> {
  const paths = pkiPaths(dir);
  const trusted = state.generations.filter((g) => g.trusted).sort((a, b) => (a.id === state.activeGeneration ? -1 : b.id === state.activeGeneration ? 1 : b.id - a.id));
  const bundle: string[] = [];
  const crls: string[] = [];
  state.crlNumber += 1;
  for (const gen of trusted) {
    for (const which of ['root', 'intermediate'] as const) {
      const ca = await loadCa(dir, gen.id, which);
      bundle.push(ca.certPem.trim());
      const entries = state.revoked
        .filter((r) => r.generation === gen.id && r.issuer === which)
        .map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt), reason: x509.X509CrlReason.unspecified }));
      const crl = await x509.X509CrlGenerator.create({
        issuer: ca.cert.subject,
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + CRL_VALIDITY_SECONDS * 1000),
        entries,
        signingKey: ca.key,
        signingAlgorithm: PKI_ALGORITHMS.signing,
        // RFC 5280 §5.2.1 and §5.2.3: a conforming CRL issuer MUST include both. One number per
        // publication, shared by the CRLs published together, increasing across publications.
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert), new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(state.crlNumber)))],
      });
      // OpenSSL, NGINX and HAProxy read only the `X509 CRL` PEM label (RFC 7468 §5).
      crls.push(x509.PemConverter.encode(await withoutEmptyEntryExtensions(crl.rawData, ca.key), 'X509 CRL').trim());
    }
  }
  await writeIfChanged(paths.caBundle, bundle.join('\n') + '\n');
  await writeFileAtomic(paths.crl, crls.join('\n') + '\n');
  const active = paths.generation(state.activeGeneration);
  await writeIfChanged(paths.rootCert, await readFile(active.rootCert, 'utf8'));
  await writeIfChanged(paths.intermediateCert, await readFile(active.intermediateCert, 'utf8'));
}

/** Skips the write (and the watchers' reload it would cause) when the file already holds `contents`. */
async function writeIfChanged(path: string, contents: string): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => null);
  if (existing !== contents) await writeFileAtomic(path, contents);
}

/** Options of {@link revokeCertificate}. */
export interface RevokeOptions {
  dir: string;
  /** Hex serial as `pki issue` / `pki inspect` print it (case and leading zeros ignored). */
  serial: string;
  clock?: () => Date;
}

/** A serial as people paste it: hex (`0x` allowed), or hex bytes joined by `:`. */
const HEX_SERIAL = /^(?:0x)?[0-9a-f]+$|^[0-9a-f]{1,2}(?::[0-9a-f]{2})+$/i;

/**
 * Revokes a leaf issued by this CA and republishes `crl.pem`. Revoking twice is not an error.
 * The serial is hex, with or without `:` between bytes (as `openssl x509 -serial` or
 * `pki inspect` print it). Throws PKI_INVALID_SERIAL for anything else and PKI_UNKNOWN_SERIAL
 * for a serial this CA never issued.
 */
export async function revokeCertificate(options: RevokeOptions): Promise<void> {
  const clock = options.clock ?? (() => new Date());
  if (!HEX_SERIAL.test(options.serial.trim())) {
    throw new PkiError('PKI_INVALID_SERIAL', `serial ${JSON.stringify(options.serial)} is not hexadecimal (e.g. 3A1F… or 3a:1f:…)`);
  }
  const serial = normalizeSerial(options.serial);
  await withDirLock(options.dir, async () => {
    const state = await readState(options.dir);
    const issued = state.issued.find((r) => normalizeSerial(r.serial) === serial);
    if (!issued) throw new PkiError('PKI_UNKNOWN_SERIAL', `no certificate with serial ${options.serial} was issued by ${options.dir}`);
    if (!state.revoked.some((r) => normalizeSerial(r.serial) === serial)) {
      state.revoked.push({ serial: issued.serial, generation: issued.generation, issuer: 'intermediate', revokedAt: clock().toISOString() });
    }
    await publishTrust(options.dir, state, clock());
    await writeState(options.dir, state);
  });
}

/** Republishes `crl.pem` (and the bundle) with a fresh nextUpdate; run it daily (see CRL_VALIDITY_SECONDS). */
export async function refreshCrl(options: { dir: string; clock?: () => Date }): Promise<void> {
  const clock = options.clock ?? (() => new Date());
  await withDirLock(options.dir, async () => {
    const state = await readState(options.dir);
    await publishTrust(options.dir, state, clock());
    await writeState(options.dir, state);
  });
}

/** Whether a serial of this CA is revoked (the enrollment endpoint refuses renewals of these). */
export async function isRevoked(dir: string, serial: string): Promise<boolean> {
  const state = await readState(dir);
  const wanted = normalizeSerial(serial);
  return state.revoked.some((r) => normalizeSerial(r.serial) === wanted);
}
