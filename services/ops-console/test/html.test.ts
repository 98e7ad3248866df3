// The html tag escapes every value by default: hostile strings (markup, attribute breakouts,
// entities, template syntax) come out as text in text nodes and in quoted attributes, nested
// html results and arrays compose, and only a SafeHtml is ever inserted as markup.
import t from 'tap';
import { SafeHtml, escapeHtml, href, html } from '../src/lib/html.js';

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' onmouseover='alert(1)",
  '</textarea></pre></title><svg onload=alert(1)>',
  '&lt;already escaped&gt; &amp; &#x3c;',
  '`${alert(1)}`',
  'a=b "c" \'d\' <e> &f',
  'javascript:alert(1)',
  '\u0000\u2028\u2029 𝒳 é',
];

void t.test('text and attribute values are escaped', async (t) => {
  for (const [i, s] of HOSTILE.entries()) {
    const out = html`<p title="${s}">${s}</p>`.toString();
    t.notMatch(out, /<(script|img|svg)/i, `hostile string ${i}: no element injected`);
    t.equal(out.match(/"/g)?.length, 2, 'the attribute stays one attribute');
    t.notMatch(out.slice(3, out.indexOf('>')), /'/, 'no quote breaks out of the attribute');
    const text = out.slice(out.indexOf('>') + 1, out.lastIndexOf('</p>'));
    t.notMatch(text, /[<>"'`]/, 'the text node holds no markup characters');
    t.equal(decode(text), s, 'and reads back as the original string');
  }
});

void t.test('what is escaped and how', async (t) => {
  t.equal(escapeHtml(`&<>"'\`=`), '&amp;&lt;&gt;&quot;&#39;&#96;&#61;');
  t.equal(html`${'&amp;'}`.toString(), '&amp;amp;', 'entities are not trusted either');
});

void t.test('values of other types', async (t) => {
  t.equal(html`${null}${undefined}${false}`.toString(), '', 'null, undefined, false: nothing');
  t.equal(html`${0}|${12.5}|${10n}|${true}`.toString(), '0|12.5|10|true');
  t.equal(html`${new Date('2025-12-02T10:15:00Z')}`.toString(), '2025-12-02T10:15:00.000Z');
  t.equal(html`${{ a: '<b>' }}`.toString(), '{&quot;a&quot;:&quot;&lt;b&gt;&quot;}');
  t.equal(
    html`${['<a>', html`<b>x</b>`, 1]}`.toString(),
    '&lt;a&gt;<b>x</b>1',
    'arrays, item by item',
  );
});

void t.test('nested html is kept, nothing else is markup', async (t) => {
  const inner = html`<em>${'<x>'}</em>`;
  t.ok(inner instanceof SafeHtml);
  t.equal(html`<p>${inner}</p>`.toString(), '<p><em>&lt;x&gt;</em></p>');
  const lookalike = { toString: () => '<script>1</script>' };
  t.equal(html`${lookalike}`.toString(), '{}'.replace('{}', escapeHtml(JSON.stringify(lookalike))));
  t.notMatch(html`${lookalike}`.toString(), /<script>/, 'an object with toString is not markup');
  t.throws(() => Reflect.construct(SafeHtml, [Symbol('forged'), '<b>']), {
    name: 'TypeError',
  });
  t.notOk('trusted' in SafeHtml, 'no public way to make one from a string');
});

void t.test('href encodes every key and value and drops empty ones', async (t) => {
  t.equal(
    href('/deadletters', { reason: 'a&b=c "d"', group: '', subject: undefined, n: 3 }),
    '/deadletters?reason=a%26b%3Dc+%22d%22&n=3',
  );
  t.equal(href('/x'), '/x');
  const out = html`<a href="${href('/x', { q: '"><script>' })}">x</a>`.toString();
  t.notMatch(out, /<script>/);
});

function decode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&#61;/g, '=')
    .replace(/&amp;/g, '&');
}
