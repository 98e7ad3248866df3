// The notify-throughput alternative: the welcome-email pipeline a user would build on BullMQ
// (Redis) instead of JetStream. Same steps as notification-service, same settings: validate the
// envelope, claim the delivery in Postgres (the same INSERT ... ON CONFLICT ledger), send through a
// pooled nodemailer transport to the same SMTP sink, mark it sent, then complete the job (the ack).
import { hostname } from 'node:os';
import { UserSignedUpV1, validate } from '@app/contracts';
import { Worker } from 'bullmq';
import nodemailer from 'nodemailer';
import pg from 'pg';

const need = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const concurrency = Number(need('BENCH_CONCURRENCY'));
const redisUrl = new URL(need('REDIS_URL'));
const from = 'Welcome <welcome@example.com>';
const workerId = `${hostname()}:${process.pid}:bullmq`;
const pool = new pg.Pool({
  connectionString: need('DATABASE_URL'),
  max: Math.min(concurrency + 4, 20),
});
// An idle connection the server ends (the bench dropping its database) must not end the worker.
pool.on('error', (err) => process.stderr.write(`idle Postgres connection lost: ${err.message}\n`));
const transport = nodemailer.createTransport({
  url: need('SMTP_URL'),
  pool: true,
  maxConnections: Math.min(concurrency, 10),
  maxMessages: Infinity,
} as Parameters<typeof nodemailer.createTransport>[0]);

const worker = new Worker(
  need('BENCH_QUEUE'),
  async (job) => {
    const checked = validate(UserSignedUpV1, job.data);
    // A payload that can never succeed: fail without retry, as term() does on JetStream.
    if (!checked.ok) throw new Error(`invalid_payload: ${checked.errors.join('; ')}`);
    const event = checked.value;
    const claim = await pool.query(
      `INSERT INTO notification_deliveries AS d
         (event_id, kind, status, recipient, claimed_at, claimed_by, attempts)
       VALUES ($1::uuid, 'welcome_email', 'claimed', $2, now(), $3, 1)
       ON CONFLICT (event_id, kind) DO UPDATE
         SET status = 'claimed', claimed_at = now(), attempts = d.attempts + 1
         WHERE d.status = 'failed'
       RETURNING d.attempts`,
      [event.id, event.data.email, workerId],
    );
    if (claim.rowCount === 0) return 'duplicate';
    const messageId = `<welcome_email.${event.id}@example.com>`;
    await transport.sendMail({
      from,
      to: event.data.email,
      subject: `Welcome, ${event.data.displayName}!`,
      text: `Hi ${event.data.displayName},\n\nWelcome aboard: your account is ready.\n`,
      html: `<p>Hi ${event.data.displayName},</p><p>Welcome aboard: your account is ready.</p>`,
      messageId,
      headers: { 'X-Event-Id': event.id },
    });
    await pool.query(
      `UPDATE notification_deliveries SET status = 'sent', sent_at = now(), smtp_message_id = $2
        WHERE event_id = $1::uuid AND kind = 'welcome_email'`,
      [event.id, messageId],
    );
    return 'sent';
  },
  {
    connection: {
      host: redisUrl.hostname,
      port: Number(redisUrl.port || 6379),
      maxRetriesPerRequest: null,
    },
    prefix: need('BENCH_PREFIX'),
    concurrency,
  },
);
worker.on('error', (error) => process.stderr.write(`worker error: ${error.message}\n`));
await worker.waitUntilReady();
process.send?.({ type: 'ready' });

const shutdown = async () => {
  await worker.close();
  transport.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
