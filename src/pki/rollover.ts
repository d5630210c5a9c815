/**
 * CA rollover without dropped requests (docs/operations/certificates.md "add new, re-issue, drop old"), as three steps
 * with a pause between them for every party to pick up the change:
 *
 * 1. `add`      — create a new root + intermediate; publish a bundle and CRL holding old AND new.
 *                 Wait until every party reloaded trust (providers' trust reload, gateways' reload).
 * 2. `activate` — the new intermediate issues from now on; re-issue every leaf (providers
 *                 `rotate()`, `pki issue` for gateway files). Old leaves still verify.
 * 3. `retire`   — drop the old generation from the bundle and CRL. Parties reload trust again.
 *
 * The operator procedure is in docs/operations/certificates.md.
 */
import { PkiError } from './errors.js';
import { createGeneration, publishTrust } from './ca.js';
import { readState, withDirLock, writeState } from './store.js';

/** The steps, in order. */
export const CA_ROLLOVER_STEPS = ['add', 'activate', 'retire'] as const;
/** One rollover step. */
export type CaRolloverStep = (typeof CA_ROLLOVER_STEPS)[number];

/** What a step reports. */
export interface CaRolloverResult {
  step: CaRolloverStep;
  activeGeneration: number;
  trustedGenerations: number[];
}

/**
 * Runs one rollover step. `add` refuses while a rollover is already open; `activate` needs a
 * newer trusted generation; `retire` needs an older one still trusted.
 *
 * @example
 * await caRolloverStep({ dir, step: 'add' });      // then reload trust everywhere
 * await caRolloverStep({ dir, step: 'activate' }); // then re-issue every leaf
 * await caRolloverStep({ dir, step: 'retire' });   // then reload trust everywhere
 */
export async function caRolloverStep(options: { dir: string; step: CaRolloverStep; clock?: () => Date }): Promise<CaRolloverResult> {
  const clock = options.clock ?? (() => new Date());
  return withDirLock(options.dir, async () => {
    const state = await readState(options.dir);
    const trusted = state.generations.filter((g) => g.trusted).map((g) => g.id);
    const newest = Math.max(...state.generations.map((g) => g.id));
    switch (options.step) {
      case 'add':
        if (trusted.length > 1) throw new PkiError('PKI_ALREADY_INITIALIZED', `a rollover is open (trusted generations ${trusted.join(', ')}); activate and retire it first`);
        await createGeneration(options.dir, state, newest + 1, clock());
        break;
      case 'activate':
        if (newest === state.activeGeneration) throw new PkiError('PKI_NOT_INITIALIZED', 'no new CA generation to activate; run the add step first');
        state.activeGeneration = newest;
        break;
      case 'retire':
        if (trusted.length < 2 || !trusted.includes(state.activeGeneration)) throw new PkiError('PKI_NOT_INITIALIZED', 'no old CA generation to retire');
        for (const g of state.generations) if (g.id !== state.activeGeneration) g.trusted = false;
        break;
      default: {
        const never: never = options.step;
        throw new TypeError(`unknown rollover step ${String(never)}`);
      }
    }
    await publishTrust(options.dir, state, clock());
    await writeState(options.dir, state);
    return { step: options.step, activeGeneration: state.activeGeneration, trustedGenerations: state.generations.filter((g) => g.trusted).map((g) => g.id) };
  });
}
