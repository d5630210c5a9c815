/**
 * NGINX configuration syntax shared by the blocks of `config.ts` and `stamping.ts`.
 */

/** The include with the header list every proxying location repeats (notes: inheritance pitfall). */
export const STRIP_HEADERS_FILE = 'strip-headers.conf';

/** Absolute paths of this hop's own files. */
export interface NginxPaths {
  readonly hopDir: string;
}

/**
 * A double-quoted NGINX string. Its parser unescapes only `\"`, `\'`, `\\`, `\t`, `\r`, `\n` and
 * keeps any other backslash, so a regex like `\x5c.` passes through as written.
 */
export function nginxString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
