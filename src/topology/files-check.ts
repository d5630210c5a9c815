/**
 * File checks of a topology (docs/topology.md "key files exist and are ≥ 32 bytes"), through an injected
 * probe so the rules stay pure. Paths are resolved the way `resolveTopology` resolves them.
 */
import { decodeBase64Strict } from '../dsse/base64.js';
import { parseKeyFile, type KeyMaterial, type ParseKeyOptions } from '../dsse/keys.js';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { MAX_KEY_FILE_BYTES, MIN_HMAC_KEY_BYTES } from '../conventions/index.js';
import type { TopologyProblem } from './errors.js';
import type { Topology } from './schema.js';
import { issuedPaths, PKI_LAYOUT } from './resolve.js';

/** Read access to files, injected so validation stays pure (tests pass a map). */
export interface FileProbe {
  /**
   * The text of a file, or `undefined` when it does not exist or cannot be read. Implementations
   * may stop reading after {@link MAX_KEY_FILE_BYTES}; `size` is the size on disk.
   */
  read(path: string): { size: number; text: string; mode?: number } | undefined;
}

/** Key files are small, and HMAC-SHA256 keys at least 32 bytes: the conventions floor's key-file limits. */
export { MAX_KEY_FILE_BYTES, MIN_HMAC_KEY_BYTES };

/**
 * Decodes an HMAC key file's base64 text (docs/CONVENTIONS.md: surrounding whitespace ignored,
 * standard or URL-safe alphabet), by the strict policy of docs/dsse.md. Returns undefined for
 * anything else, since `Buffer.from(s, 'base64')` would silently drop stray characters (docs/dsse.md).
 * The one decoder of key files: the hop keyring and the HAProxy runtime use it too.
 */
export function decodeBase64Key(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (trimmed.length === 0) return undefined;
  try {
    return decodeBase64Strict(trimmed);
  } catch {
    return undefined;
  }
}

const isPem = (text: string): boolean => /-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/.test(text);

/** Every file problem of the topology. */
export function checkFiles(topology: Topology, probe: FileProbe, baseDir = '.'): TopologyProblem[] {
  const problems: TopologyProblem[] = [];
  const abs = (p: string): string => (isAbsolute(p) ? p : resolvePath(baseDir, p));
  const pkiDir = abs(topology.pki.dir);

  const read = (path: string, file: string): { size: number; text: string } | undefined => {
    const got = probe.read(file);
    if (!got) problems.push({ path, message: `file not found: ${file}` });
    else if (got.size === 0) problems.push({ path, message: `file is empty: ${file}` });
    else return got;
    return undefined;
  };
  const hmacKey = (path: string, file: string, allowPem: boolean): void => {
    const got = read(path, file);
    if (!got) return;
    if (got.size > MAX_KEY_FILE_BYTES) return void problems.push({ path, message: `${got.size} bytes is too large for a key file: ${file}` });
    if (allowPem && isPem(got.text)) return;
    const key = decodeBase64Key(got.text);
    if (!key) problems.push({ path, message: `not base64 text${allowPem ? ' nor a PEM key' : ''}: ${file}` });
    else if (key.length < MIN_HMAC_KEY_BYTES) {
      problems.push({ path, message: `decodes to ${key.length} bytes; an HMAC-SHA256 key needs at least ${MIN_HMAC_KEY_BYTES}: ${file}` });
    }
  };
  const pem = (path: string, file: string): void => {
    const got = read(path, file);
    if (got && !isPem(got.text)) problems.push({ path, message: `not a PEM file: ${file}` });
  };
  const certs = (
    path: string,
    given: { cert: string; key: string; chain?: string | undefined } | undefined,
    role: 'scanner' | 'gateway' | 'service',
    name: string,
  ): void => {
    const files = given ? { cert: abs(given.cert), key: abs(given.key), chain: abs(given.chain ?? given.cert) } : issuedPaths(pkiDir, role, name);
    const at = path; // a default layout file is reported at the unset field, with its full path
    pem(given ? `${path}.cert` : at, files.cert);
    pem(given ? `${path}.key` : at, files.key);
    if (files.chain !== files.cert) pem(given?.chain ? `${path}.chain` : at, files.chain);
  };

  pem('pki.caBundle', topology.pki.caBundle ? abs(topology.pki.caBundle) : join(pkiDir, PKI_LAYOUT.caBundle));
  pem('pki.crl', topology.pki.crl ? abs(topology.pki.crl) : join(pkiDir, PKI_LAYOUT.crl));

  // What `serve` and `scanner` would refuse at start: the key's kind and algorithm (a public key
  // to sign with, a certificate or an ECDSA key as the receipt key).
  const key = (path: string, file: string, expect: ParseKeyOptions & { what: string }): KeyMaterial | undefined => {
    const got = read(path, file);
    if (!got) return undefined;
    try {
      return parseKeyFile(Buffer.from(got.text, 'utf8'), expect);
    } catch (error) {
      problems.push({ path, message: `not usable as ${expect.what}: ${(error as Error).message}: ${file}` });
      return undefined;
    }
  };
  topology.scanners.forEach((s, i) => {
    certs(`scanners[${i}].tls`, s.tls, 'scanner', s.id);
    s.signing.keys.forEach((k, j) => {
      const at = `scanners[${i}].signing.keys[${j}]`;
      const got = probe.read(abs(k.file));
      if (!got || !isPem(got.text)) return void hmacKey(`${at}.file`, abs(k.file), true);
      const signing = key(`${at}.file`, abs(k.file), { type: 'private', what: 'a signing key (a PKCS#8 private key)' });
      if (!k.publicFile) return;
      const verifying = key(`${at}.publicFile`, abs(k.publicFile), { type: 'public', what: 'a verification key (an SPKI public key)' });
      if (signing && verifying && signing.keyId !== verifying.keyId) {
        problems.push({ path: `${at}.publicFile`, message: `is not the public half of ${abs(k.file)}: ${abs(k.publicFile)}` });
      }
    });
  });
  topology.hops.forEach((h, i) => {
    certs(`hops[${i}].tls`, h.tls, 'gateway', h.id);
    if (h.upstreamTls) certs(`hops[${i}].upstreamTls`, h.upstreamTls, 'gateway', h.id);
    if (h.stamp !== false) h.stamp.keys.forEach((k, j) => hmacKey(`hops[${i}].stamp.keys[${j}].file`, abs(k.file), false));
    // docs/provenance.md#part-2-version-2: what the hop would refuse at start (a key of another algorithm).
    const signing = h.stamp === false ? undefined : h.stamp.signing;
    signing?.keys.forEach((k, j) => {
      const at = `hops[${i}].stamp.signing.keys[${j}]`;
      if (signing.alg === 'hmac-sha256') return void hmacKey(`${at}.file`, abs(k.file), false);
      const private_ = key(`${at}.file`, abs(k.file), { algorithm: signing.alg, type: 'private', what: `a ${signing.alg} signing key (a PKCS#8 private key)` });
      if (!k.publicFile) return;
      const public_ = key(`${at}.publicFile`, abs(k.publicFile), { algorithm: signing.alg, type: 'public', what: 'a verification key (an SPKI public key)' });
      if (private_ && public_ && private_.keyId !== public_.keyId) problems.push({ path: `${at}.publicFile`, message: `is not the public half of ${abs(k.file)}: ${abs(k.publicFile)}` });
    });
  });
  topology.services.forEach((s, i) => {
    certs(`services[${i}].tls`, s.tls, 'service', s.id);
    if (s.receiptKey) key(`services[${i}].receiptKey`, abs(s.receiptKey), { algorithm: 'ed25519', type: 'private', what: 'a receipt key (an Ed25519 PKCS#8 private key)' });
  });
  return problems;
}

/**
 * Warnings, not problems: private key files that the group or others may read
 * (docs/operations/running.md#preflight). The parts still start, but a key readable by another
 * account is a key that account can use.
 */
export function keyFileWarnings(topology: Topology, probe: FileProbe, baseDir = '.'): TopologyProblem[] {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolvePath(baseDir, p));
  const pkiDir = abs(topology.pki.dir);
  const files: [string, string][] = [];
  const tls = (path: string, given: { key: string } | undefined, role: 'scanner' | 'gateway' | 'service', name: string): void => {
    files.push([`${path}.key`, given ? abs(given.key) : issuedPaths(pkiDir, role, name).key]);
  };
  topology.scanners.forEach((s, i) => {
    tls(`scanners[${i}].tls`, s.tls, 'scanner', s.id);
    s.signing.keys.forEach((k, j) => files.push([`scanners[${i}].signing.keys[${j}].file`, abs(k.file)]));
  });
  topology.hops.forEach((h, i) => {
    tls(`hops[${i}].tls`, h.tls, 'gateway', h.id);
    if (h.upstreamTls) tls(`hops[${i}].upstreamTls`, h.upstreamTls, 'gateway', h.id);
    if (h.stamp !== false) h.stamp.keys.forEach((k, j) => files.push([`hops[${i}].stamp.keys[${j}].file`, abs(k.file)]));
    if (h.stamp !== false) h.stamp.signing?.keys.forEach((k, j) => files.push([`hops[${i}].stamp.signing.keys[${j}].file`, abs(k.file)]));
  });
  topology.services.forEach((s, i) => {
    tls(`services[${i}].tls`, s.tls, 'service', s.id);
    if (s.receiptKey) files.push([`services[${i}].receiptKey`, abs(s.receiptKey)]);
  });
  const warnings: TopologyProblem[] = [];
  const seen = new Set<string>();
  for (const [path, file] of files) {
    if (seen.has(file)) continue;
    seen.add(file);
    const mode = probe.read(file)?.mode;
    if (mode !== undefined && (mode & 0o077) !== 0) {
      const who = [(mode & 0o070) !== 0 ? 'its group' : '', (mode & 0o007) !== 0 ? 'others' : ''].filter(Boolean).join(' and ');
      warnings.push({ path, message: `private key open to ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 ${file}` });
    }
  }
  return warnings;
}
