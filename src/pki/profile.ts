/**
 * The leaf certificate profile of docs/operations/certificates.md, as pure functions: which names are acceptable and
 * which extensions a leaf of each role carries. Nothing here touches a file.
 */
import { isIP } from 'node:net';
import { PkiError } from './errors.js';
import { PKI_ROLES, spiffeId, type PkiRole } from '../topology/identity.js';

export { PKI_ROLES, type PkiRole };

/** Default leaf lifetime: 24 h (docs/operations/certificates.md). */
export const DEFAULT_LEAF_TTL_SECONDS = 24 * 3600;

/**
 * Names must also be valid `peer-id`s (docs/provenance.md: `[A-Za-z0-9._-]{1,64}`) and SPIFFE path
 * segments (no `.` or `..` segment).
 */
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const DNS_NAME = /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The identity a leaf certifies: CN plus its one SPIFFE URI SAN. */
export interface LeafIdentity {
  role: PkiRole;
  name: string;
  spiffeId: string;
}

/** The validated inputs of a leaf. */
export interface LeafProfile extends LeafIdentity {
  dns: string[];
  ip: string[];
  /** EKU OIDs: clientAuth, plus serverAuth for gateways and services. */
  extendedKeyUsages: string[];
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** Narrows an unknown value to a role, or throws PKI_INVALID_NAME. */
export function parseRole(value: unknown): PkiRole {
  if (typeof value === 'string' && (PKI_ROLES as readonly string[]).includes(value)) return value as PkiRole;
  throw new PkiError('PKI_INVALID_NAME', `role must be one of ${PKI_ROLES.join(', ')}; got ${JSON.stringify(value)}`);
}

/**
 * Checks and normalises the inputs of a leaf. Scanners are clients only, so DNS/IP SANs are
 * refused for them (they would be meaningless and widen what the certificate can be used for).
 */
export function leafProfile(input: { trustDomain: string; role: unknown; name: unknown; dns?: readonly string[]; ip?: readonly string[] }): LeafProfile {
  const role = parseRole(input.role);
  const name = input.name;
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..') {
    throw new PkiError('PKI_INVALID_NAME', `name ${JSON.stringify(name)} must match [A-Za-z0-9._-]{1,64} and not be "." or ".."`);
  }
  const dns = [...new Set(input.dns ?? [])];
  const ip = [...new Set(input.ip ?? [])];
  for (const d of dns) if (!DNS_NAME.test(d)) throw new PkiError('PKI_INVALID_NAME', `"${d}" is not a DNS name`);
  for (const a of ip) if (isIP(a) === 0) throw new PkiError('PKI_INVALID_NAME', `"${a}" is not an IP address`);
  if (role === 'scanner' && (dns.length > 0 || ip.length > 0)) {
    throw new PkiError('PKI_INVALID_NAME', 'scanner certificates are client-only and carry no DNS or IP SAN');
  }
  return {
    role,
    name,
    spiffeId: spiffeId(input.trustDomain, role, name),
    dns,
    ip,
    extendedKeyUsages: role === 'scanner' ? [CLIENT_AUTH] : [CLIENT_AUTH, SERVER_AUTH],
  };
}

/** Lifetime of a leaf from `ttlSeconds` or explicit dates (explicit dates are for tests of expired certificates). */
export function leafValidity(now: Date, options: { ttlSeconds?: number; notBefore?: Date; notAfter?: Date }): { notBefore: Date; notAfter: Date } {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_LEAF_TTL_SECONDS;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new PkiError('PKI_INVALID_LIFETIME', `ttlSeconds must be positive; got ${ttlSeconds}`);
  // X.509 times have whole seconds; flooring keeps the lifetime the provider computes exact.
  const notBefore = options.notBefore ?? new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + ttlSeconds * 1000);
  if (notAfter <= notBefore) throw new PkiError('PKI_INVALID_LIFETIME', 'notAfter must be after notBefore');
  return { notBefore, notAfter };
}

/**
 * Parses a duration such as `24h`, `90m`, `3600s`, `7d` or a bare number of seconds (the CLI's
 * `--ttl`).
 */
export function parseDurationSeconds(text: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new PkiError('PKI_INVALID_LIFETIME', `"${text}" is not a duration like 24h, 90m, 3600s or 7d`);
  const factor = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * factor;
  if (seconds <= 0) throw new PkiError('PKI_INVALID_LIFETIME', `duration "${text}" must be positive`);
  return seconds;
}
