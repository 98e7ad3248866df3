// The security headers every answer carries: what @fastify/helmet sets with the platform's options
// (its defaults without a CSP, which protects nothing in a JSON API). Set from this constant by an
// onRequest hook (app.ts), and by the handlers of the answers Fastify writes without running hooks
// (framework errors, client errors such as 431). A test compares the list with what helmet really
// sets, so an upgrade that changes helmet's defaults fails loudly.

import type { FastifyReply, FastifyRequest } from 'fastify';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
});

/** The headers every answer gets before its route runs: the security ones and the request id. */
export function setStandardHeaders(request: FastifyRequest, reply: FastifyReply): void {
  void reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
}
