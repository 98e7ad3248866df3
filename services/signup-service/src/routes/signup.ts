// POST /v1/signup: creates a user, their profile and the user.signed_up event in one transaction,
// honouring an Idempotency-Key. The handler orchestrates; data access lives in lib/.
import { names } from '@app/contracts';
import { sendProblem, toProblem, type App } from '@app/platform';
import type { FastifyReply } from 'fastify';
import { errors } from '../errors.js';
import {
  claimKey,
  completeKey,
  releaseKey,
  requestFingerprint,
  SIGNUP_SCOPE,
} from '../lib/idempotency.js';
import { hashPassword } from '../lib/password.js';
import { traceparentFor } from '../lib/trace.js';
import { createUser } from '../lib/users.js';
import { SignupBody, SignupHeaders, SignupResponses } from '../schemas/http.js';

export interface SignupRouteOptions {
  /** Names the problems' `type` and the events' producer. */
  serviceName: string;
  namespace: string;
  scryptLogN: number;
  idempotencyTtlHours: number;
  /** Keys the request fingerprints of idempotency keys. */
  fingerprintSecret: Buffer;
}

export async function signupRoutes(app: App, options: SignupRouteOptions): Promise<void> {
  const subject = names(options.namespace).subjects.userSignedUp;

  const replay = async (
    reply: FastifyReply,
    status: number,
    body: unknown,
    resourceId: string | null,
  ) => {
    void reply.header('idempotent-replayed', 'true');
    if (status === 201 && resourceId) {
      // The token was never stored: a replay gets a fresh one for the same user.
      return reply
        .code(201)
        .send({ userId: resourceId, accessToken: await app.tokens.issue(resourceId) });
    }
    return reply
      .code(status)
      .type('application/problem+json')
      .serializer(JSON.stringify)
      .send(body);
  };

  app.post(
    '/v1/signup',
    {
      // Counted before the body is read or validated: every attempt from an IP spends its budget,
      // malformed and oversized ones too, so a flood is refused at the cheapest point.
      onRequest: async (request, reply) => app.limits.signup(request, reply),
      schema: {
        summary: 'Create an account',
        description:
          'Creates the user, their profile and the `user.signed_up` event at once. With an ' +
          '`Idempotency-Key`, a retry of the same body gets the first answer again.',
        operationId: 'signUp',
        tags: ['accounts'],
        security: [],
        body: SignupBody,
        headers: SignupHeaders,
        response: SignupResponses,
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const traceparent = traceparentFor(request.headers.traceparent);

      if (key !== undefined) {
        const fingerprint = requestFingerprint(options.fingerprintSecret, request.body);
        const claim = await claimKey(
          app.pg,
          SIGNUP_SCOPE,
          key,
          fingerprint,
          options.idempotencyTtlHours,
        );
        if (claim.kind === 'mismatch') throw errors.idempotencyKeyReused();
        if (claim.kind === 'in_flight') throw errors.idempotencyInProgress();
        if (claim.kind === 'completed')
          return replay(reply, claim.status, claim.body, claim.resourceId);
      }

      try {
        const { email, password, displayName } = request.body;
        const passwordHash = await hashPassword(password, options.scryptLogN);
        const result = await createUser(
          app.pg,
          { email, passwordHash, displayName },
          {
            producer: options.serviceName,
            subject,
            traceparent,
            ...(key === undefined ? {} : { idempotency: { scope: SIGNUP_SCOPE, key } }),
          },
        );
        if (!result.ok) {
          const problem = toProblem(options.serviceName, errors.emailTaken(), request);
          // A 409 is an answer too: a retry with the same key and body gets it again.
          if (key !== undefined) await completeKey(app.pg, SIGNUP_SCOPE, key, 409, problem, null);
          request.log.info({ code: problem.code }, 'signup rejected');
          return sendProblem(reply, problem);
        }
        request.log.info(
          { userId: result.userId, eventId: result.eventId, traceparent },
          'user signed up',
        );
        return reply
          .code(201)
          .send({ userId: result.userId, accessToken: await app.tokens.issue(result.userId) });
      } catch (err) {
        // Our failure, not an answer: free the key so that the client's retry runs again.
        if (key !== undefined) await releaseKey(app.pg, SIGNUP_SCOPE, key).catch(() => undefined);
        throw err;
      }
    },
  );
}
