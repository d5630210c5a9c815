/**
 * Runs benchmarks: `npm run bench [-- name…]` runs the bench/*.bench.ts modules named (by their
 * `name` or file stem), or all. Each result goes to bench/results/<name>.json; bench/RESULTS.md is
 * then regenerated from every JSON result there, so benches run at different times keep their
 * figures.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchModule, BenchResult } from './support.js';
import { renderResults } from './report.js';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');

async function main(argv: string[]): Promise<number> {
  const files = (await readdir(BENCH_DIR)).filter((f) => f.endsWith('.bench.ts')).sort();
  const wanted = new Set(argv);
  const known = new Set<string>();
  await mkdir(RESULTS_DIR, { recursive: true });
  for (const file of files) {
    const stem = file.slice(0, -'.bench.ts'.length);
    const mod = (await import(pathToFileURL(join(BENCH_DIR, file)).href)) as Partial<BenchModule>;
    if (typeof mod.name !== 'string' || typeof mod.run !== 'function') {
      process.stderr.write(`bench: ${file} does not export name and run()\n`);
      return 2;
    }
    known.add(stem).add(mod.name);
    if (wanted.size > 0 && !wanted.has(stem) && !wanted.has(mod.name)) continue;
    process.stderr.write(`bench: running ${mod.name}\n`);
    const result = await mod.run();
    await writeFile(join(RESULTS_DIR, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    for (const row of result.rows) {
      process.stderr.write(`  ${row.case.padEnd(36)} ${row.opsPerSecond.toFixed(1).padStart(12)} ops/s  ratio ${row.ratio.toFixed(3)}\n`);
    }
  }
  const unknown = [...wanted].filter((w) => !known.has(w));
  if (unknown.length > 0) {
    process.stderr.write(`bench: no bench named ${unknown.join(', ')}\n`);
    return 2;
  }
  const results: BenchResult[] = [];
  for (const file of (await readdir(RESULTS_DIR)).filter((f) => f.endsWith('.json')).sort()) {
    results.push(JSON.parse(await readFile(join(RESULTS_DIR, file), 'utf8')) as BenchResult);
  }
  await writeFile(join(BENCH_DIR, 'RESULTS.md'), renderResults(results));
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
