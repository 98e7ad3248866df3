// SafeString: NUL and unpaired surrogates refused, astral characters and a field's own pattern kept,
// checked with TypeBox's validator (no regex `u` flag); platform's tests check it through ajv.
import { Value } from '@sinclair/typebox/value';
import t from 'tap';
import { SafeString, isSafeText } from '../src/index.js';

const good = ['', 'Ada', 'Zoë', '😀 emoji', '👩‍👩‍👧‍👦', 'a\u0301', '\ufeff', 'line\nbreak'];
const bad = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\ud800',
  '\udfff',
  '\udfff\ud800',
  'a\ud83d',
  '\ude00b',
];

void t.test('isSafeText', async (t) => {
  for (const s of good) t.ok(isSafeText(s), `accepts ${JSON.stringify(s)}`);
  for (const s of bad) t.notOk(isSafeText(s), `refuses ${JSON.stringify(s)}`);
});

void t.test('SafeString without a pattern of its own', async (t) => {
  const schema = SafeString({ maxLength: 50 });
  for (const s of good) t.ok(Value.Check(schema, s), `accepts ${JSON.stringify(s)}`);
  for (const s of bad) t.notOk(Value.Check(schema, s), `refuses ${JSON.stringify(s)}`);
  t.notOk(Value.Check(schema, 'x'.repeat(51)), 'other options still apply');
});

void t.test('SafeString keeps a pattern given to it, anchored or not', async (t) => {
  const nonBlank = SafeString({ pattern: '\\S' });
  t.ok(Value.Check(nonBlank, '  x  '), 'unanchored pattern found anywhere');
  t.notOk(Value.Check(nonBlank, '   '), 'unanchored pattern missing');
  t.notOk(Value.Check(nonBlank, 'x\u0000'), 'NUL refused even when the pattern matches');
  const https = SafeString({ pattern: '^https://[^\\s]+$' });
  t.ok(Value.Check(https, 'https://img.example/a.png'));
  t.notOk(Value.Check(https, 'see https://img.example/a.png'), 'anchors keep their meaning');
  t.notOk(Value.Check(https, 'https://img.example/\ud800'));
});
