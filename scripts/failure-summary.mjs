// A test reporter for scripts/run-tests.mjs: collects every test, suite or hook that failed, timed
// out or was cancelled, with its file, its path of suite names and the cause, and writes them as
// one list. The runner prints that list after Node's own summary, so the end of a CI log (often
// all that is kept) says which tests did not pass and why: Node counts a timed-out test, a test
// whose `before` hook failed and a test still pending when its file's event loop emptied as
// "cancelled", not as "fail", and names them only far up in its output.
const MAX_LINES_PER_ENTRY = 40;

export default async function* failureSummary(source) {
  // Suite names per file: two files run at once and their events interleave.
  const paths = new Map();
  const entries = [];
  for await (const event of source) {
    const path = paths.get(event.data?.file) ?? [];
    paths.set(event.data?.file, path);
    if (event.type === 'test:start') path[event.data.nesting] = event.data.name;
    if (event.type !== 'test:fail') continue;
    const { data } = event;
    const error = data.details?.error;
    const cause = error?.cause ?? error;
    const kind = error?.failureType ?? 'failure';
    // A suite whose subtests failed adds nothing: its failing subtests are listed themselves.
    if (kind === 'subtestsFailed') continue;
    const names = [...path.slice(0, data.nesting), data.name].filter(Boolean).join(' › ');
    // Node's own frames (node:internal/test_runner, node:async_hooks) say nothing about the test.
    const text = String(cause?.stack ?? cause?.message ?? cause ?? '').split('\n').filter((line) => !/^\s+at .*\(?node:/.test(line));
    const shown = text.length > MAX_LINES_PER_ENTRY ? [...text.slice(0, MAX_LINES_PER_ENTRY), `… ${text.length - MAX_LINES_PER_ENTRY} more lines`] : text;
    entries.push(`- ${data.file ?? '?'} › ${names} [${kind}]\n${shown.map((l) => `    ${l}`).join('\n')}`);
  }
  if (entries.length > 0) yield `Tests that failed, timed out or were cancelled (${entries.length}):\n${entries.join('\n')}\n`;
}
