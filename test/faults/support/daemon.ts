/**
 * The `scanner run` daemon of the fault tests: the chain's first scanner delivering what lands in
 * a spool folder of the chain's work dir, through the real chain, with its outbox beside it.
 */
import { join } from 'node:path';
import { deliveryOptionsFor, type ScannerSetup, type ScannerSetupOptions } from '../../../src/scanner/config.js';
import { Outbox } from '../../../src/scanner/outbox.js';
import { runScanner, type RunOptions } from '../../../src/scanner/run.js';
import type { DeliveryEvent } from '../../../src/scanner/worker.js';
import type { Chain } from '../../support/chain.js';

/** A running daemon. */
export interface ScannerDaemon {
  readonly setup: ScannerSetup;
  readonly outbox: Outbox;
  /** Where artifacts are dropped, one folder per scan. */
  readonly spool: string;
  /** Every delivery event so far. */
  readonly events: DeliveryEvent[];
  /** Stops the daemon and waits for it; its own failure is thrown. The outbox stays open to read. */
  stop(): Promise<void>;
  /** Stops it (ignoring its failure, for `after`) and closes the outbox and the setup. */
  close(): Promise<void>;
}

/** Starts the daemon; `setupOptions` go to `deliveryOptionsFor`, `runOptions` to `runScanner`. */
export async function startScannerDaemon(
  chain: Chain,
  setupOptions: ScannerSetupOptions,
  runOptions: Partial<Omit<RunOptions, 'outbox' | 'spoolDir' | 'signal' | 'onEvent'>>,
): Promise<ScannerDaemon> {
  const setup = await deliveryOptionsFor(chain.topology, chain.scanner().id, setupOptions);
  const outbox = Outbox.open(join(chain.workDir, 'outbox.db'));
  const spool = join(chain.workDir, 'spool');
  const events: DeliveryEvent[] = [];
  const abort = new AbortController();
  const running = runScanner({ ...setup, ...runOptions, outbox, spoolDir: spool, signal: abort.signal, onEvent: (event) => events.push(event) });
  const stop = async (): Promise<void> => {
    abort.abort();
    await running;
  };
  return {
    setup,
    outbox,
    spool,
    events,
    stop,
    async close() {
      await stop().catch(() => undefined);
      outbox.close();
      await setup.close();
    },
  };
}
