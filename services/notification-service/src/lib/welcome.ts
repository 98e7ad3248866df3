// The welcome email itself: subject, text and HTML bodies, and the headers that make a duplicate
// recognisable downstream (a Message-ID derived from the event id) and join the email to the
// signup's trace (traceparent). Pure, no I/O.
// When every part of it is plain printable ASCII with short lines (a usual name, address and
// MAIL_FROM), the whole MIME message is also written out here, as `raw`, in the 7bit form that
// nodemailer itself would compose for it, and the mailer hands that over as is: composing a
// multipart message through nodemailer's MIME tree of streams costs more CPU than everything else
// the service does for an event. Anything else (a name in another script, a long line, an address
// or MAIL_FROM needing quotes) leaves the encoding to nodemailer: `raw` is absent.
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
  /** The complete message (CRLF line ends), when it needs no encoding; see the module comment. */
  raw?: { message: string; envelope: { from: string; to: string[] } };
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

const TEXT_BODY = 'Welcome aboard: your account is ready.';
const HTML_BODY = `<p>${TEXT_BODY}</p>`;

// What may go out unencoded, and unquoted: printable ASCII without the start of an encoded word
// ("=?"); an address of atext characters only; a display name of letters, digits and spaces.
const PLAIN = /^[\x20-\x7e]*$/;
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;
const PHRASE = /^[A-Za-z0-9]+( [A-Za-z0-9]+)*$/;
const TOKEN = /^[\x21-\x7e]+$/;
/** nodemailer's limit too: a longer line would be quoted-printable. */
const MAX_LINE = 76;

const isPlain = (value: string) => PLAIN.test(value) && !value.includes('=?');

/** MAIL_FROM as a header value and an envelope address, if it can go out as is. */
interface PlainFrom {
  header: string;
  address: string;
  domain: string;
}

let fromCache: { from: string; plain: PlainFrom | undefined } | undefined;

function plainFrom(from: string): PlainFrom | undefined {
  if (fromCache?.from === from) return fromCache.plain;
  let plain: PlainFrom | undefined;
  const named = /^([^<>]*?)\s*<([^<>]+)>$/.exec(from.trim());
  const name = named ? (named[1] ?? '') : '';
  const address = named ? (named[2] ?? '') : from.trim();
  if (ADDRESS.test(address) && (name === '' || PHRASE.test(name))) {
    const header = name === '' ? address : `${name} <${address}>`;
    if (`From: ${header}`.length <= MAX_LINE) {
      plain = { header, address, domain: address.slice(address.lastIndexOf('@') + 1) };
    }
  }
  fromCache = { from, plain };
  return plain;
}

let dateCache = { second: -1, header: '' };

/** The Date header as nodemailer writes it, made once a second. */
function dateHeader(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (dateCache.second !== second) {
    dateCache = { second, header: new Date(now).toUTCString().replace(/GMT/, '+0000') };
  }
  return dateCache.header;
}

/** A header line, with the value on a continuation line when the line would be too long. */
function headerLine(name: string, value: string): string {
  return name.length + 2 + value.length <= MAX_LINE
    ? `${name}: ${value}\r\n`
    : `${name}:\r\n ${value}\r\n`;
}

function rawMessage(
  event: UserSignedUpV1,
  from: PlainFrom,
  email: RenderedEmail,
  htmlLine: string,
  traceparent: string | undefined,
): string | undefined {
  const name = event.data.displayName;
  const textLine = `Hi ${name},`;
  const boundary = `----=_welcome_${event.id}`;
  if (
    !isPlain(name) ||
    !ADDRESS.test(email.to) ||
    `Subject: ${email.subject}`.length > MAX_LINE ||
    `To: ${email.to}`.length > MAX_LINE ||
    textLine.length > MAX_LINE ||
    htmlLine.length > MAX_LINE ||
    name.includes(boundary) ||
    (traceparent !== undefined &&
      (!TOKEN.test(traceparent) || `traceparent: ${traceparent}`.length > MAX_LINE))
  ) {
    return undefined;
  }
  const part = (type: string) =>
    `--${boundary}\r\nContent-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n`;
  return (
    `From: ${from.header}\r\n` +
    `To: ${email.to}\r\n` +
    `Subject: ${email.subject}\r\n` +
    headerLine('Message-ID', email.messageId) +
    `Date: ${dateHeader()}\r\n` +
    'MIME-Version: 1.0\r\n' +
    `X-Event-Id: ${event.id}\r\n` +
    (traceparent === undefined ? '' : `traceparent: ${traceparent}\r\n`) +
    `Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n` +
    '\r\n' +
    part('text/plain') +
    `${textLine}\r\n\r\n${TEXT_BODY}\r\n` +
    '\r\n' +
    part('text/html') +
    `${htmlLine}\r\n${HTML_BODY}\r\n` +
    `--${boundary}--\r\n`
  );
}

export function renderWelcome(
  event: UserSignedUpV1,
  options: { from: string; traceparent?: string | undefined },
): RenderedEmail {
  const name = event.data.displayName;
  const headers: Record<string, string> = { 'X-Event-Id': event.id };
  if (options.traceparent) headers.traceparent = options.traceparent;
  const htmlLine = `<p>Hi ${escapeHtml(name)},</p>`;
  const email: RenderedEmail = {
    from: options.from,
    to: event.data.email,
    subject: `Welcome, ${name}!`,
    text: `Hi ${name},\n\n${TEXT_BODY}\n`,
    // Two lines, so that a long name alone decides whether the HTML fits in 7bit.
    html: `${htmlLine}\n${HTML_BODY}`,
    messageId: welcomeMessageId(event.id, options.from),
    headers,
  };
  const from = plainFrom(options.from);
  const message =
    from && rawMessage(event, from, email, htmlLine, options.traceparent || undefined);
  if (from && message) email.raw = { message, envelope: { from: from.address, to: [email.to] } };
  return email;
}
