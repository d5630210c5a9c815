/**
 * `host:port`, the one address format of the product: topology `listen` fields, `--listen` and
 * `--ops-listen` options, and the addresses renderers write into gateway configs. An IPv6 host is
 * written in brackets (`[::1]:8443`); parsing returns it without them, as `net.Server#listen` and
 * `net.connect` take it.
 *
 * Part of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): imports only `node:` builtins.
 */
import { isIP } from 'node:net';

/**
 * The topology's `listen` format (docs/topology.md#fields): an IPv4 address, a bracketed IPv6
 * address or a DNS name, and a port 1-65535 without leading zeros. The port range is part of the
 * pattern, so the published JSON Schema carries it too (docs/topology.md#the-json-schema).
 */
export const LISTEN_ADDRESS_SOURCE = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})$';
/** {@link LISTEN_ADDRESS_SOURCE} as a RegExp. */
export const LISTEN_ADDRESS_PATTERN = new RegExp(LISTEN_ADDRESS_SOURCE);

/** A host and a port taken apart; `host` carries no brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const BRACKETED = /^\[([^\]]*)\]:([^:]*)$/;
const PLAIN = /^([^:[\]\s]+):([^:]*)$/;

/**
 * Splits `host:port`. The host is a name or IPv4 address without `:`, or an IPv6 address in
 * brackets (returned without them); the port is 0–65535 in decimal (0: any free port, for a bind;
 * the topology's {@link LISTEN_ADDRESS_PATTERN} refuses it).
 *
 * @example
 * parseHostPort('127.0.0.1:8443'); // { host: '127.0.0.1', port: 8443 }
 * parseHostPort('[::1]:443');      // { host: '::1', port: 443 }
 * parseHostPort('::1:443');        // throws: an IPv6 host needs brackets
 * @throws {TypeError} when the text is not `host:port`.
 */
export function parseHostPort(text: string): HostPort {
  const bracketed = BRACKETED.exec(text);
  const match = bracketed ?? PLAIN.exec(text);
  const host = match?.[1];
  const portText = match?.[2];
  if (host === undefined || portText === undefined || host === '' || !/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535 || (bracketed && isIP(host) !== 6)) {
    throw new TypeError(`expected host:port (an IPv6 host in brackets, a port 0-65535), got "${text}"`);
  }
  return { host, port: Number(portText) };
}

/** The host as a URL or a gateway config writes it: an IPv6 address in brackets; anything else, and a host already in brackets, unchanged. */
export function bracketHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The host as a socket call takes it: an IPv6 address without its brackets; anything else unchanged. The inverse of {@link bracketHost}. */
export function unbracketHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Joins a host and a port; the inverse of {@link parseHostPort}.
 *
 * @example
 * formatHostPort({ host: '::1', port: 443 }); // '[::1]:443'
 */
export function formatHostPort(address: HostPort): string {
  return `${bracketHost(address.host)}:${address.port}`;
}
