// A small HTTP client over node:http for the suite: raw paths and header values go out as given
// (fuzzing needs that), bodies come back as text, and a network failure rejects with its code
// (ECONNREFUSED, ECONNRESET, TIMEOUT) so that load records can tell "no answer" from "an answer".
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface HttpOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  timeoutMs?: number;
  /** Default: a fresh connection per request (no keep-alive). */
  agent?: Agent | false;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class NetworkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

export function keepAliveAgent(maxSockets = 8): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

export function httpRequest(baseUrl: string, options: HttpOptions = {}): Promise<HttpResponse> {
  const base = new URL(baseUrl);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let req;
    try {
      req = request(
        {
          host: base.hostname,
          port: base.port,
          method: options.method ?? 'GET',
          path: options.path ?? '/',
          headers: options.headers ?? {},
          agent: options.agent ?? false,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err: NodeJS.ErrnoException) =>
            reject(new NetworkError(err.code ?? 'ERESPONSE', err.message)),
          );
        },
      );
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    req.on('timeout', () =>
      req.destroy(new NetworkError('TIMEOUT', `timed out after ${timeoutMs} ms`)),
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof NetworkError ? err : new NetworkError(err.code ?? 'ENET', err.message)),
    );
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

export function json(body: unknown): { body: string; headers: OutgoingHttpHeaders } {
  return { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}

/** Parses a response body as JSON, or undefined. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Why an error response is not a proper problem+json, or undefined when it is one. */
export function problemViolation(res: HttpResponse): string | undefined {
  if (res.status < 400) return undefined;
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) return `content-type "${type}"`;
  const body = parseJson(res.body) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return 'body is not JSON';
  if (body.status !== res.status) return `body.status ${String(body.status)} != ${res.status}`;
  if (typeof body.code !== 'string' || typeof body.title !== 'string') return 'no code/title';
  // A stack trace or a file path in an answer tells an attacker how the service is built.
  if (/\bat .+\(.+:\d+:\d+\)|node_modules|\/src\/.+\.ts/.test(res.body)) return 'leaks a stack';
  return undefined;
}
