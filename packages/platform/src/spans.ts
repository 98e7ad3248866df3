// The spans the instrumentations cannot see (the outbox, JetStream publish and consume, the cache
// decision, the claim, the SMTP send, dead letters and redrives), on the OpenTelemetry API. Every
// helper first asks `tracingEnabled()`: with tracing off a hot path makes no span, not even a
// no-op one, and pays one boolean check. The trace context travels in message headers as W3C
// `traceparent`/`tracestate`, as the HTTP instrumentation carries it in request headers.
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { tracingEnabled } from './telemetry.js';

export { SpanKind, type Span };

const tracer = () => trace.getTracer('@app/platform');

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default: the active context. */
  parent?: Context;
  links?: Link[];
}

/**
 * Runs `fn` inside a new active span named `name` (ended when `fn` settles, marked as an error when
 * it throws); with tracing off, just runs `fn` with no span. Options may be a function, called only
 * when a span is made: a hot path builds no attributes while tracing is off.
 */
export function withSpan<T>(
  name: string,
  spanOptions: SpanOptions | (() => SpanOptions),
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  // Not async itself: with tracing off the call is fn's own promise, with no wrapping promise and
  // await (95 ns per call as an async function, in `pnpm bench tracing-overhead`).
  if (!tracingEnabled()) return fn(undefined);
  return traced(name, spanOptions, fn);
}

async function traced<T>(
  name: string,
  spanOptions: SpanOptions | (() => SpanOptions),
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  const options = typeof spanOptions === 'function' ? spanOptions() : spanOptions;
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

/** Adds attributes to the active span (the request's, inside a route), if tracing is on. */
export function annotateSpan(attributes: Attributes): void {
  if (!tracingEnabled()) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** Header names and values as NATS headers, a Map or a plain object hold them. */
export interface HeaderCarrier {
  get(key: string): string | undefined;
}

/** The context a message's `traceparent`/`tracestate` headers name (the root one if none). */
export function contextFromHeaders(headers: HeaderCarrier | undefined): Context {
  if (!tracingEnabled() || headers === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, {
    get: (carrier, key) => carrier.get(key) || undefined,
    keys: () => ['traceparent', 'tracestate'],
  });
}

/** The active span's `traceparent`/`tracestate`, to write into a message or a row's headers. */
export function activeTraceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (tracingEnabled()) propagation.inject(context.active(), carrier);
  return carrier;
}

/** A link to the active span (a dead letter's copy to the advisory's delivery), if traced. */
export function activeSpanLink(): Link[] {
  const spanContext = tracingEnabled() ? trace.getActiveSpan()?.spanContext() : undefined;
  return spanContext === undefined ? [] : [{ context: spanContext }];
}
