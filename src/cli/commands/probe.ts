/**
 * `stella-gateway probe --topology FILE` (docs/services.md#health-and-metrics): each hop checked locally and through the
 * chain, each service's provenance validation exercised, each chain from its own edge with a
 * scanner of that edge; a table, or `--json`. Exit 1 when any part fails, 2 for an unknown scanner.
 */
import type { Command } from 'commander';
import { loadTopology } from '../../topology/load.js';
import { probeTopology, DEFAULT_PROBE_TIMEOUT_MS, type ProbeResult } from '../../probes/probe.js';
import { CliError, EXIT_FAILED, EXIT_USAGE, formatTable, printJson } from '../output.js';

/** Registers `probe`. */
export function register(program: Command): void {
  program
    .command('probe')
    .description('Probe every gateway and service of a topology; exit 1 when any fails')
    .requiredOption('--topology <file>', 'topology file')
    .option('--scanner <id>', 'probe only the chains of this scanner (default: every chain, each with a scanner of its edge)')
    .option('--timeout-ms <ms>', 'timeout of each step', String(DEFAULT_PROBE_TIMEOUT_MS))
    .option('--json', 'machine-readable output')
    .action(async (options: { topology: string; scanner?: string; timeoutMs: string; json?: boolean }) => {
      const timeoutMs = Number(options.timeoutMs);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError('--timeout-ms must be a positive integer', EXIT_USAGE);
      const topology = await loadTopology(options.topology, { checkFiles: true });
      if (options.scanner !== undefined && !topology.scanners.some((s) => s.id === options.scanner)) {
        throw new CliError(`--scanner ${options.scanner}: no such scanner in ${options.topology}; choose one of ${topology.scanners.map((s) => s.id).join(', ')}`, EXIT_USAGE);
      }
      const result = await probeTopology(topology, { scannerId: options.scanner, timeoutMs });
      if (options.json) printJson(result);
      else process.stdout.write(`${formatProbeTable(result)}\n`);
      if (!result.ok) throw new CliError('', EXIT_FAILED);
    });
}

/** The probe result as the table of docs/services.md#health-and-metrics: hop, kind, status, latency, certificate expiry. */
export function formatProbeTable(result: ProbeResult): string {
  const rows = result.rows.map((r) => [
    r.id,
    r.kind,
    r.status === 'ok' ? 'OK' : 'FAIL',
    r.latencyMs === null ? '-' : `${r.latencyMs} ms`,
    r.certificateExpiry ?? '-',
    r.detail,
  ]);
  return formatTable(['part', 'kind', 'status', 'latency', 'cert expires', 'detail'], rows);
}
