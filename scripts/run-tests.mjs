#!/usr/bin/env node
// Runs the test files under test/ with Node's test runner (one summary line for CI to read).
//   node scripts/run-tests.mjs                 every *.test.ts, the E2E and fault suites included (CI)
//   node scripts/run-tests.mjs --only unit     everything but test/e2e and test/faults
//   node scripts/run-tests.mjs --only e2e      test/e2e only (likewise faults)
//   node scripts/run-tests.mjs test/dsse       the files below the given folders or files
// Node 20 cannot take a folder or a glob after --test, hence this script.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';

const args = process.argv.slice(2);
let only = null;
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = args[++i];
  else roots.push(args[i]);
}

const SLOW = ['test/e2e', 'test/faults'];
const files = (roots.length ? roots : ['test']).flatMap(collect).filter((f) => {
  if (only === 'unit') return !SLOW.some((dir) => f.startsWith(`${dir}/`));
  if (only) return f.startsWith(`test/${only}/`);
  return true;
});
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

const concurrency = Math.max(1, Math.min(2, availableParallelism()));
// A file that hangs (a server left open after a failure) must fail rather than use up CI's time:
// no file of the suite comes near this on the 2-core machine (the longest take 2-4 minutes).
const FILE_TIMEOUT_MS = 15 * 60 * 1000;
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${FILE_TIMEOUT_MS}`, ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

function collect(path) {
  const st = statSync(path);
  if (st.isFile()) return [relative('.', path)];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = join(path, e.name);
      if (e.isDirectory()) return e.name === 'support' || e.name === 'fixtures' ? [] : collect(p);
      return e.name.endsWith('.test.ts') ? [relative('.', p)] : [];
    });
}
