/**
 * The render dispatcher (docs/gateways/README.md): one renderer and one program per hop kind, looked
 * up in the one table of kinds (`kinds.ts`, `GATEWAY_KINDS`).
 * Pure: rendering returns files; `write.ts` writes them and `runtime.ts` runs the programs.
 */
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import type { HopKind } from '../topology/schema.js';
import { gatewayKind } from './kinds.js';
import type { GatewayProgram, HopRenderer, RenderContext, RenderedFile } from './types.js';

export type { GatewayKindModule, GatewayProgram, HopCheckResult, HopRenderer, Invocation, RenderContext, RenderedFile } from './types.js';
export { GATEWAY_KINDS, gatewayKind } from './kinds.js';

/** The name of the index file `renderTopology` adds at the top of the output folder. */
export const RENDER_INDEX_FILE = 'README.txt';

/** The renderer of a hop kind (`GATEWAY_KINDS[kind].render`). */
export function rendererFor(kind: HopKind): HopRenderer {
  return gatewayKind(kind).render;
}

/** How to check and run the program of a hop kind (`GATEWAY_KINDS[kind].program`). */
export function programFor(kind: HopKind): GatewayProgram {
  return gatewayKind(kind).program;
}

/** Renders one hop with the renderer of its kind. */
export function renderHop(topology: ResolvedTopology, hop: ResolvedHop, context: RenderContext): RenderedFile[] {
  return rendererFor(hop.kind)(topology, hop, context);
}

/** The command that runs one hop, as the rendered index prints it. */
export const GATEWAY_RUN_COMMAND = 'stella-gateway gateway run';

/**
 * Renders every hop of the topology into `<hop id>/…` plus a `README.txt` that lists the hops,
 * their kinds, files and the commands that check and run them.
 *
 * @example
 * const files = renderTopology(topology, { outDir: '/etc/stella-gateway' });
 * await writeRenderedFiles('/etc/stella-gateway', files);
 */
export function renderTopology(topology: ResolvedTopology, context: RenderContext): RenderedFile[] {
  const perHop = topology.hops.map((hop) => ({ hop, files: renderHop(topology, hop, context) }));
  const index: RenderedFile = { path: RENDER_INDEX_FILE, contents: renderIndex(topology, context, perHop) };
  return [index, ...perHop.flatMap((entry) => entry.files)];
}

function renderIndex(topology: ResolvedTopology, context: RenderContext, perHop: readonly { hop: ResolvedHop; files: RenderedFile[] }[]): string {
  const lines = [
    `Gateway configurations of topology "${topology.name}", rendered by \`stella-gateway gateway render\`.`,
    'Do not edit these files by hand: change the topology and render again (docs/gateways/README.md).',
    '',
  ];
  for (const { hop, files } of perHop) {
    const hopDir = `${context.outDir}/${hop.id}`;
    const program = programFor(hop.kind);
    const check = program.check(hopDir, hop);
    const run = program.run(hopDir, hop);
    // The program alone lacks what `gateway run` prepares (key environment, certificate links,
    // the CRL), so only `gateway run` is printed as the command to run (docs/operations/running.md).
    // A forward-auth hop asks its stamper for each record: that runs beside it (docs/CONVENTIONS.md).
    const stamper = hop.stamp !== false && hop.stamp.via === 'forward-auth' && context.topologyFile ? [`  stamper: stella-gateway stamper --topology ${context.topologyFile} --hop ${hop.id}`] : [];
    const runLines = context.topologyFile
      ? [
          ...stamper,
          `  run:     ${GATEWAY_RUN_COMMAND} --topology ${context.topologyFile} --hop ${hop.id} --out ${context.outDir}`,
          `  program: ${[run.command, ...run.args].join(' ')}   (started by the run command above, after it prepared keys and links)`,
        ]
      : [`  program: ${[run.command, ...run.args].join(' ')}   (start it with: ${GATEWAY_RUN_COMMAND} --topology FILE --hop ${hop.id} --out ${context.outDir})`];
    lines.push(
      `${hop.id} (${hop.kind}) listens on ${hop.listen}, forwards to ${hop.next}, ${hop.stamp === false ? 'opaque (no record)' : `stamps seq ${hop.stampSeq ?? '?'} via ${hop.stamp.via}`}`,
      ...files.map((f) => `  ${f.path}`),
      `  check: ${[check.command, ...check.args].join(' ')}`,
      ...runLines,
      '',
    );
  }
  return lines.join('\n');
}
