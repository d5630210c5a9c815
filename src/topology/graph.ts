/**
 * Pictures of a topology (`stella-gateway topology graph`): scanners → hops → services, each hop
 * labelled with its kind and whether it stamps (with its seq) or is opaque (docs/provenance.md#rules-for-every-hop, rule 2).
 * Pure: text out, no Graphviz needed — the SVG is laid out here, column by chain position.
 */
import type { ResolvedTopology } from './resolve.js';

/** Output formats of {@link renderGraph}. */
export const GRAPH_FORMATS = ['mermaid', 'dot', 'svg'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

interface Node {
  key: string;
  type: 'scanner' | 'hop' | 'service';
  title: string;
  detail: string;
  opaque: boolean;
  column: number;
}

/** The nodes and arrows of a resolved topology, each node with a layout column. */
export function topologyGraph(topology: ResolvedTopology): { nodes: Node[]; edges: [string, string][] } {
  const column = new Map<string, number>();
  for (const service of topology.services) {
    service.chain.forEach((hop, i) => column.set(`hop:${hop.id}`, i + 1));
    column.set(`service:${service.id}`, service.chain.length + 1);
  }
  const nodes: Node[] = [
    ...topology.scanners.map((s) => ({ key: `scanner:${s.id}`, type: 'scanner' as const, title: s.id, detail: 'scanner', opaque: false, column: 0 })),
    ...topology.hops.map((h) => ({
      key: `hop:${h.id}`,
      type: 'hop' as const,
      title: h.id,
      detail: h.stamp === false ? `${h.kind} · opaque` : `${h.kind} · stamps seq ${h.stampSeq ?? '?'} (${h.stamp.via})`,
      opaque: h.stamp === false,
      column: column.get(`hop:${h.id}`) ?? 1,
    })),
    // Replicas (docs/topology.md#replicas) are one service: one node that says how many run.
    ...topology.services.map((s) => ({ key: `service:${s.id}`, type: 'service' as const, title: s.id, detail: s.replicas ? `${s.kind} · ${s.replicas.length + 1} replicas` : s.kind, opaque: false, column: column.get(`service:${s.id}`) ?? 1 })),
  ];
  const edges: [string, string][] = [
    ...topology.scanners.map((s): [string, string] => [`scanner:${s.id}`, `hop:${s.edge}`]),
    ...topology.hops.map((h): [string, string] => [`hop:${h.id}`, h.nextTarget.type === 'hop' ? `hop:${h.nextTarget.hop.id}` : `service:${h.nextTarget.service.id}`]),
  ];
  return { nodes, edges };
}

const mermaidId = (key: string): string => key.replace(/[^A-Za-z0-9]/g, '_');
const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Renders the graph as Mermaid (`flowchart LR`), Graphviz DOT or a self-contained SVG. */
export function renderGraph(topology: ResolvedTopology, format: GraphFormat): string {
  const { nodes, edges } = topologyGraph(topology);
  switch (format) {
    case 'mermaid': {
      const shape = (n: Node): string => {
        const label = `"${n.title}<br/>${n.detail}"`;
        return n.type === 'scanner' ? `([${label}])` : n.type === 'service' ? `[(${label})]` : `[${label}]`;
      };
      const lines = ['flowchart LR', ...nodes.map((n) => `  ${mermaidId(n.key)}${shape(n)}`), ...edges.map(([a, b]) => `  ${mermaidId(a)} -->|mTLS| ${mermaidId(b)}`)];
      const opaque = nodes.filter((n) => n.opaque).map((n) => mermaidId(n.key));
      if (opaque.length > 0) lines.push('  classDef opaque stroke-dasharray: 5 5', `  class ${opaque.join(',')} opaque`);
      return `${lines.join('\n')}\n`;
    }
    case 'dot': {
      const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
      const shape = { scanner: 'ellipse', hop: 'box', service: 'cylinder' } as const;
      const lines = [
        `digraph ${quote(topology.name)} {`,
        '  rankdir=LR;',
        ...nodes.map((n) => `  ${quote(n.key)} [label=${quote(`${n.title}\n${n.detail}`)}, shape=${shape[n.type]}${n.opaque ? ', style=dashed' : ''}];`),
        ...edges.map(([a, b]) => `  ${quote(a)} -> ${quote(b)} [label="mTLS"];`),
        '}',
      ];
      return `${lines.join('\n')}\n`;
    }
    case 'svg':
      return svg(nodes, edges);
  }
}

const BOX_W = 200;
const BOX_H = 48;
const GAP_X = 60;
const GAP_Y = 24;
const MARGIN = 16;

function svg(nodes: Node[], edges: [string, string][]): string {
  const rowsUsed = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    const row = rowsUsed.get(n.column) ?? 0;
    rowsUsed.set(n.column, row + 1);
    at.set(n.key, { x: MARGIN + n.column * (BOX_W + GAP_X), y: MARGIN + row * (BOX_H + GAP_Y) });
  }
  const columns = Math.max(...nodes.map((n) => n.column)) + 1;
  const rows = Math.max(...rowsUsed.values());
  const width = 2 * MARGIN + columns * BOX_W + (columns - 1) * GAP_X;
  const height = 2 * MARGIN + rows * BOX_H + (rows - 1) * GAP_Y;
  const fill = { scanner: '#e8f0fe', hop: '#fff4e0', service: '#e6f4ea' } as const;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
  ];
  for (const [a, b] of edges) {
    const from = at.get(a);
    const to = at.get(b);
    if (!from || !to) continue;
    parts.push(`<line x1="${from.x + BOX_W}" y1="${from.y + BOX_H / 2}" x2="${to.x}" y2="${to.y + BOX_H / 2}" stroke="#444" marker-end="url(#arrow)"/>`);
  }
  for (const n of nodes) {
    const { x, y } = at.get(n.key)!;
    const dash = n.opaque ? ' stroke-dasharray="5 4"' : '';
    parts.push(
      `<g><title>${escapeXml(`${n.type} ${n.title}: ${n.detail}`)}</title>`,
      `<rect x="${x}" y="${y}" width="${BOX_W}" height="${BOX_H}" rx="${n.type === 'hop' ? 4 : 16}" fill="${fill[n.type]}" stroke="#444"${dash}/>`,
      `<text x="${x + BOX_W / 2}" y="${y + 19}" text-anchor="middle" font-weight="bold">${escapeXml(n.title)}</text>`,
      `<text x="${x + BOX_W / 2}" y="${y + 36}" text-anchor="middle">${escapeXml(n.detail)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
