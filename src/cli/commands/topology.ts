/**
 * `stella-gateway topology validate | schema | graph` (docs/topology.md, README.md#command-line).
 * Exit codes (src/cli/output.ts): 0 valid, 2 for an invalid or unreadable topology — a topology
 * is configuration, so its problems are configuration errors.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { CliError, EXIT_USAGE, printJson } from '../output.js';
import { loadTopology, nodeFileProbe } from '../../topology/load.js';
import { keyFileWarnings } from '../../topology/files-check.js';
import { TopologyError, formatProblems } from '../../topology/errors.js';
import type { ResolvedTopology } from '../../topology/resolve.js';
import { renderTopologyJsonSchema } from '../../topology/json-schema.js';
import { GRAPH_FORMATS, renderGraph, type GraphFormat } from '../../topology/graph.js';

/** Registers the `topology` group. */
export function register(program: Command): void {
  const group = program.command('topology').description('Check, publish and draw the topology of a deployment (docs/topology.md)');

  group
    .command('validate')
    .description('Report every problem of a topology file with its path; exit 2 when there is any')
    .argument('<file>', 'topology file (YAML or JSON)')
    .option('--json', 'machine-readable output')
    .option('--no-files', 'skip the key and certificate file checks (before the PKI and keys exist)')
    .action(async (file: string, options: { json?: boolean; files: boolean }) => {
      await validateCommand({ file, json: options.json === true, checkFiles: options.files });
    });

  group
    .command('schema')
    .description('Print the JSON Schema of topology files (or write it with --out)')
    .option('--out <file>', 'write the schema to this file instead of stdout')
    .action(async (options: { out?: string }) => {
      const text = renderTopologyJsonSchema();
      if (options.out) await writeFile(options.out, text);
      else process.stdout.write(text);
    });

  group
    .command('graph')
    .description('Draw scanners → hops → services')
    .argument('<file>', 'topology file (YAML or JSON)')
    .addOption(new Option('--format <format>', 'output format').choices(GRAPH_FORMATS).default('mermaid'))
    .option('--out <file>', 'write the picture to this file instead of stdout')
    .action(async (file: string, options: { format: GraphFormat; out?: string }) => {
      const topology = await loadOrExplain(file, { json: false, checkFiles: false, problemsTo: process.stderr });
      const text = renderGraph(topology, options.format);
      if (options.out) await writeFile(options.out, text);
      else process.stdout.write(text);
    });
}

/** Loads a topology, or prints its problems and ends with exit code 2. */
async function loadOrExplain(file: string, options: { json: boolean; checkFiles: boolean; problemsTo: NodeJS.WriteStream }): Promise<ResolvedTopology> {
  try {
    return await loadTopology(file, { checkFiles: options.checkFiles });
  } catch (error) {
    if (!(error instanceof TopologyError)) throw error;
    if (options.json) printJson({ valid: false, file, code: error.code, problems: error.problems });
    else options.problemsTo.write(`${file}: ${error.problems.length} problem(s)\n${formatProblems(error.problems)}\n`);
    throw new CliError('', EXIT_USAGE);
  }
}

/** The one-line-per-service chain summary printed for a valid topology. */
export function chainSummary(topology: ResolvedTopology): string[] {
  return topology.services.map((service) => {
    const scanners = topology.scanners.filter((s) => s.edge === service.chain[0]?.id).map((s) => s.id);
    const hops = service.chain.map((h) => `${h.id} (${h.kind}, ${h.stampSeq === null ? 'opaque' : `seq ${h.stampSeq}`})`);
    return [scanners.join(' | ') || '(no scanner)', ...hops, `${service.id} (${service.kind})`].join(' → ');
  });
}

async function validateCommand(options: { file: string; json: boolean; checkFiles: boolean }): Promise<void> {
  // The problems are this command's result, so they go to stdout like the summary of a valid file.
  const topology = await loadOrExplain(options.file, { ...options, problemsTo: process.stdout });
  const warnings = options.checkFiles ? keyFileWarnings(topology.source, nodeFileProbe, topology.baseDir) : [];
  if (options.json) {
    printJson({
      valid: true,
      file: options.file,
      name: topology.name,
      filesChecked: options.checkFiles,
      warnings,
      services: topology.services.map((s) => ({ id: s.id, chain: s.chain.map((h) => ({ id: h.id, kind: h.kind, stampSeq: h.stampSeq })) })),
    });
    return;
  }
  const note = options.checkFiles ? '' : ' (files not checked)';
  process.stdout.write(`${options.file}: topology "${topology.name}" is valid${note}\n${chainSummary(topology).map((l) => `  ${l}`).join('\n')}\n`);
  for (const w of warnings) process.stdout.write(`warning: ${w.path}: ${w.message}\n`);
}
