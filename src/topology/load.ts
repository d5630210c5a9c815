/**
 * Reads a topology file (docs/topology.md): parse, validate (optionally with its files), resolve. The only
 * topology module that touches the disk; everything it calls is pure.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve as resolvePath } from 'node:path';
import { TopologyError } from './errors.js';
import { MAX_KEY_FILE_BYTES } from '../conventions/index.js';
import type { FileProbe } from './files-check.js';
import { checkTopology, parseText, type TopologyFormat } from './parse.js';
import { resolveTopology, type ResolvedTopology } from './resolve.js';
import { keysNotHeld, useCredentialsDirectory } from './credentials.js';

export { parseTopology, type TopologyFormat } from './parse.js';

/** Options of {@link loadTopology}. */
export interface LoadTopologyOptions {
  /**
   * Also check that key and certificate files exist and hold usable keys (default false: renderers
   * and `topology graph` work before the PKI and keys exist; the CLI's `topology validate` checks).
   */
  readonly checkFiles?: boolean;
  /**
   * Read each key whose credential is in this folder from there (docs/operations/running.md#keys-as-credentials);
   * default `$CREDENTIALS_DIRECTORY`, which systemd sets for a unit with `LoadCredential=`.
   */
  readonly credentialsDirectory?: string | undefined;
}

/** A {@link FileProbe} over the real file system; reads at most {@link MAX_KEY_FILE_BYTES}. */
export const nodeFileProbe: FileProbe = {
  read(path) {
    try {
      const stat = statSync(path);
      if (!stat.isFile()) return undefined;
      const size = stat.size;
      const fd = openSync(path, 'r');
      try {
        const buffer = Buffer.alloc(Math.min(size, MAX_KEY_FILE_BYTES));
        const n = readSync(fd, buffer, 0, buffer.length, 0);
        return { size, text: buffer.subarray(0, n).toString('utf8'), mode: stat.mode & 0o777 };
      } finally {
        closeSync(fd);
      }
    } catch {
      return undefined;
    }
  },
};

/** The format of a topology file by its extension: `.json` is JSON, anything else YAML. */
export function formatOf(file: string): TopologyFormat {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/**
 * Loads, validates and resolves a topology file; relative paths inside it are resolved against
 * the file's folder.
 *
 * @throws {TopologyError} `TOPOLOGY_UNREADABLE` when the file cannot be read, `TOPOLOGY_INVALID`
 * with every problem (syntax, shape, cross-field rules, files) otherwise.
 * @example
 * const topology = await loadTopology('examples/topology.yaml');
 * topology.services[0]?.chain.map((h) => h.id); // ['gw-edge', 'waf', 'gw-internal']
 */
export async function loadTopology(file: string, options: LoadTopologyOptions = {}): Promise<ResolvedTopology> {
  const path = resolvePath(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TopologyError('TOPOLOGY_UNREADABLE', [{ path: '', message: `cannot read ${path}: ${(error as Error).message}` }], { file, cause: error });
  }
  const baseDir = dirname(path);
  const parsed = parseText(text, formatOf(path));
  if (parsed.problems.length > 0) throw new TopologyError('TOPOLOGY_INVALID', parsed.problems, { file });
  const credentials = 'credentialsDirectory' in options ? options.credentialsDirectory : process.env.CREDENTIALS_DIRECTORY;
  if (!credentials) {
    const checked = checkTopology(parsed.value, options.checkFiles ? { files: nodeFileProbe, baseDir } : {});
    if (!checked.ok) throw new TopologyError('TOPOLOGY_INVALID', checked.problems, { file });
    return resolveTopology(checked.topology, baseDir);
  }
  // Under systemd: the shape first, then the files, each key read where the part will read it.
  const shaped = checkTopology(parsed.value, {});
  if (!shaped.ok) throw new TopologyError('TOPOLOGY_INVALID', shaped.problems, { file });
  const resolved = resolveTopology(shaped.topology, baseDir);
  const moved = useCredentialsDirectory(resolved, resolvePath(credentials), existsSync);
  if (options.checkFiles) {
    const probe: FileProbe = { read: (p) => nodeFileProbe.read(moved.get(resolvePath(baseDir, p)) ?? p) };
    const checked = checkTopology(parsed.value, { files: probe, baseDir });
    // Another part's key is not this part's to read: only the keys it holds are checked.
    const others = keysNotHeld(resolved, moved);
    const problems = checked.ok ? [] : checked.problems.filter((p) => !others.some((o) => p.path === o || p.path.startsWith(`${o}.`)));
    if (problems.length > 0) throw new TopologyError('TOPOLOGY_INVALID', problems, { file });
  }
  return resolved;
}
