// Hostile clients against the running services: forged and misused JWTs (alg none, HS256 with the
// public key, expired, wrong audience/issuer, another user's sub), admin routes without or with a
// wrong token, rate limits, body and header limits, security headers on every answer, CORS, and
// the children's logs searched for the password and tokens the test used.
import t from 'tap';
import { forgeJwt, SECURITY_LIMITS, securityChecks, startSecuritySystem } from '../src/index.js';

const system = await startSecuritySystem();
t.teardown(() => system.close());

void t.test('forged tokens are well-formed JWTs', async (t) => {
  const [h, p, s] = forgeJwt('none', { sub: 'x' }).split('.');
  t.same(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'none', typ: 'JWT' });
  t.same(JSON.parse(Buffer.from(p!, 'base64url').toString()), { sub: 'x' });
  t.equal(s, '', 'alg none has an empty signature');
});

await t.test('security checks', async (t) => {
  const checks = await securityChecks(system, SECURITY_LIMITS);
  t.ok(checks.length >= 30, `${checks.length} checks ran`);
  for (const c of checks) t.ok(c.ok, c.name, { detail: c.detail });
});
