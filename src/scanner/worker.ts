/**
 * The delivery loop over the outbox (docs/scanner.md): take due items, attempt each, and record the
 * outcome — delivered (receipt stored), rejected (4xx, final) or retry later (backoff with full
 * jitter, Retry-After honoured). Used by `scanner submit` (bounded) and `scanner run` (until
 * stopped).
 */
import { DEFAULT_BACKOFF, retryDelayMs } from './backoff.js';
import type { BackoffPolicy } from './backoff.js';
import { attemptDelivery } from './deliver.js';
import type { Delivered, DeliveryOptions } from './deliver.js';
import type { ScannerError } from './errors.js';
import { classifyFailure } from './http.js';
import type { Outbox, OutboxItem } from './outbox.js';

/** What happened to an item in one attempt. */
export type DeliveryEvent =
  | { type: 'delivered'; item: OutboxItem; delivered: Delivered }
  | { type: 'rejected'; item: OutboxItem; error: ScannerError }
  | { type: 'retry'; item: OutboxItem; error: ScannerError; nextAttemptMs: number };

/** Options of the delivery loop, on top of what one delivery needs. */
export interface WorkerOptions extends DeliveryOptions {
  backoff?: BackoffPolicy | undefined;
  /** Uniform in [0, 1); the jitter source. */
  random?: (() => number) | undefined;
  /** Called after every attempt (progress lines, logs, tests). */
  onEvent?: ((event: DeliveryEvent) => void) | undefined;
}

/**
 * One attempt for one item, with its outcome committed to the outbox before this returns.
 * Never throws for delivery failures: they become `rejected` or `retry` events.
 */
export async function processItem(outbox: Outbox, item: OutboxItem, options: WorkerOptions): Promise<DeliveryEvent> {
  const now = options.now ?? Date.now;
  outbox.beginAttempt(item.id);
  const attempt = item.attempts + 1;
  let event: DeliveryEvent;
  try {
    const delivered = await attemptDelivery(outbox, { ...item, attempts: attempt }, options);
    // Delivered only once the receipt is on disk (docs/scanner.md "verifies and keeps the receipt").
    outbox.markDelivered(item.id, delivered.receipt, delivered.status);
    event = { type: 'delivered', item: outbox.get(item.id) ?? item, delivered };
  } catch (thrown) {
    const error = classifyFailure(thrown);
    const record = { code: error.outcomeCode, message: error.message, status: error.status };
    if (error.retryable) {
      const random = (options.random ?? Math.random)();
      const nextAttemptMs = now() + retryDelayMs(attempt, random, error.retryAfterMs, options.backoff ?? DEFAULT_BACKOFF);
      outbox.scheduleRetry(item.id, record, nextAttemptMs);
      event = { type: 'retry', item: outbox.get(item.id) ?? item, error, nextAttemptMs };
    } else {
      outbox.markRejected(item.id, record);
      event = { type: 'rejected', item: outbox.get(item.id) ?? item, error };
    }
  }
  options.onEvent?.(event);
  return event;
}

/** Default longest idle wait of the daemon loop between looks at the outbox. */
export const DEFAULT_IDLE_POLL_MS = 1_000;

/**
 * The background delivery loop of `scanner run`: delivers due items one after another, sleeps
 * until the next is due (or {@link wake} is called after an enqueue), and stops gracefully — the
 * attempt in flight finishes and is recorded before {@link stop} resolves.
 */
export class DeliveryWorker {
  private stopped = false;
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: WorkerOptions & { idlePollMs?: number | undefined; onLoopError?: ((error: unknown) => void) | undefined },
  ) {}

  /** Starts the loop; returns at once. */
  start(): void {
    if (this.running) return;
    this.running = this.loop();
  }

  /** Re-examines the outbox now (called after an enqueue). */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops after the attempt in flight; resolves once it is recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
  }

  private async loop(): Promise<void> {
    const now = this.options.now ?? Date.now;
    const idle = this.options.idlePollMs ?? DEFAULT_IDLE_POLL_MS;
    while (!this.stopped) {
      let waitMs = idle;
      try {
        const due = this.outbox.due(16, now());
        for (const item of due) {
          if (this.stopped) break;
          await processItem(this.outbox, item, this.options);
        }
        if (this.stopped) break;
        if (due.length > 0) continue;
        const next = this.outbox.nextDueMs();
        waitMs = next === null ? idle : Math.max(0, Math.min(idle, next - now()));
      } catch (error) {
        // E.g. SQLITE_BUSY or a full disk: the daemon keeps running and tries again after a pause;
        // the item stays pending (its state change was not committed).
        this.options.onLoopError?.(error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }
}
