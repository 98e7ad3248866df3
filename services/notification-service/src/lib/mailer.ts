// The mail transport: pooled SMTP (nodemailer) when SMTP_URL is set, else a local transport that
// writes each email as an .eml file so `pnpm start` works with no mail server and a developer can
// open what would have been sent. An email rendered complete (lib/welcome.ts `raw`) goes to
// nodemailer as is, with its envelope; any other is composed by nodemailer from its parts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config.js';
import type { RenderedEmail } from './welcome.js';

export interface SentInfo {
  messageId: string;
  /** Where the local transport wrote the email; absent for SMTP. */
  path?: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'local';
  send(email: RenderedEmail): Promise<SentInfo>;
  close(): void;
}

export interface MailerOptions {
  smtpUrl?: string | undefined;
  mailDir: string;
  timeoutMs: number;
  poolSize: number;
}

/** The mailer the service builds from its config (the bench's SMTP stage builds the same one). */
export function mailerOptions(
  config: Pick<
    Config,
    'SMTP_URL' | 'NOTIFY_MAIL_DIR' | 'NOTIFY_SMTP_TIMEOUT_MS' | 'NOTIFY_CONCURRENCY'
  >,
): MailerOptions {
  return {
    smtpUrl: config.SMTP_URL,
    mailDir: config.NOTIFY_MAIL_DIR,
    timeoutMs: config.NOTIFY_SMTP_TIMEOUT_MS,
    poolSize: Math.min(config.NOTIFY_CONCURRENCY, 10),
  };
}

/** What nodemailer's sendMail gets for an email. */
function mailOf(email: RenderedEmail): object {
  if (!email.raw) return email;
  return { raw: email.raw.message, envelope: email.raw.envelope, messageId: email.messageId };
}

export function createMailer(options: MailerOptions): Mailer {
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport({
      url: options.smtpUrl,
      pool: true,
      maxConnections: options.poolSize,
      // Unlimited messages per connection: reconnecting per message would halve throughput.
      maxMessages: Infinity,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    } as Parameters<typeof nodemailer.createTransport>[0]);
    return {
      kind: 'smtp',
      async send(email) {
        await transport.sendMail(mailOf(email));
        return { messageId: email.messageId };
      },
      close: () => transport.close(),
    };
  }

  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
  let dirReady: Promise<unknown> | undefined;
  return {
    kind: 'local',
    async send(email) {
      dirReady ??= mkdir(options.mailDir, { recursive: true });
      await dirReady;
      const info = (await transport.sendMail(mailOf(email))) as { message: Buffer };
      const id = email.messageId.replace(/[^A-Za-z0-9._-]/g, '_');
      const path = join(options.mailDir, `${Date.now()}-${id}.eml`);
      await writeFile(path, info.message);
      return { messageId: email.messageId, path };
    },
    close: () => transport.close(),
  };
}
