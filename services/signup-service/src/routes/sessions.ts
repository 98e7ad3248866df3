// POST /v1/sessions: log in. An unknown email costs the same scrypt work as a wrong password and
// gets the same answer, so neither the body nor the timing tells whether an account exists.
import type { App } from '@app/platform';
import { errors } from '../errors.js';
import { hashPassword, verifyPassword } from '../lib/password.js';
import { findCredentials } from '../lib/users.js';
import { LoginBody, LoginResponses } from '../schemas/http.js';

export interface SessionRouteOptions {
  scryptLogN: number;
}

export async function sessionRoutes(app: App, options: SessionRouteOptions): Promise<void> {
  // Verified against when the email is unknown, at the same cost as a real hash.
  const dummyHash = await hashPassword(`dummy-${crypto.randomUUID()}`, options.scryptLogN);

  app.post(
    '/v1/sessions',
    {
      schema: {
        summary: 'Log in: exchange email and password for an access token',
        operationId: 'logIn',
        tags: ['accounts'],
        security: [],
        body: LoginBody,
        response: LoginResponses,
      },
    },
    async (request, reply) => {
      const { email, password } = request.body;
      await app.limits.login(request, reply, email);
      const user = await findCredentials(app.prisma, email);
      const ok = await verifyPassword(password, user?.passwordHash ?? dummyHash);
      if (!user || !ok) throw errors.invalidCredentials();
      return { accessToken: await app.tokens.issue(user.id) };
    },
  );
}
