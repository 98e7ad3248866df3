// The security headers @fastify/helmet sets with the platform's options, as a constant: the answers
// Fastify writes without running hooks (framework errors, client errors such as 431) must carry
// the same headers as every other answer, and helmet cannot be run there. A test compares this
// list with what helmet really sets, so an upgrade that changes helmet's defaults fails loudly.

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
