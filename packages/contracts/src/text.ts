// Request strings that Postgres can store: `text` cannot hold U+0000 and `jsonb` refuses it and
// unpaired surrogate escapes, so a body carrying them would fail deep in a transaction as a 500.
// SafeString puts the rule in the schema instead, where it answers 400 and shows in the OpenAPI.
import { Type, type StringOptions, type TString } from '@sinclair/typebox';

/**
 * Matches a string with a NUL or an unpaired UTF-16 surrogate. Written to give the same answer
 * with and without the regex `u` flag: a high surrogate not followed by a low one, or a low one
 * not preceded by a high one. Astral characters (emoji, a surrogate pair) do not match.
 */
export const UNSAFE_TEXT_SOURCE =
  '\\u0000|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';

/** Every SafeString pattern starts with this guard (platform names the failure from it). */
export const SAFE_TEXT_GUARD = `^(?![\\s\\S]*(?:${UNSAFE_TEXT_SOURCE}))`;

/** True when `value` has no NUL and no unpaired surrogate. */
export function isSafeText(value: string): boolean {
  return !new RegExp(UNSAFE_TEXT_SOURCE).test(value);
}

/**
 * A TypeBox string that refuses NUL and unpaired surrogates. A `pattern` given in `options` still
 * applies: it is searched for as JSON Schema does (anywhere, unless it anchors itself), inside a
 * lookahead after the guard, so that one `pattern` keyword carries both rules.
 */
export function SafeString(options: StringOptions = {}): TString {
  const { pattern, ...rest } = options;
  const own = pattern === undefined ? '' : `(?=[\\s\\S]*?(?:${pattern}))`;
  return Type.String({ ...rest, pattern: `${SAFE_TEXT_GUARD}${own}` });
}
