// A real SMTP server for tests (smtp-server on 127.0.0.1, no auth, no TLS) that records what it
// receives, so a test asserts the email a user would get. It can also refuse or slow down delivery,
// which is how retry, dead-letter and backpressure paths are tested against real SMTP replies.
import { EventEmitter, once } from 'node:events';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface SmtpMessage {
  envelopeFrom: string;
  envelopeTo: string[];
  /** The message exactly as received (headers and body). */
  raw: Buffer;
  /** Header values by lowercase name (first occurrence; folded lines joined, not decoded). */
  headers: Record<string, string>;
  /** Every header in order, for repeated ones such as Received. */
  headerList: Array<[name: string, value: string]>;
  /** Subject with RFC 2047 encoded words decoded. */
  subject: string;
  /** Everything after the header block, as sent (transfer encoding not undone). */
  body: string;
  receivedAt: Date;
}

export interface SmtpSinkOptions {
  /** Delay before each answer to DATA, as setDelay(). */
  delayMs?: number;
}

export interface SmtpSink {
  /** `smtp://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Accepted messages, in arrival order. */
  messages: SmtpMessage[];
  /** Resolves with the messages once at least `count` have arrived; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<SmtpMessage[]>;
  /** The next `count` messages are answered with `code` at end of DATA and not recorded. */
  failNext(count: number, code?: number, text?: string): void;
  /** Answer each DATA only after `ms` (a slow provider). */
  setDelay(ms: number): void;
  clear(): void;
  close(): Promise<void>;
}

/** Splits the header block from the body and unfolds continuation lines. */
export function parseHeaders(raw: Buffer | string): {
  headers: Record<string, string>;
  headerList: Array<[string, string]>;
  body: string;
} {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const match = /\r?\n\r?\n/.exec(text);
  const head = match ? text.slice(0, match.index) : text;
  const body = match ? text.slice(match.index + match[0].length) : '';
  const headerList: Array<[string, string]> = [];
  for (const line of head.split(/\r?\n/)) {
    const last = headerList.at(-1);
    if (/^[ \t]/.test(line) && last) {
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) headerList.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of headerList) headers[name.toLowerCase()] ??= value;
  return { headers, headerList, body };
}

/** Decodes RFC 2047 encoded words (=?charset?B|Q?...?=) as UTF-8. */
export function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2') // whitespace between adjacent encoded words is not content
    .replace(
      /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g,
      (_all, _charset: string, enc: string, data: string) => {
        if (enc.toUpperCase() === 'B') return Buffer.from(data, 'base64').toString('utf8');
        const bytes = data
          .replace(/_/g, ' ')
          .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        return Buffer.from(bytes, 'latin1').toString('utf8');
      },
    );
}

function addressOf(address: false | { address: string }): string {
  return address ? address.address : '';
}

type SmtpError = Error & { responseCode?: number };

/** Starts the sink on 127.0.0.1 and a free port. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: SmtpMessage[] = [];
  const arrivals = new EventEmitter();
  const failures: Array<{ code: number; text: string }> = [];
  let delayMs = options.delayMs ?? 0;

  const server = new SMTPServer({
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const answer = () => {
          const failure = failures.shift();
          if (failure) {
            const error: SmtpError = new Error(failure.text);
            error.responseCode = failure.code;
            callback(error);
            return;
          }
          const raw = Buffer.concat(chunks);
          const { headers, headerList, body } = parseHeaders(raw);
          messages.push({
            envelopeFrom: addressOf(session.envelope.mailFrom),
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            raw,
            headers,
            headerList,
            subject: decodeWords(headers.subject ?? ''),
            body,
            receivedAt: new Date(),
          });
          arrivals.emit('message');
          callback(null, 'OK: queued');
        };
        if (delayMs > 0) setTimeout(answer, delayMs);
        else answer();
      });
    },
  });

  // smtp-server re-emits socket errors on the server; without a listener a client that dies
  // mid-session (a notification-service SIGKILLed with pooled connections) would crash the test
  // process. A reset by the peer is the client's business, not the sink's.
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.code === 'ETIMEDOUT') return;
    console.warn(`SMTP sink: ${error.message}`);
  });

  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    waitFor(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          arrivals.off('message', check);
          resolve([...messages]);
        };
        const timer = setTimeout(() => {
          arrivals.off('message', check);
          reject(
            new Error(
              `SMTP sink: expected ${count} message(s) within ${timeoutMs} ms, ${messages.length} arrived`,
            ),
          );
        }, timeoutMs);
        arrivals.on('message', check);
        check();
      });
    },
    failNext(count, code = 451, text) {
      if (!Number.isInteger(count) || count < 0)
        throw new Error(`count must be >= 0, got ${count}`);
      if (!Number.isInteger(code) || code < 400 || code > 599) {
        throw new Error(`code must be an SMTP 4xx or 5xx reply code, got ${code}`);
      }
      const reply = text ?? (code < 500 ? 'Temporary failure, try again later' : 'Rejected');
      for (let i = 0; i < count; i++) failures.push({ code, text: reply });
    },
    setDelay(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`delay must be >= 0 ms, got ${ms}`);
      delayMs = ms;
    },
    clear() {
      messages.length = 0;
      failures.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
