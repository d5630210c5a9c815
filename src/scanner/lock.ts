/**
 * The one-writer lock of an outbox (docs/scanner.md "Outbox"): `<file>.lock` holds the pid of
 * the process that writes the outbox. Two writers could each sign the same item with a different
 * certificate and have the locker store it twice; the lock makes the second one fail instead.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Takes `<file>.lock` for this process and returns its release function. A lock whose pid is no
 * longer alive (kill -9) is taken over; a live holder (this process included) makes it throw.
 */
export function takeWriterLock(file: string): () => void {
  const lock = `${file}.lock`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
      throw new Error(`in use by process ${holder} (${lock}); one worker per outbox`);
    }
    // Left behind by a dead process (or unreadable): take it over.
    rmSync(lock, { force: true });
  }
  throw new Error(`cannot take ${lock}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
