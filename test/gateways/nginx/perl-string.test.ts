/**
 * The Perl module embeds the key file *path* from the topology: `perlString` must quote any path
 * so Perl reads back exactly the same bytes (no code injection through a file name).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { perlString } from '../../../src/gateways/nginx/perl.js';
import { requireProgram } from '../../support/programs.js';

describe('perlString', () => {
  it('is read back by Perl as exactly the string it quotes', () => {
    // Any valid Unicode but NUL, which cannot appear in a path or a command-line argument.
    const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
    const samples = fc.sample(text, { numRuns: 300, seed: 20261128 });
    samples.push("\\'", '\\\\', `'; system("id"); '`, 'a\\', "/keys/it's.key");
    // One Perl run prints every literal, NUL-separated, as UTF-8.
    const program = `binmode(STDOUT, ':utf8'); use utf8;\n${samples.map((s) => `print ${perlString(s)}, "\\0";`).join('\n')}\n`;
    const output = execFileSync(requireProgram('perl'), ['-e', program], { encoding: 'utf8' });
    assert.deepEqual(output.split('\0').slice(0, -1), samples);
  });
});
