/**
 * A real test PKI made with the openssl CLI, in the layout of docs/CONVENTIONS.md ("Files and
 * identities"): `ca-bundle.pem` (root + intermediate), `crl.pem` (a CRL of each CA, concatenated,
 * because NGINX and HAProxy check CRLs for the whole chain) and `issued/<role>/<name>/{key,cert,chain}.pem`.
 *
 * It lives in the tests (not src/pki) so the gateway tests exercise real programs against
 * certificates made by an independent tool, and keep working whatever the product PKI does.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Role = 'scanner' | 'gateway' | 'service';

/** The files of one issued leaf. */
export interface LeafFiles {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
}

/** A test PKI on disk. */
export interface TestPki {
  readonly dir: string;
  readonly caBundle: string;
  readonly crl: string;
  /**
   * Issues a leaf (CN = name, OU = role, one SPIFFE URI SAN; for gateways and services DNS = name plus
   * `dnsNames`, and IP 127.0.0.1) into `issued/<role>/<name>/`, or `<dir>/<folder>/` when given.
   */
  issue(role: Role, name: string, folder?: string, dnsNames?: readonly string[]): LeafFiles;
  /** A scanner certificate from an unrelated CA with a trusted-looking CN: must be refused. */
  foreign(name: string): LeafFiles;
  /** Revokes a leaf issued by the intermediate and republishes `crl.pem`. */
  revoke(leaf: LeafFiles): void;
}

function openssl(args: readonly string[], cwd?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function newKey(file: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
}

/** A minimal `openssl ca` configuration: only used to publish CRLs (and record revocations). */
function caConfig(dir: string): string {
  const file = join(dir, 'ca.cnf');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(
    file,
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${join(dir, 'index.txt')}`,
      `crlnumber = ${join(dir, 'crlnumber')}`,
      `certificate = ${join(dir, 'ca.pem')}`,
      `private_key = ${join(dir, 'ca.key')}`,
      'default_md = sha256',
      'default_crl_days = 2',
      '',
    ].join('\n'),
  );
  return file;
}

interface Ca {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  readonly config: string;
}

function selfSignedRoot(dir: string, cn: string): Ca {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.pem');
  newKey(key);
  openssl(['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { dir, cert, key, config: caConfig(dir) };
}

function signed(parent: Ca, csrKey: string, out: string, subject: string, extensions: string, days = '2'): void {
  const csr = `${out}.csr`;
  const ext = `${out}.ext`;
  writeFileSync(ext, `[ext]\n${extensions}\n`);
  openssl(['req', '-new', '-key', csrKey, '-out', csr, '-subj', subject]);
  openssl(['x509', '-req', '-in', csr, '-CA', parent.cert, '-CAkey', parent.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', days, '-out', out, '-extfile', ext, '-extensions', 'ext']);
}

function intermediate(root: Ca, dir: string, cn: string): Ca {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.pem');
  newKey(key);
  signed(root, key, cert, `/CN=${cn}`, 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign');
  return { dir, cert, key, config: caConfig(dir) };
}

function publishCrl(ca: Ca): string {
  const out = join(ca.dir, 'crl.pem');
  openssl(['ca', '-gencrl', '-config', ca.config, '-out', out]);
  return readFileSync(out, 'utf8');
}

function leaf(issuer: Ca, dir: string, role: Role, name: string, trustDomain: string, dnsNames: readonly string[] = []): LeafFiles {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), chain: join(dir, 'chain.pem') };
  newKey(files.key);
  const san = [`URI:spiffe://${trustDomain}/${role}/${name}`];
  if (role !== 'scanner') san.push(...[...new Set([name, ...dnsNames])].map((dns) => `DNS:${dns}`), 'IP:127.0.0.1');
  const eku = role === 'scanner' ? 'clientAuth' : 'clientAuth,serverAuth';
  signed(issuer, files.key, files.cert, `/OU=${role}/CN=${name}`,
    `basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${eku}\nsubjectAltName=${san.join(',')}`, '1');
  writeFileSync(files.chain, readFileSync(files.cert, 'utf8') + readFileSync(issuer.cert, 'utf8'));
  return files;
}

/**
 * Creates root + intermediate CAs under `dir` and returns an issuer. Everything is synchronous
 * (a few openssl runs, ~10 ms each) so fixtures stay simple.
 */
export function createTestPki(dir: string, trustDomain = 'stella.local'): TestPki {
  const root = selfSignedRoot(join(dir, 'ca', 'root'), 'Stella Test Root');
  const issuing = intermediate(root, join(dir, 'ca', 'intermediate'), 'Stella Test Issuing CA');
  const caBundle = join(dir, 'ca-bundle.pem');
  const crl = join(dir, 'crl.pem');
  writeFileSync(caBundle, readFileSync(root.cert, 'utf8') + readFileSync(issuing.cert, 'utf8'));
  const publish = (): void => writeFileSync(crl, publishCrl(root) + publishCrl(issuing));
  publish();

  let foreignCa: Ca | undefined;
  return {
    dir,
    caBundle,
    crl,
    issue: (role, name, folder, dnsNames) => leaf(issuing, folder ? join(dir, folder) : join(dir, 'issued', role, name), role, name, trustDomain, dnsNames),
    foreign(name) {
      foreignCa ??= selfSignedRoot(join(dir, 'foreign-ca'), 'Unrelated Root');
      return leaf(foreignCa, join(dir, 'foreign', name), 'scanner', name, trustDomain);
    },
    revoke(files) {
      openssl(['ca', '-config', issuing.config, '-revoke', files.cert]);
      publish();
    },
  };
}

/** Lower-case hex SHA-256 of a PEM certificate's DER: the `peer` of docs/provenance.md without its prefix. */
export function certificateFingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256.replaceAll(':', '').toLowerCase();
}

/** A hop's provenance v2 key as the tests verify with it. */
export type V2TestKey = { readonly alg: 'hmac-sha256'; readonly secret: Buffer } | { readonly alg: 'ecdsa-p256-sha256' | 'ed25519'; readonly publicKey: KeyObject };

/**
 * Writes a fresh provenance v2 signing key (docs/provenance.md#part-2-version-2): a PKCS#8 PEM private
 * key (0600) and, when asked, its SPKI public key; or a base64 32-byte secret for hmac-sha256.
 */
export function writeV2Key(alg: 'ed25519' | 'ecdsa-p256-sha256' | 'hmac-sha256', file: string, publicFile?: string): V2TestKey {
  if (alg === 'hmac-sha256') return { alg, secret: writeHmacKey(file) };
  const { privateKey, publicKey } = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  if (publicFile) writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { alg, publicKey };
}

/** Writes a fresh HMAC-SHA256 key file (base64 text, README.md#command-line) and returns the secret bytes. */
export function writeHmacKey(file: string): Buffer {
  const secret = randomBytes(32);
  writeFileSync(file, `${secret.toString('base64')}\n`, { mode: 0o600 });
  return secret;
}
