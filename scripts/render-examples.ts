/**
 * Regenerates the committed gateway configs under devops/gateway/ from the example topologies
 * (README.md#the-chain: "committed examples under devops/gateway/"). Paths inside them are rendered as if
 * the deployment lived in /etc/stella-gateway, so they do not depend on where the repository is.
 *
 *   node --import tsx scripts/render-examples.ts
 *
 * test/gateways/render.test.ts fails when the committed files differ from what this renders.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTopology, type RenderedFile } from '../src/gateways/index.js';
import { writeRenderedFiles } from '../src/gateways/write.js';
import { formatOf, parseTopology } from '../src/topology/load.js';
import { resolveTopology } from '../src/topology/resolve.js';

/** Where the example deployment is assumed to live (topology-relative paths resolve here). */
export const EXAMPLE_BASE_DIR = '/etc/stella-gateway';
/** Where the rendered configs are assumed to be installed. */
export const EXAMPLE_INSTALL_DIR = '/etc/stella-gateway/gateway';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each committed variant: its topology file and its folder under devops/gateway/. */
export const EXAMPLE_VARIANTS = [
  { name: 'nginx-edge', topology: 'examples/topology.yaml' },
  { name: 'caddy-edge', topology: 'examples/topology-caddy.yaml' },
  { name: 'envoy-edge', topology: 'examples/topology-envoy.yaml' },
  { name: 'registry', topology: 'examples/topology-registry.yaml' },
] as const;

/** The absolute folder of a variant's committed files. */
export function variantDir(name: string): string {
  return join(ROOT, 'devops', 'gateway', name);
}

/** Renders one example topology as committed (pure apart from reading the topology file). */
export async function renderExample(topologyFile: string): Promise<RenderedFile[]> {
  const file = join(ROOT, topologyFile);
  const topology = resolveTopology(parseTopology(await readFile(file, 'utf8'), formatOf(file)), EXAMPLE_BASE_DIR);
  // The topology is installed beside the files it names: the run lines name it there.
  return renderTopology(topology, { outDir: EXAMPLE_INSTALL_DIR, topologyFile: join(EXAMPLE_BASE_DIR, basename(file)) });
}

/** Every file below a folder, as POSIX paths relative to it. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/')).sort();
}

async function main(): Promise<void> {
  for (const variant of EXAMPLE_VARIANTS) {
    const dir = variantDir(variant.name);
    // Start clean so a hop removed from the topology leaves no stale folder behind.
    await rm(dir, { recursive: true, force: true });
    const written = await writeRenderedFiles(dir, await renderExample(variant.topology));
    process.stdout.write(`${variant.name}: ${written.length} file(s) from ${variant.topology}\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
