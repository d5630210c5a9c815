/**
 * Real programs the tests start. A missing program is an error that names the install command —
 * never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const INSTALL = 'bash scripts/install-system-deps.sh';

/** The absolute path of a program, or an error telling how to install it. */
export function requireProgram(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  try {
    return execFileSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not installed; install the gateway packages with: ${INSTALL}`);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the product's own helper). */
export { freePort } from '../../src/deploy/prepare.js';
