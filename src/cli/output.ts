/** Exit codes and output helpers shared by every command (README.md#command-line). */

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
