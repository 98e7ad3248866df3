// A lingering close for answers given before the request's body was read (413 body too large,
// 415 unsupported media type). Fastify marks those `Connection: close`; node then closes the socket
// while the client is still writing the body, the unread bytes make the kernel send a reset, and a
// client busy writing can lose the answer it was sent (EPIPE/ECONNRESET instead of the 413): a
// race that load makes likely. Like nginx's lingering_close, the answer is sent, the rest of the
// body is read and thrown away, bounded in bytes and in time, and only then is the socket closed;
// a client that sent its whole body keeps its kept-alive connection.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface LingerLimits {
  /** How long the rest of an unread body may take to arrive after the answer, at most. */
  ms: number;
  /** How many bytes of it are read and thrown away, at most. */
  maxBytes: number;
}

/** nginx's lingering_timeout is 5 s; 8 MiB is eight times the default body limit. */
export const DEFAULT_LINGER: LingerLimits = { ms: 5_000, maxBytes: 8 * 1024 * 1024 };

/** How often the bytes read are checked: node's parser discards them without an event. */
const POLL_MS = 20;

/** Errors Fastify gives before it reads a body. */
const BEFORE_BODY = new Set(['FST_ERR_CTP_BODY_TOO_LARGE', 'FST_ERR_CTP_INVALID_MEDIA_TYPE']);

/** Called by the error handler before it answers `code`; the answer then lingers if it must. */
export function lingerIfBodyUnread(
  code: string | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: LingerLimits = DEFAULT_LINGER,
): void {
  const raw = request.raw;
  if (code === undefined || !BEFORE_BODY.has(code) || raw.complete) return;
  // Kept alive, node reads the rest of the body (and discards it) once the answer has gone out.
  reply.removeHeader('connection');
  const follow = () => {
    if (raw.complete || raw.destroyed) return;
    const socket = raw.socket;
    const start = socket.bytesRead;
    const stop = () => {
      clearTimeout(timer);
      clearInterval(poll);
    };
    const cut = () => {
      stop();
      socket.destroy();
    };
    const timer = setTimeout(cut, limits.ms).unref();
    const poll = setInterval(() => {
      if (raw.complete) stop();
      else if (socket.bytesRead - start > limits.maxBytes) cut();
    }, POLL_MS).unref();
    raw.once('end', stop);
    socket.once('close', stop);
  };
  // After node's own work on 'finish' (it starts discarding the body), not before it.
  reply.raw.once('finish', () => setImmediate(follow));
}
