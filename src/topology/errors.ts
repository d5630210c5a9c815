/**
 * Errors of the topology area (docs/topology.md). Validation never stops at the first problem: a
 * {@link TopologyError} carries every problem found, each with the path of the field it is about.
 */
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/** One thing wrong with a topology, e.g. `{ path: 'hops[1].next', message: 'no hop or service "gw-intrnal"' }`. */
export interface TopologyProblem {
  /** Where in the document: `hops[1].stamp.keys[0].file`; empty for the document as a whole. */
  readonly path: string;
  readonly message: string;
}

/** The stable codes of {@link TopologyError}: a topology is configuration, so both are usage errors. */
export const TOPOLOGY_ERRORS = defineErrors('topology', {
  TOPOLOGY_INVALID: { title: 'the document does not parse, has the wrong shape or breaks a cross-field rule', exit: 'usage', retryable: false },
  TOPOLOGY_UNREADABLE: { title: 'the topology file itself could not be read', exit: 'usage', retryable: false },
});

/** code → entry of {@link TOPOLOGY_ERRORS}. */
export const TOPOLOGY_ERROR_CODES = TOPOLOGY_ERRORS.codes;
/** A stable topology code. */
export type TopologyErrorCode = CodeOf<typeof TOPOLOGY_ERRORS>;

/** Formats problems one per line, `path: message`, as the CLI prints them. */
export function formatProblems(problems: readonly TopologyProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('\n');
}

/**
 * A topology that cannot be used. `problems` lists every problem found (docs/topology.md), never just the
 * first; the message repeats them so a log line is self-contained.
 */
export class TopologyError extends StellaError {
  readonly code: TopologyErrorCode;
  readonly problems: readonly TopologyProblem[];
  /** The file the topology came from, when it came from a file. */
  readonly file: string | undefined;

  constructor(
    code: TopologyErrorCode,
    problems: readonly TopologyProblem[],
    options?: { file?: string; cause?: unknown },
  ) {
    const where = options?.file ? ` in ${options.file}` : '';
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`topology${where}: ${count}\n${formatProblems(problems)}`, { cause: options?.cause });
    this.code = code;
    this.problems = problems;
    this.file = options?.file;
  }

  /** {@link TOPOLOGY_ERRORS}. */
  get registry(): typeof TOPOLOGY_ERRORS {
    return TOPOLOGY_ERRORS;
  }
}
