/**
 * Text → typed {@link Topology} (docs/topology.md). Pure: no file access. Syntax errors, shape errors and
 * cross-field rule violations all come back together as one {@link TopologyError}.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { TopologyError, type TopologyProblem } from './errors.js';
import { DEFAULT_MAX_HOPS, HOP_KINDS, SERVICE_KINDS, topologySchema, type Topology } from './schema.js';
import { closestName, knownFieldsAt } from './suggest.js';
import { crossFieldProblems, validateTopology, type ValidateOptions } from './validate.js';

const draftKeys = z.array(z.looseObject({ kid: z.string() }));
/**
 * Only the fields the cross-field rules read, with the same defaults and no patterns: what lets
 * those rules run on a document whose shape is wrong elsewhere.
 */
const draftSchema = z.looseObject({
  trustDomain: z.string().optional(),
  hops: z.array(
    z.looseObject({
      id: z.string(),
      kind: z.enum(HOP_KINDS),
      listen: z.string(),
      stamp: z.union([
        z.literal(false),
        z.looseObject({ via: z.enum(['native', 'forward-auth']), keys: draftKeys, stamper: z.looseObject({ listen: z.string().optional(), socket: z.string().optional() }).optional() }),
      ]),
      waf: z.unknown().optional(),
      next: z.string(),
    }),
  ),
  services: z.array(
    z.looseObject({
      id: z.string(),
      kind: z.enum(SERVICE_KINDS),
      listen: z.string(),
      receiptKey: z.string().optional(),
      registry: z.looseObject({ listen: z.string() }).optional(),
      storage: z.discriminatedUnion('kind', [z.looseObject({ kind: z.literal('sqlite') }), z.looseObject({ kind: z.literal('postgres'), url: z.string() })]).optional(),
      envelopeThreshold: z.number().default(1),
      access: z.looseObject({ readers: z.array(z.string()).optional(), ops: z.array(z.string()).optional() }).optional(),
    }),
  ),
  scanners: z.array(z.looseObject({ id: z.string(), edge: z.string().optional(), signing: z.looseObject({ keys: draftKeys }) })),
  provenance: z.looseObject({ maxHops: z.number().default(DEFAULT_MAX_HOPS) }).default({ maxHops: DEFAULT_MAX_HOPS }),
  headers: z.looseObject({ strip: z.array(z.string()).default([]) }).default({ strip: [] }),
});

/** Input formats of a topology document. JSON is also valid YAML; `json` only makes errors stricter. */
export type TopologyFormat = 'yaml' | 'json';

/** `['hops', 1, 'next']` → `hops[1].next`, the path notation of every problem (docs/topology.md). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Parses YAML or JSON text into an untyped value, or returns the syntax problems. */
export function parseText(text: string, format: TopologyFormat = 'yaml'): { value: unknown; problems: TopologyProblem[] } {
  if (format === 'json') {
    try {
      return { value: JSON.parse(text) as unknown, problems: [] };
    } catch (error) {
      return { value: undefined, problems: [{ path: '', message: `not valid JSON: ${(error as Error).message}` }] };
    }
  }
  // Duplicate keys are errors (yaml's default); aliases are capped against expansion bombs.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const at = pos ? `line ${pos.line}, column ${pos.col}: ` : '';
        return { path: '', message: `not valid YAML: ${at}${(e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '')}` };
      }),
    };
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) as unknown, problems: [] };
  } catch (error) {
    return { value: undefined, problems: [{ path: '', message: `not valid YAML: ${(error as Error).message}` }] };
  }
}

/** Zod issues → problems with readable messages (`unknown field`, `required`…). */
export function shapeProblems(issues: readonly z.core.$ZodIssue[]): TopologyProblem[] {
  const out: TopologyProblem[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownFieldsAt(topologySchema, issue.path).filter((name) => !issue.keys.includes(name));
        for (const key of issue.keys) {
          const guess = closestName(key, known);
          out.push({ path: formatPath([...issue.path, key]), message: guess ? `unknown field; did you mean "${guess}"?` : 'unknown field' });
        }
        break;
      }
      case 'invalid_type':
        out.push({
          path,
          message: issue.message.endsWith('received undefined') ? 'required' : `must be ${issue.expected}`,
        });
        break;
      case 'invalid_union': {
        // A union such as `stamp: false | {…}`: report the branch the input was evidently aiming
        // at — the one whose problems are all below the union's own level.
        const deeper = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
        if (deeper) out.push(...shapeProblems(deeper.map((i) => ({ ...i, path: [...issue.path, ...i.path] }))));
        else out.push({ path, message: issue.message === 'Invalid input' ? 'does not match any allowed form' : issue.message });
        break;
      }
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}

/**
 * Checks an untrusted value against the topology schema and the cross-field rules (without files).
 * Returns the typed topology, or every problem.
 */
export function checkTopology(
  value: unknown,
  options: ValidateOptions = {},
): { ok: true; topology: Topology } | { ok: false; problems: TopologyProblem[] } {
  const shaped = topologySchema.safeParse(value);
  if (!shaped.success) {
    // Report the cross-field problems too when the fields those rules read are usable (docs/topology.md:
    // every problem at once), so a typo in a port does not hide a dangling `next`.
    const problems = shapeProblems(shaped.error.issues);
    const draft = draftSchema.safeParse(value);
    if (draft.success) {
      const seen = new Set(problems.map((p) => `${p.path}\0${p.message}`));
      problems.push(...crossFieldProblems(draft.data).filter((p) => !seen.has(`${p.path}\0${p.message}`)));
    }
    return { ok: false, problems };
  }
  const problems = validateTopology(shaped.data, options);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, topology: shaped.data };
}

/**
 * Parses and validates a topology document (shape and cross-field rules; files are not looked at).
 *
 * @throws {TopologyError} `TOPOLOGY_INVALID` with every problem found.
 * @example
 * const topology = parseTopology(readFileSync('topology.yaml', 'utf8'));
 */
export function parseTopology(text: string, format: TopologyFormat = 'yaml'): Topology {
  const parsed = parseText(text, format);
  if (parsed.problems.length > 0) throw new TopologyError('TOPOLOGY_INVALID', parsed.problems);
  const checked = checkTopology(parsed.value);
  if (!checked.ok) throw new TopologyError('TOPOLOGY_INVALID', checked.problems);
  return checked.topology;
}
