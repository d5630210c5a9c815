/**
 * The CA directory on disk: the file layout of docs/CONVENTIONS.md, the CA state file (serials
 * issued, revocations, CA generations) and atomic writes (temp file + rename, docs/operations/certificates.md).
 *
 * Writers inside one process are serialised per directory; the CLI and a `pki serve` process
 * should not write the same directory at the same moment (documented in
 * docs/operations/certificates.md).
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { PKI_LAYOUT } from '../conventions/index.js';
import { PkiError } from './errors.js';

/** Name of the CA state file inside the PKI directory. */
export const STATE_FILE = 'ca-state.json';
/** Mode of private key files and of the state file. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of public files (certificates, bundle, CRL). */
export const PUBLIC_FILE_MODE = 0o644;

/** A CA generation: one root and its issuing intermediate. Several exist during a rollover. */
export interface CaGeneration {
  id: number;
  createdAt: string;
  /** Still in `ca-bundle.pem` and `crl.pem`. */
  trusted: boolean;
}

/** One leaf this CA issued. */
export interface IssuedRecord {
  serial: string;
  generation: number;
  role: string;
  name: string;
  notAfter: string;
  fingerprint: string;
}

/** One revocation, published in the CRL of the CA that issued it. */
export interface RevokedRecord {
  serial: string;
  generation: number;
  /** Which CA of the generation signed the revoked certificate. */
  issuer: 'root' | 'intermediate';
  revokedAt: string;
}

/** Contents of {@link STATE_FILE}. */
export interface CaState {
  version: 1;
  trustDomain: string;
  /** The generation that issues new leaves. */
  activeGeneration: number;
  generations: CaGeneration[];
  issued: IssuedRecord[];
  revoked: RevokedRecord[];
  crlNumber: number;
}

/** Absolute paths of the files of a PKI directory. */
export function pkiPaths(dir: string) {
  const root = resolve(dir);
  const gen = (id: number) => {
    const g = join(root, 'ca', `g${id}`);
    return {
      dir: g,
      rootCert: join(g, 'root.pem'),
      rootKey: join(g, 'root-key.pem'),
      intermediateCert: join(g, 'intermediate.pem'),
      intermediateKey: join(g, 'intermediate-key.pem'),
    };
  };
  return {
    dir: root,
    state: join(root, STATE_FILE),
    caBundle: join(root, PKI_LAYOUT.caBundle),
    crl: join(root, PKI_LAYOUT.crl),
    /** The active generation's root and intermediate, for `openssl verify -CAfile root.pem -untrusted intermediate.pem`. */
    rootCert: join(root, PKI_LAYOUT.rootCert),
    intermediateCert: join(root, PKI_LAYOUT.intermediateCert),
    tokens: join(root, 'enrollment-tokens.json'),
    generation: gen,
  };
}

/** Atomic writes (temp + fsync + rename, exact mode) come from the shared module. */
export { writeFileAtomic };

/** Reads the CA state, or throws PKI_NOT_INITIALIZED / PKI_STATE_CORRUPT. */
export async function readState(dir: string): Promise<CaState> {
  let text: string;
  try {
    text = await readFile(pkiPaths(dir).state, 'utf8');
  } catch (error) {
    throw new PkiError('PKI_NOT_INITIALIZED', `no CA in ${dir}; run: stella-gateway pki init --dir ${dir}`, { cause: error });
  }
  try {
    const state = JSON.parse(text) as CaState;
    if (state.version !== 1 || !Array.isArray(state.generations) || !Array.isArray(state.issued) || !Array.isArray(state.revoked)) {
      throw new Error('unexpected shape');
    }
    return state;
  } catch (error) {
    throw new PkiError('PKI_STATE_CORRUPT', `${STATE_FILE} in ${dir} cannot be read`, { cause: error });
  }
}

/** Writes the CA state atomically with mode 0600. */
export async function writeState(dir: string, state: CaState): Promise<void> {
  await writeFileAtomic(pkiPaths(dir).state, `${JSON.stringify(state, null, 2)}\n`, PRIVATE_FILE_MODE);
}

const locks = new Map<string, Promise<unknown>>();

/** Name of the lock file that serialises writers across processes. */
export const LOCK_FILE = '.lock';
/** A lock older than this is left over by a crashed writer and is taken over. */
export const LOCK_STALE_MS = 30_000;
/** How long a writer waits for the lock before giving up with PKI_LOCKED. */
export const LOCK_TIMEOUT_MS = 15_000;
const LOCK_RETRY_MS = 20;

/**
 * Runs `fn` as the only writer of the directory: first after every earlier writer of this
 * process, then holding `<dir>/.lock` (created with O_EXCL) against other processes — `pki issue`,
 * `pki serve` and workers with a local-CA provider may share one directory.
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const key = resolve(dir);
  const before = locks.get(key) ?? Promise.resolve();
  const locked = async (): Promise<T> => {
    const release = await acquireFileLock(key);
    try {
      return await fn();
    } finally {
      await release();
    }
  };
  const run = before.then(locked, locked);
  const settled = run.catch(() => undefined);
  locks.set(key, settled);
  try {
    return await run;
  } finally {
    if (locks.get(key) === settled) locks.delete(key);
  }
}

async function acquireFileLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(path, 'wx', PRIVATE_FILE_MODE);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(path, { force: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // No directory yet: nothing to protect (init creates it; everything else fails as not initialised).
      if (code === 'ENOENT') return async () => undefined;
      if (code !== 'EEXIST') throw error;
    }
    const age = await stat(path).then((st) => Date.now() - st.mtimeMs, () => 0);
    if (age > LOCK_STALE_MS) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new PkiError('PKI_LOCKED', `${dir} is locked by another writer (${path})`);
    await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
  }
}
