/**
 * "Did you mean" for an unknown field of a topology (docs/topology.md#the-rules): the known field
 * names at the problem's path come from the schema itself, so no second list of names exists.
 */
import type { z } from 'zod';

/** How the schema nodes this module walks look (Zod 4 `def`); anything else has no fields. */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly in?: z.ZodType;
}

const defOf = (schema: z.ZodType): SchemaDef => (schema as unknown as { def: SchemaDef }).def;

/** The field names an object at `path` may have (several object branches of a union: all of theirs). */
export function knownFieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return def.innerType ? knownFieldsAt(def.innerType, path) : [];
    case 'pipe':
      return def.in ? knownFieldsAt(def.in, path) : [];
    case 'union':
      return [...new Set((def.options ?? []).flatMap((option) => knownFieldsAt(option, path)))];
    case 'array':
      return def.element && typeof path[0] === 'number' ? knownFieldsAt(def.element, path.slice(1)) : [];
    case 'object': {
      const shape = def.shape ?? {};
      if (path.length === 0) return Object.keys(shape);
      const next = shape[String(path[0])];
      return next ? knownFieldsAt(next, path.slice(1)) : [];
    }
    default:
      return [];
  }
}

/** The known name closest to `name`, when it is close enough to be a slip of the keyboard. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  // Two edits, or a third of the word for long names: "servername", "recieptKey", "upstreamTLS".
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}
