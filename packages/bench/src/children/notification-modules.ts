// notification-service's own modules, for the children that time one stage of its pipeline alone
// (smtp-stage, ledger-stage, render-stage): each stage runs the service's code itself (its mailer,
// its delivery ledger and statements, its validation and rendering, configured by its loadConfig
// from the env the service would get), so a stage can never drift from what the service does.
// They come from the build the bench runs the service from when there is one (BENCH_SERVICE_ROOT
// is its dist/ or src/), loaded at run time: the bench package does not depend on a service, so
// the shapes it uses are declared here, and a service that changes them fails the stage loudly.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const need = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

export interface NotifyConfig {
  DATABASE_URL: string;
  MAIL_FROM: string;
  NOTIFY_CONCURRENCY: number;
  NOTIFY_MAX_ACK_PENDING: number;
  NOTIFY_CLAIM_TIMEOUT_MS: number;
}

export interface RenderedEmail {
  messageId: string;
}

export interface Mailer {
  send(email: RenderedEmail): Promise<unknown>;
  close(): void;
}

export interface Deliveries {
  claim(eventId: string, kind: string, recipient: string): Promise<{ outcome: string }>;
  markSent(eventId: string, kind: string, smtpMessageId: string): Promise<void>;
}

export interface Slots {
  acquire(): Promise<boolean>;
  release(): void;
}

type ParsedEvent = { ok: true; event: unknown } | { ok: false; reason: string };

export interface NotificationModules {
  config: NotifyConfig;
  createMailer(options: unknown): Mailer;
  mailerOptions(config: NotifyConfig): unknown;
  renderWelcome(event: unknown, options: { from: string }): RenderedEmail;
  parseWelcomeEvent(data: Uint8Array): ParsedEvent;
  welcomeKind: string;
  Deliveries: new (
    db: unknown,
    options: { workerId: string; claimTimeoutMs: number },
  ) => Deliveries;
  Slots: new (size: number) => Slots;
  createPrisma(url: string, options: { max?: number }): { $disconnect(): Promise<void> };
}

/** Loads the service's modules from BENCH_SERVICE_ROOT, and its config from this process's env. */
export async function notificationModules(): Promise<NotificationModules> {
  const root = need('BENCH_SERVICE_ROOT');
  const ext = root.endsWith('dist') ? '.js' : '.ts';
  const load = (path: string) =>
    import(pathToFileURL(join(root, `${path}${ext}`)).href) as Promise<Record<string, unknown>>;
  const [configModule, mailer, welcome, consumer, deliveries] = await Promise.all([
    load('config'),
    load('lib/mailer'),
    load('lib/welcome'),
    load('lib/consumer'),
    load('lib/deliveries'),
  ]);
  // @app/db as the service resolves it (the bench does not depend on it either).
  const dbEntry = createRequire(join(root, '..', 'package.json')).resolve('@app/db');
  const db = (await import(pathToFileURL(dbEntry).href)) as Record<string, unknown>;
  const loadConfig = configModule.loadConfig as (env: NodeJS.ProcessEnv) => NotifyConfig;
  return {
    config: loadConfig(process.env),
    createMailer: mailer.createMailer as NotificationModules['createMailer'],
    mailerOptions: mailer.mailerOptions as NotificationModules['mailerOptions'],
    renderWelcome: welcome.renderWelcome as NotificationModules['renderWelcome'],
    parseWelcomeEvent: consumer.parseWelcomeEvent as NotificationModules['parseWelcomeEvent'],
    welcomeKind: welcome.WELCOME_KIND as string,
    Deliveries: deliveries.Deliveries as NotificationModules['Deliveries'],
    Slots: consumer.Slots as NotificationModules['Slots'],
    createPrisma: db.createPrisma as NotificationModules['createPrisma'],
  };
}
