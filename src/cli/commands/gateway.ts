/**
 * `stella-gateway gateway render --topology FILE --out DIR [--check]` (docs/gateways/README.md, README.md#command-line): renders every
 * hop of a topology, writes the files, and with `--check` runs each real program's config check.
 * Exit codes (src/cli/output.ts): 0 rendered (and accepted), 1 a check failed, 2 a bad topology or flags.
 *
 * `stella-gateway gateway run --topology FILE --hop ID --out DIR [--reload-seconds N]`: renders,
 * runs one hop's program and supervises it: a changed certificate, CA bundle or CRL gets the
 * program's graceful reload within `pki.reloadSeconds` (docs/operations/certificates.md#revocation),
 * and so does SIGHUP, at once.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RENDER_INDEX_FILE, renderTopology } from '../../gateways/index.js';
import { checkHop, startHop, type HopCheckResult } from '../../gateways/runtime.js';
import { superviseGateway, trustFilesOf } from '../../gateways/supervise.js';
import { EnvoyCheckUnavailableError, loadEnvoyCheck } from '../../gateways/envoy/index.js';
import { writeRenderedFiles } from '../../gateways/write.js';
import { TopologyError, formatProblems } from '../../topology/errors.js';
import { loadTopology, formatOf, nodeFileProbe } from '../../topology/load.js';
import { checkTopology, parseText } from '../../topology/parse.js';
import { resolveTopology, type ResolvedTopology } from '../../topology/resolve.js';
import { ConfigurationFailure } from '../failure.js';
import { CliError, EXIT_FAILED, EXIT_USAGE, formatTable, printJson } from '../output.js';

/** Options of {@link renderGateways}. */
export interface RenderGatewaysOptions {
  readonly topology: string;
  readonly out: string;
  /** Resolve the topology's relative paths against this folder instead of the file's own. */
  readonly baseDir?: string;
  /** The folder the configs will be installed in (paths inside them); default `out`. */
  readonly installDir?: string;
  readonly check?: boolean;
}

/** What {@link renderGateways} did. */
export interface RenderGatewaysResult {
  readonly written: string[];
  readonly checks: HopCheckResult[];
}

/**
 * Renders and writes the configs of every hop; with `check`, runs every hop's config check.
 *
 * @example
 * await renderGateways({ topology: 'examples/topology.yaml', out: '/tmp/gw', check: true });
 */
export async function renderGateways(options: RenderGatewaysOptions): Promise<RenderGatewaysResult> {
  // Rendering needs no file; the checks run the programs on the real certificates and keys, so
  // with --check every file is checked first and a missing one is a usage error, before any write.
  const topology = await loadForRender(options.topology, options.baseDir, options.check === true);
  const out = resolve(options.out);
  const installDir = resolve(options.installDir ?? options.out);
  if (options.check && installDir !== out) throw new CliError('--check needs the configs where they will run: drop --install-dir or render into it', EXIT_USAGE);
  // With --base-dir the topology is to be installed there, beside the files it names.
  const topologyFile = options.baseDir === undefined ? resolve(options.topology) : join(resolve(options.baseDir), basename(options.topology));
  const written = await writeRenderedFiles(out, renderTopology(topology, { outDir: installDir, topologyFile }));
  const checks: HopCheckResult[] = [];
  if (options.check) for (const hop of topology.hops) checks.push(await machineStep(() => checkHop(hop, join(out, hop.id))));
  return { written, checks };
}

/**
 * A step that needs the Envoy check's optional packages: their absence is the machine's
 * configuration (ENVOY_CHECK_UNAVAILABLE), told as the install command alone.
 */
async function machineStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof EnvoyCheckUnavailableError) throw new ConfigurationFailure(error.message, error);
    throw error;
  }
}

async function loadForRender(file: string, baseDir: string | undefined, checkFiles: boolean): Promise<ResolvedTopology> {
  try {
    if (baseDir === undefined) return await loadTopology(file, { checkFiles });
    const parsed = parseText(await readFile(file, 'utf8'), formatOf(file));
    if (parsed.problems.length > 0) throw new TopologyError('TOPOLOGY_INVALID', parsed.problems, { file });
    const checked = checkTopology(parsed.value, checkFiles ? { files: nodeFileProbe, baseDir: resolve(baseDir) } : {});
    if (!checked.ok) throw new TopologyError('TOPOLOGY_INVALID', checked.problems, { file });
    return resolveTopology(checked.topology, resolve(baseDir));
  } catch (error) {
    if (error instanceof TopologyError) throw new ConfigurationFailure(`${file}: ${error.problems.length} problem(s)\n${formatProblems(error.problems)}`, error);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`${file}: no such file`, EXIT_USAGE);
    throw error;
  }
}

/** Options of {@link runGateway}. */
export interface RunGatewayOptions {
  readonly topology: string;
  readonly hop: string;
  readonly out: string;
  /** Overrides `pki.reloadSeconds`. */
  readonly reloadSeconds?: number;
  /** Resolves when the program should stop; default SIGINT or SIGTERM. */
  readonly until?: Promise<void>;
}

/**
 * Renders the topology into `out`, starts one hop's program, reloads it gracefully whenever its
 * PKI files change, and stops it by PID when `until` resolves.
 */
export async function runGateway(options: RunGatewayOptions): Promise<void> {
  const topology = await loadForRender(options.topology, undefined, true);
  const hop = topology.hops.find((h) => h.id === options.hop);
  if (!hop) throw new CliError(`no hop "${options.hop}" in ${options.topology} (hops: ${topology.hops.map((h) => h.id).join(', ')})`, EXIT_USAGE);
  const reloadSeconds = options.reloadSeconds ?? topology.pki.reloadSeconds;
  if (!Number.isInteger(reloadSeconds) || reloadSeconds < 1) throw new CliError(`--reload-seconds must be a positive integer, got ${reloadSeconds}`, EXIT_USAGE);
  const out = resolve(options.out);
  await writeRenderedFiles(out, renderTopology(topology, { outDir: out }));
  const gateway = await startHop(topology, hop, join(out, hop.id));
  const supervisor = await superviseGateway(() => gateway, trustFilesOf(topology, hop), {
    intervalMs: reloadSeconds * 1000,
    onReload: (id, error) => process.stderr.write(`${new Date().toISOString()} ${id}: ${error ? `reload failed: ${error.message}` : 'PKI files changed, reloaded'}\n`),
  });
  // SIGHUP (systemd's ExecReload) reloads now, as a PKI change would; without this handler it would end the process.
  const hangup = (): void =>
    void gateway.reload().then(
      () => process.stderr.write(`${new Date().toISOString()} ${hop.id}: SIGHUP, reloaded\n`),
      (error: Error) => process.stderr.write(`${new Date().toISOString()} ${hop.id}: SIGHUP, reload failed: ${error.message}\n`),
    );
  process.on('SIGHUP', hangup);
  process.stderr.write(`${hop.id} (${hop.kind}, pid ${gateway.pid}) on ${hop.listen}; reloads within ${reloadSeconds} s of a PKI change, or on SIGHUP\n`);
  const until =
    options.until ??
    new Promise<void>((done) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  const ended = await Promise.race([until.then(() => 'asked' as const), gateway.exited.then(() => 'exited' as const)]);
  supervisor.stop();
  process.off('SIGHUP', hangup);
  if (ended === 'exited') throw new CliError(`${hop.id}: ${hop.kind} exited with ${await gateway.exited}`, EXIT_FAILED);
  await gateway.stop();
}

/** Registers the `gateway` group. */
export function register(program: Command): void {
  const group = program.command('gateway').description('Render gateway configurations from a topology (docs/gateways/README.md)');
  group
    .command('render')
    .description('Render NGINX / HAProxy / Apache+ModSecurity / Caddy / Envoy configs for every hop into DIR/<hop id>/')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--check', "run each program's config check (nginx -t, haproxy -c, apache2 -t, caddy validate, Envoy v3 API schema)")
    .option('--base-dir <dir>', "resolve the topology's relative paths against this folder (default: the file's folder)")
    .option('--install-dir <dir>', 'the folder the configs will live in, for paths inside them (default: --out)')
    .option('--json', 'machine-readable output')
    .action(async (options: { topology: string; out: string; check?: boolean; baseDir?: string; installDir?: string; json?: boolean }) => {
      const result = await renderGateways({ ...options, check: options.check === true });
      const failed = result.checks.filter((c) => !c.ok);
      if (options.json) printJson({ written: result.written, checks: result.checks, ok: failed.length === 0 });
      else {
        process.stdout.write(`wrote ${result.written.length} file(s) under ${resolve(options.out)}; how to run each hop: ${join(resolve(options.out), RENDER_INDEX_FILE)}\n`);
        if (result.checks.length > 0) {
          const rows = result.checks.map((c) => [c.hop, c.kind, c.ok ? 'ok' : 'FAILED']);
          process.stdout.write(`${formatTable(['hop', 'kind', 'check'], rows)}\n`);
          for (const c of failed) process.stdout.write(`\n${c.hop}:\n${c.output}\n`);
        }
      }
      if (failed.length > 0) throw new CliError('', EXIT_FAILED);
    });

  group
    .command('run')
    .description("Run one hop's program and reload it gracefully when its certificates, the CA bundle or the CRL change")
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--hop <id>', 'the hop to run')
    .requiredOption('--out <dir>', 'folder to render the configs into (the hop runs from DIR/<hop id>/)')
    .option('--reload-seconds <n>', 'how often to look at the PKI files (default: pki.reloadSeconds)', (v) => Number(v))
    .action(async (options: { topology: string; hop: string; out: string; reloadSeconds?: number }) => {
      await runGateway(options);
    });

  group
    .command('check-envoy')
    .description('Check an Envoy bootstrap against the Envoy v3 API schema (no envoy binary runs here); exit 1 with each problem')
    .argument('<file>', 'envoy.yaml (or JSON)')
    .action(async (file: string) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new CliError(`${file}: ${(error as Error).message}`, EXIT_USAGE);
      }
      const checkEnvoyConfig = await machineStep(loadEnvoyCheck);
      const problems = checkEnvoyConfig(text);
      for (const p of problems) process.stderr.write(`${file}: ${p.path || '(root)'}: ${p.message}\n`);
      if (problems.length > 0) throw new CliError('', EXIT_FAILED);
      process.stdout.write(`${file}: accepted by the Envoy v3 API schema\n`);
    });
}
