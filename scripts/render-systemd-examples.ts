/**
 * Regenerates the committed systemd units under devops/systemd/ from the example topologies, as
 * if the deployment lived in /etc/stella-gateway (as devops/gateway/ does).
 *
 *   node --import tsx scripts/render-systemd-examples.ts
 *
 * test/deploy/systemd.test.ts fails when the committed files differ from what this renders.
 */
import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSystemdUnits } from '../src/deploy/systemd.js';
import type { RenderedFile } from '../src/gateways/types.js';
import { writeRenderedFiles } from '../src/gateways/write.js';
import { formatOf, parseTopology } from '../src/topology/load.js';
import { resolveTopology } from '../src/topology/resolve.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the example deployment is assumed to live, as for devops/gateway/. */
const BASE_DIR = '/etc/stella-gateway';

/** Each committed variant: its topology file and its folder under devops/systemd/. */
export const SYSTEMD_VARIANTS = [
  { name: 'two-edges', topology: 'examples/topology-two-edges.yaml' },
  { name: 'caddy-edge', topology: 'examples/topology-caddy.yaml' },
] as const;

/** The absolute folder of a variant's committed units. */
export function systemdVariantDir(name: string): string {
  return join(ROOT, 'devops', 'systemd', name);
}

/** Renders one example topology's units as committed. */
export async function renderSystemdExample(topologyFile: string): Promise<RenderedFile[]> {
  const file = join(ROOT, topologyFile);
  const topology = resolveTopology(parseTopology(await readFile(file, 'utf8'), formatOf(file)), BASE_DIR);
  return renderSystemdUnits(topology, { topologyFile: join(BASE_DIR, basename(file)) });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const variant of SYSTEMD_VARIANTS) {
    const dir = systemdVariantDir(variant.name);
    await rm(dir, { recursive: true, force: true });
    const written = await writeRenderedFiles(dir, await renderSystemdExample(variant.topology));
    process.stdout.write(`${variant.name}: ${written.length} file(s) from ${variant.topology}\n`);
  }
}
