// The mail transport: pooled SMTP (nodemailer) when SMTP_URL is set, else a local transport that
// writes each email as an .eml file so `pnpm start` works with no mail server and a developer can
// open what would have been sent.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
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
        const info = (await transport.sendMail(email)) as { messageId?: string };
        return { messageId: info.messageId ?? email.messageId };
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
      const info = (await transport.sendMail(email)) as { messageId?: string; message: Buffer };
      const id = email.messageId.replace(/[^A-Za-z0-9._-]/g, '_');
      const path = join(options.mailDir, `${Date.now()}-${id}.eml`);
      await writeFile(path, info.message);
      return { messageId: info.messageId ?? email.messageId, path };
    },
    close: () => transport.close(),
  };
}
