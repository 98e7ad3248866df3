// The welcome email itself: subject, text and HTML bodies, and the headers that make a duplicate
// recognisable downstream (a Message-ID derived from the event id) and join the email to the
// signup's trace (traceparent). Pure, no I/O.
import type { UserSignedUpV1 } from '@app/contracts';

export const WELCOME_KIND = 'welcome_email';

export interface RenderedEmail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** `<welcome_email.<event id>@<domain of MAIL_FROM>>`: the same event always yields the same id. */
export function welcomeMessageId(eventId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)/.exec(from)?.[1] ?? 'localhost';
  return `<${WELCOME_KIND}.${eventId}@${domain}>`;
}

export function renderWelcome(
  event: UserSignedUpV1,
  options: { from: string; traceparent?: string | undefined },
): RenderedEmail {
  const name = event.data.displayName;
  const headers: Record<string, string> = { 'X-Event-Id': event.id };
  if (options.traceparent) headers.traceparent = options.traceparent;
  return {
    from: options.from,
    to: event.data.email,
    subject: `Welcome, ${name}!`,
    text: `Hi ${name},\n\nWelcome aboard: your account is ready.\n`,
    html: `<p>Hi ${escapeHtml(name)},</p><p>Welcome aboard: your account is ready.</p>`,
    messageId: welcomeMessageId(event.id, options.from),
    headers,
  };
}
