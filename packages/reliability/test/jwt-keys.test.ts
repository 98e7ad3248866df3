// Both documented access-token keys, end to end across the real processes: signup-service signs
// with the private key and profile-service verifies with the public one, so a user who signs up
// can update their own profile with the token they got, whether the pair is P-256 (ES256) or
// Ed25519 (EdDSA), and cannot update anyone else's.
import t, { type Test } from 'tap';
import { httpRequest, startSystem, type System } from '../src/index.js';

const json = { 'content-type': 'application/json' };

async function signup(system: System, email: string): Promise<{ userId: string; token: string }> {
  const res = await httpRequest(system.url('signup-service'), {
    method: 'POST',
    path: '/v1/signup',
    headers: json,
    body: JSON.stringify({ email, password: 'Keys test 9 pw', displayName: 'Keys' }),
  });
  if (res.status !== 201) throw new Error(`signup answered ${res.status}: ${res.body}`);
  const body = JSON.parse(res.body) as { userId: string; accessToken: string };
  return { userId: body.userId, token: body.accessToken };
}

function patchBio(system: System, userId: string, token: string, bio: string) {
  return httpRequest(system.url('profile-service'), {
    method: 'PATCH',
    path: `/v1/profiles/${userId}`,
    headers: { ...json, authorization: `Bearer ${token}` },
    body: JSON.stringify({ bio }),
  });
}

async function ownProfileUpdates(t: Test, jwtKey: 'p256' | 'ed25519', alg: string): Promise<void> {
  const system = await startSystem({
    jwtKey,
    logLevel: 'warn',
    services: ['signup-service', 'profile-service'],
  });
  t.teardown(() => system.close());
  const user = await signup(system, `owner-${jwtKey}@keys.example`);
  const header = JSON.parse(Buffer.from(user.token.split('.')[0] ?? '', 'base64url').toString());
  t.equal(header.alg, alg, `signup-service signs ${alg} with this key`);

  const res = await patchBio(system, user.userId, user.token, `signed with ${alg}`);
  t.equal(res.status, 200, `PATCH own profile with the ${alg} token: ${res.body.slice(0, 300)}`);
  t.equal((JSON.parse(res.body) as { bio?: string }).bio, `signed with ${alg}`);

  const other = await signup(system, `other-${jwtKey}@keys.example`);
  const denied = await patchBio(system, other.userId, user.token, 'not mine');
  t.equal(denied.status, 403, "another user's profile stays out of reach");
}

void t.test('a P-256 key pair: ES256 tokens update their own profile', (t) =>
  ownProfileUpdates(t, 'p256', 'ES256'),
);
void t.test('an Ed25519 key pair: EdDSA tokens update their own profile', (t) =>
  ownProfileUpdates(t, 'ed25519', 'EdDSA'),
);
