// The peer: what a user would write instead of profile-service, following the guide this project
// grew from (shared/seed/scalable-api-guide.txt): a plain Fastify app with Fastify's default
// logger, and a route doing cache-aside with ioredis `GET`, falling back to Postgres and caching
// the row with `SETEX` for 10 minutes. No schema, no hooks, no platform: the baseline every
// profile-read goal is a ratio of.
//
// LOG_LEVEL: a pino level for Fastify's logger (`info`, as Fastify's docs configure it), or `off`
// for `logger: false`. REDIS_URL, DATABASE_URL, PEER_REDIS_PREFIX (keys of the bench's namespace),
// PORT, HOST.
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';

const level = process.env.LOG_LEVEL ?? 'info';
const prefix = process.env.PEER_REDIS_PREFIX ?? '';
const app = Fastify({ logger: level === 'off' ? false : { level } });
const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const db = new pg.Pool({ connectionString: process.env.DATABASE_URL });
// An idle connection the server ends (the bench dropping its database) must not end the peer.
db.on('error', (err) =>
  process.stderr.write(`peer: idle Postgres connection lost: ${err.message}\n`),
);

async function getUserProfile(userId: string): Promise<unknown> {
  const key = `${prefix}user:profile:${userId}`;
  const cached = await client.get(key);
  if (cached) return JSON.parse(cached);
  const { rows } = await db.query(
    `SELECT user_id AS id, display_name AS "displayName", bio, avatar_url AS "avatarUrl",
            version, updated_at AS "updatedAt"
       FROM profiles WHERE user_id = $1`,
    [userId],
  );
  const dbProfile: unknown = rows[0] ?? null;
  if (dbProfile) await client.setex(key, 600, JSON.stringify(dbProfile));
  return dbProfile;
}

app.get<{ Params: { id: string } }>('/v1/profiles/:id', async (request, reply) => {
  const profile = await getUserProfile(request.params.id);
  if (!profile) return reply.code(404).send({ error: 'not found' });
  return profile;
});
app.get('/health/ready', async () => ({ status: 'ok' }));

const close = () => {
  void app
    .close()
    .then(() => Promise.all([client.quit(), db.end()]))
    .then(() => process.exit(0));
};
process.once('SIGTERM', close);
process.once('SIGINT', close);

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
