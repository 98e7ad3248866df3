// Reason signatures: the same failure, from many messages, is one group. A dead letter's reason
// (Dlq-Reason) quotes what went wrong, with the parts that differ per message (an address, an id,
// a timestamp, a count of deliveries); the signature replaces those parts with placeholders, so
// "smtp 550 <ann@x.org>: mailbox unavailable" and the same for bob@y.org share one. SMTP reply
// codes (three digits) and enhanced status codes (5.1.1) are kept: they are the failure itself.
import { createHash } from 'node:crypto';

const RULES: ReadonlyArray<[RegExp, string]> = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '<email>'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?/g, '<time>'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g, '<ip>'],
  [/\b[0-9a-f]{12,}\b/gi, '<hex>'],
  [/\b\d+ deliveries\b/g, '<n> deliveries'],
  [/\b(seq|sequence|id) \d+\b/gi, '$1 <n>'],
  [/\b\d{4,}\b/g, '<n>'],
];

/** The group a reason belongs to: its variable parts replaced, whitespace collapsed. */
export function reasonSignature(reason: string | null): string {
  if (reason === null || reason.trim() === '') return '(no reason recorded)';
  let s = reason;
  for (const [pattern, replacement] of RULES) s = s.replace(pattern, replacement);
  return s.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** A short stable id of a signature, for URLs and form fields. */
export function signatureId(signature: string): string {
  return createHash('sha256').update(signature).digest('hex').slice(0, 16);
}

/**
 * Dead-letter sequences written compactly for a form field (`3-7,9,12-13`) and read back; the
 * dry run's exact list travels to the confirmation this way, however long it is.
 */
export function formatSeqs(seqs: number[]): string {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The sequences of `formatSeqs`; undefined when the text is not such a list or exceeds `max`. */
export function parseSeqs(text: string, max: number): number[] | undefined {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return undefined;
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const end = b ?? a;
    if (a < 1 || end < a || !Number.isSafeInteger(end)) return undefined;
    if (out.length + (end - a + 1) > max) return undefined;
    for (let s = a; s <= end; s++) out.push(s);
  }
  return out;
}
