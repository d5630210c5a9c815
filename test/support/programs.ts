/**
 * Real programs the tests start. A missing program is an error that names the install command —
 * never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePorts } from '../../src/deploy/prepare.js';

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

/** A free TCP port on 127.0.0.1 (the product's own helper); several at once: {@link portsFor}. */
export { freePort } from '../../src/deploy/prepare.js';

/**
 * Distinct free ports under the given names, all bound at once so that none is handed out twice.
 * @example const { edge, service } = await portsFor('edge', 'service');
 */
export async function portsFor<K extends string>(...names: K[]): Promise<Record<K, number>> {
  const ports = await freePorts(names.length);
  return Object.fromEntries(names.map((name, i) => [name, ports[i]!])) as Record<K, number>;
}
