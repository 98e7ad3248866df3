// The line every answered request writes at `info`, built directly rather than through pino's
// generic path. It is the one line a busy service writes per request, and in the CPU profile of a
// cached read pino's path for it (the `log` formatter's walk for secrets, the serializers, a
// JSON.stringify per object, the loop over the fields) was 6.4 µs of a 61 µs tier hit: the most
// of what logging at `info` cost (README, Performance). Built here it is a few concatenations.
//
// The bytes are pino's own for `log.info({ req, res, responseTime }, 'request completed')` under
// `loggerOptions` (a test compares the two for awkward URLs and addresses), and they go to pino's
// stream of that logger the way pino writes them, so the order of lines, the batching and the
// flush on exit and on errors (log-destination.ts) stay as they are. `accessLineFor` says when
// the shortcut is exact: the platform's own pino options (only the level changed) and a request
// logger that adds no serializers of its own (a route's `logSerializers`) or message prefix.
// Anything else takes pino's path.
import pino, { type Logger } from 'pino';
import { requestFields, type LoggedRequest, type RequestFields } from './logger.js';

const { chindingsSym, streamSym, serializersSym } = pino.symbols;
// pino exports it in `symbols` without declaring it in its types.
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol>).msgPrefixSym;
const NEEDS_METADATA = Symbol.for('pino.metadata');
const INFO = 30;
const LEVEL_INFO = '{"level":"info"';
/** What the timestamp function's output starts with (pino's `lastTime` is the rest). */
const TIME_PREFIX = ',"time":';
const MESSAGE = ',"msg":"request completed"}\n';

interface MetadataStream {
  write(line: string): void;
  lastLevel?: number;
  lastObj?: object;
  lastMsg?: string;
  lastTime?: string;
  lastLogger?: Logger;
}

/** What pino keeps under its symbols, read as it reads them itself (no object per request). */
const slots = (log: Logger): Record<symbol, unknown> => log as unknown as Record<symbol, unknown>;

/** A string as pino writes one: JSON.stringify's output (pino's escaper agrees with it). */
const asString = (s: string): string => JSON.stringify(s);

export interface RequestCompleted {
  /** The `req` serializer's output (logger.ts `requestFields`). */
  req: RequestFields;
  statusCode: number;
  responseTime: number;
}

/** The access line's JSON object members after `time` and the bindings (req, res, responseTime). */
function members({
  req: { method, url, remoteAddress },
  statusCode,
  responseTime,
}: RequestCompleted) {
  let req = '';
  if (method !== undefined) req += `"method":${asString(method)}`;
  if (url !== undefined) req += `${req ? ',' : ''}"url":${asString(url)}`;
  if (remoteAddress !== undefined) {
    req += `${req ? ',' : ''}"remoteAddress":${asString(remoteAddress)}`;
  }
  const time = Number.isFinite(responseTime) ? String(responseTime) : 'null';
  return `,"req":{${req}},"res":{"statusCode":${statusCode}},"responseTime":${time}`;
}

/**
 * Writes a request's access line and returns true, or returns false for pino's path to write it.
 * The fields are taken from the request only when the line is written here.
 */
export type AccessLine = (
  log: Logger,
  req: LoggedRequest,
  statusCode: number,
  responseTime: number,
) => boolean;

/**
 * A writer of the access line for loggers made from `root` (a Fastify app's logger made with
 * `loggerOptions`, only the level changed: the caller checks), `time` being its `timestamp`.
 */
export function accessLineFor(root: Logger, time: () => string): AccessLine {
  const rootSerializers = slots(root)[serializersSym];
  return (log, req, statusCode, responseTime) => {
    const own = slots(log);
    if (own[serializersSym] !== rootSerializers || (msgPrefixSym && own[msgPrefixSym])) {
      return false;
    }
    if (log.levelVal > INFO) return true; // info is off: pino would write nothing either
    const line: RequestCompleted = { req: requestFields(req), statusCode, responseTime };
    const t = time();
    const stream = own[streamSym] as MetadataStream;
    if ((stream as unknown as Record<symbol, unknown>)[NEEDS_METADATA] === true) {
      stream.lastLevel = INFO;
      stream.lastMsg = 'request completed';
      stream.lastTime = t.slice(TIME_PREFIX.length);
      stream.lastLogger = log;
      stream.lastObj = line; // pino's is the object it logged; this holds the same fields
    }
    stream.write(LEVEL_INFO + t + (own[chindingsSym] as string) + members(line) + MESSAGE);
    return true;
  };
}
