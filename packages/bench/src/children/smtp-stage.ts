// notify-throughput's SMTP stage alone: notification-service's own mailer (lib/mailer.ts, built
// from its config as the service builds it: nodemailer's pool, its maxConnections, timeouts)
// sending the welcome emails the service renders (lib/welcome.ts) for the same kind of events
// into the same SMTP sink, NOTIFY_CONCURRENCY sends at once as the service's send slots allow.
// Every email is rendered before the first send, so what is timed (by the sink, first to last
// arrival, as for the service) is the transport alone.
import { signupEnvelope } from '../events.js';
import { need, notificationModules } from './notification-modules.js';

const count = Number(need('BENCH_COUNT'));
const m = await notificationModules();
const mailer = m.createMailer(m.mailerOptions(m.config));
const emails = Array.from({ length: count }, (_, i) =>
  m.renderWelcome(signupEnvelope(i), { from: m.config.MAIL_FROM }),
);

let next = 0;
async function sender(): Promise<void> {
  while (next < emails.length) await mailer.send(emails[next++]!);
}
await Promise.all(Array.from({ length: m.config.NOTIFY_CONCURRENCY }, () => sender()));
process.send?.({ type: 'done', count });
mailer.close();
