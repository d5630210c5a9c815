/** Exit codes and output helpers shared by every command (README.md#command-line). */
import { parseHostPort, type HostPort } from '../conventions/index.js';

export const EXIT_OK = 0;
/** The check failed or the input was rejected. */
export const EXIT_FAILED = 1;
/** Usage or configuration error. */
export const EXIT_USAGE = 2;

/**
 * Thrown by a command to end with a given exit code. The message (if any) goes to stderr once;
 * a command that already printed its own output throws with an empty message.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A `host:port` option taken apart by the one parser of the conventions (an IPv6 host in brackets,
 * returned without them); a malformed address, or port 0 unless `anyPort` (a free port, for a
 * listener that reports where it is), is a usage error.
 */
export function hostPortOption(flag: string, text: string, options: { anyPort?: boolean } = {}): HostPort {
  let address: HostPort | null = null;
  try {
    address = parseHostPort(text);
  } catch {
    // Reported below, with the flag's name.
  }
  const lowest = options.anyPort ? 0 : 1;
  if (address === null || address.port < lowest) throw new CliError(`${flag} must be host:port (an IPv6 host in brackets, a port ${lowest}-65535), got "${text}"`, EXIT_USAGE);
  return address;
}

/** Writes a value as one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Formats rows as an aligned plain-text table (for human output). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
