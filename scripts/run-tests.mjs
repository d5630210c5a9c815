#!/usr/bin/env node
// Runs the test files under test/ with Node's test runner (one summary line for CI to read).
//   node scripts/run-tests.mjs                 every *.test.ts, the E2E and fault suites included (CI)
//   node scripts/run-tests.mjs --only unit     everything but test/e2e and test/faults
//   node scripts/run-tests.mjs --only e2e      test/e2e only (likewise faults)
//   node scripts/run-tests.mjs test/dsse       the files below the given folders or files
// Node 20 cannot take a folder or a glob after --test, hence this script.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

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
// Node's usual reporter (spec on a terminal, TAP otherwise), and the list of what did not pass,
// printed once more after the summary (scripts/failure-summary.mjs).
const summaryDir = mkdtempSync(join(tmpdir(), 'stella-test-summary-'));
const summaryFile = join(summaryDir, 'failures.txt');
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${pathToFileURL(resolve('scripts/failure-summary.mjs')).href}`,
  `--test-reporter-destination=${summaryFile}`,
];
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${FILE_TIMEOUT_MS}`, ...reporters, ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => {
  const failures = existsSync(summaryFile) ? readFileSync(summaryFile, 'utf8') : '';
  rmSync(summaryDir, { recursive: true, force: true });
  if (failures) process.stdout.write(`\n${failures}`);
  process.exit(code ?? (signal ? 1 : 0));
});

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
