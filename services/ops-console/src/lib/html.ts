// HTML built by one tagged template that escapes every interpolated value by default: a page is
// `html\`<td>${reason}</td>\``, and only another `html` result (a SafeHtml) is inserted as markup.
// Everything the console shows comes from outside (dead-letter headers and payloads, SMTP replies,
// subjects, operator names), so there is no way to insert a raw string short of building a
// SafeHtml here. Values must sit in text or in quoted attributes (every template quotes them).

// Only this module holds the key, so no other code can construct a SafeHtml from a string.
const KEY: unique symbol = Symbol('SafeHtml');

/** Markup that is already safe: the result of `html`, never built from an unescaped string. */
export class SafeHtml {
  readonly #value: string;
  constructor(key: typeof KEY, value: string) {
    if (key !== KEY) throw new TypeError('a SafeHtml is made by the html tag only');
    this.#value = value;
  }
  toString(): string {
    return this.#value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
  '=': '&#61;',
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`=]/g, (c) => ESCAPES[c]!);
}

/** What a value interpolated into `html` renders as. */
function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.toString();
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number' || typeof value === 'bigint' || value === true) {
    return escapeHtml(String(value));
  }
  if (value instanceof Date) return escapeHtml(value.toISOString());
  return escapeHtml(JSON.stringify(value) ?? '');
}

/**
 * The template tag: literal parts are the markup, every `${value}` is escaped (a SafeHtml is kept,
 * an array is rendered item by item, null/undefined/false render nothing).
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(KEY, out);
}

/** A full document from its markup, with the doctype. */
export function documentHtml(body: SafeHtml): string {
  return `<!doctype html>\n${body.toString()}`;
}

/** `path?key=value&...` with every key and value URL-encoded; empty values are left out. */
export function href(
  path: string,
  params: Record<string, string | number | undefined | null> = {},
): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const qs = query.toString();
  return qs === '' ? path : `${path}?${qs}`;
}
