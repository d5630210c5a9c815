/**
 * One-time bootstrap tokens for the first certificate (docs/operations/certificates.md): single use, expiring, stored
 * only as a SHA-256 hash in `<dir>/enrollment-tokens.json` (mode 0600), compared in constant
 * time. The secret is 32 random bytes, so a plain hash (no slow KDF) resists guessing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PkiError } from '../errors.js';
import { leafProfile, type PkiRole } from '../profile.js';
import { pkiPaths, PRIVATE_FILE_MODE, readState, withDirLock, writeFileAtomic } from '../store.js';

/** Default token lifetime: 1 h. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
const TOKEN_PREFIX = 'sgt';
const TOKEN_FORMAT = /^sgt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A stored token (never the secret itself). */
export interface TokenRecord {
  id: string;
  sha256: string;
  role: PkiRole;
  name: string;
  dns: string[];
  ip: string[];
  /** Lifetime of the certificate it enrolls; the CA default when absent. */
  certTtlSeconds?: number;
  createdAt: string;
  expiresAt: string;
  usedAt?: string;
}

/** Options of {@link createBootstrapToken}. */
export interface CreateTokenOptions {
  dir: string;
  role: PkiRole;
  name: string;
  dns?: string[];
  ip?: string[];
  ttlSeconds?: number;
  certTtlSeconds?: number;
  clock?: () => Date;
}

/**
 * Creates a token bound to one identity; the returned `token` is shown once and never stored.
 *
 * @example
 * const { token } = await createBootstrapToken({ dir: './pki', role: 'scanner', name: 'scanner-01', ttlSeconds: 3600 });
 */
export async function createBootstrapToken(options: CreateTokenOptions): Promise<{ token: string; id: string; expiresAt: Date }> {
  const clock = options.clock ?? (() => new Date());
  const state = await readState(options.dir);
  const profile = leafProfile({ trustDomain: state.trustDomain, role: options.role, name: options.name, dns: options.dns, ip: options.ip });
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const now = clock();
  const expiresAt = new Date(now.getTime() + (options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000);
  const record: TokenRecord = {
    id,
    sha256: hashSecret(secret),
    role: profile.role,
    name: profile.name,
    dns: profile.dns,
    ip: profile.ip,
    ...(options.certTtlSeconds ? { certTtlSeconds: options.certTtlSeconds } : {}),
    createdAt: now.toISOString(),
    expiresAt: expiresAt.toISOString(),
  };
  await withDirLock(options.dir, async () => {
    const tokens = await readTokens(options.dir);
    tokens.push(record);
    await writeTokens(options.dir, tokens);
  });
  return { token: `${TOKEN_PREFIX}_${id}_${secret}`, id, expiresAt };
}

/** Looks a token up without using it: PKI_TOKEN_INVALID, PKI_TOKEN_USED or PKI_TOKEN_EXPIRED. */
export async function peekBootstrapToken(options: { dir: string; token: unknown; clock?: () => Date }): Promise<TokenRecord> {
  return check(await readTokens(options.dir), options.token, (options.clock ?? (() => new Date()))());
}

/** Uses a token (atomically under the directory lock): the same checks, then marks it used. */
export async function consumeBootstrapToken(options: { dir: string; token: unknown; clock?: () => Date }): Promise<TokenRecord> {
  const now = (options.clock ?? (() => new Date()))();
  return withDirLock(options.dir, async () => {
    const tokens = await readTokens(options.dir);
    const record = check(tokens, options.token, now);
    record.usedAt = now.toISOString();
    await writeTokens(options.dir, tokens);
    return record;
  });
}

function check(tokens: TokenRecord[], token: unknown, now: Date): TokenRecord {
  const match = typeof token === 'string' ? TOKEN_FORMAT.exec(token) : null;
  if (!match) throw new PkiError('PKI_TOKEN_INVALID', 'a bootstrap token (sgt_…) is required');
  const record = tokens.find((t) => t.id === match[1]);
  const given = Buffer.from(hashSecret(match[2]!), 'hex');
  if (!record || !timingSafeEqual(given, Buffer.from(record.sha256, 'hex'))) throw new PkiError('PKI_TOKEN_INVALID', 'unknown bootstrap token');
  if (record.usedAt) throw new PkiError('PKI_TOKEN_USED', `bootstrap token ${record.id} was already used at ${record.usedAt}`);
  if (now >= new Date(record.expiresAt)) throw new PkiError('PKI_TOKEN_EXPIRED', `bootstrap token ${record.id} expired at ${record.expiresAt}`);
  return record;
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

async function readTokens(dir: string): Promise<TokenRecord[]> {
  try {
    return JSON.parse(await readFile(pkiPaths(dir).tokens, 'utf8')) as TokenRecord[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new PkiError('PKI_STATE_CORRUPT', 'enrollment-tokens.json cannot be read', { cause: error });
  }
}

async function writeTokens(dir: string, tokens: TokenRecord[]): Promise<void> {
  await writeFileAtomic(pkiPaths(dir).tokens, `${JSON.stringify(tokens, null, 2)}\n`, PRIVATE_FILE_MODE);
}
