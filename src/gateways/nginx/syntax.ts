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

/**
 * A file path as a quoted NGINX argument, so spaces, `;` or `{` in a path cannot end the
 * directive. NGINX expands `$name` inside certificate paths and has no escape for `$`, so such a
 * path (or one with control characters) is refused rather than rendered wrong.
 *
 * @throws {TypeError} for a path containing `$` or a control character.
 */
export function nginxPath(path: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[$\x00-\x1f\x7f]/.test(path)) throw new TypeError(`nginx cannot reference the path ${JSON.stringify(path)} (a "$" or control character)`);
  return nginxString(path);
}
