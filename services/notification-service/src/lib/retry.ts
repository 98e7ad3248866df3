// The retry taxonomy of the welcome-email consumer: which failures are worth another delivery
// (SMTP 4xx, timeouts, broken connections, a database hiccup) and which can never succeed (SMTP 5xx,
// an invalid payload). The delay of the next attempt is platform's backoffDelay. Pure, no I/O.

export const FAILURE_CLASSES = [
  'smtp_transient',
  'smtp_permanent',
  'timeout',
  'connection',
  'invalid_payload',
  'internal',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export interface Classified {
  failureClass: FailureClass;
  /** true: nak(delay) and try again; false: term(), the dead-letter worker takes it from there. */
  retry: boolean;
  /** A short, log-safe description (SMTP reply code and text, error code); never a credential. */
  reason: string;
}

const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ESOCKET',
  'EDNS',
  'ETLS',
]);

type MaybeSmtpError = {
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  message?: unknown;
};

/** Sorts a send failure into the taxonomy. Unknown errors are retried: losing mail is worse. */
export function classifySendError(error: unknown): Classified {
  const e = (typeof error === 'object' && error !== null ? error : {}) as MaybeSmtpError;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const code = typeof e.code === 'string' ? e.code : undefined;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const reply = (typeof e.response === 'string' ? e.response : message).slice(0, 200);

  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600) {
    return { failureClass: 'smtp_permanent', retry: false, reason: `smtp ${reply}` };
  }
  if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
    return { failureClass: 'smtp_transient', retry: true, reason: `smtp ${reply}` };
  }
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return { failureClass: 'timeout', retry: true, reason: `timeout: ${message.slice(0, 200)}` };
  }
  if (code !== undefined && CONNECTION_CODES.has(code)) {
    return { failureClass: 'connection', retry: true, reason: `${code}: ${message.slice(0, 200)}` };
  }
  return { failureClass: 'internal', retry: true, reason: message.slice(0, 200) };
}
