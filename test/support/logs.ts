/** Reading the log files of running parts (gateways, services) from tests. */
import { readFile } from 'node:fs/promises';
import { waitFor, WaitTimeout } from './wait.js';

/** The lines of `file` (missing = empty) that contain `marker`. */
export async function linesWith(file: string, marker: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((line) => line.includes(marker));
}

/**
 * Waits until `file` has a line containing `marker` and returns those lines; [] when none came
 * within `timeout` ms. Gateways write their access-log line after the response left, so the
 * client can be faster than the log; an absence check ("never forwarded") waits the whole
 * `timeout` for a line that must not come — keep it short there.
 */
export async function logLinesWith(file: string, marker: string, timeout = 3_000): Promise<string[]> {
  try {
    return await waitFor(async () => {
      const lines = await linesWith(file, marker);
      return lines.length > 0 ? lines : null;
    }, { what: `a line with ${marker} in ${file}`, timeout, interval: 100 });
  } catch (error) {
    if (error instanceof WaitTimeout) return [];
    throw error;
  }
}
