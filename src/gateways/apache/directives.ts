/**
 * Small, safe building blocks for Apache directives. Values from the topology end up inside a
 * config file; anything that could break out of a quoted argument is refused here rather than
 * escaped, because Apache's quoting differs between directives.
 */
/** A double-quoted Apache argument; refuses quotes, backslashes and line breaks. */
export function quoted(value: string): string {
  if (/["\\\r\n]/.test(value)) throw new TypeError(`apache renderer: ${JSON.stringify(value)} cannot be written into a config`);
  return `"${value}"`;
}

/** A DNS name or address as it appears in URLs and `ServerName`; refuses anything else. */
export function hostName(value: string): string {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(value)) throw new TypeError(`apache renderer: "${value}" is not a host name`);
  return value;
}

