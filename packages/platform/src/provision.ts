// Idempotent JetStream provisioning: creates or updates every stream and consumer declared in
// @app/contracts, or (check mode) changes nothing and reports how the server differs from the
// declaration. Only the fields a declaration sets are compared: the server fills in the rest.
// A JetStream API call that gets no answer in time (a stream or consumer whose leader is being
// elected, as after a node restart in a cluster) is retried with backoff, one line per retry;
// what the server refuses is reported, never retried.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumerDeclaration, StreamDeclaration, Topology } from '@app/contracts';
import {
  JetStreamApiError,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { errors as natsErrors } from '@nats-io/transport-node';
import { backoffDelay } from './backoff.js';

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
/** "JetStream system temporarily unavailable": no meta or stream leader at the moment. */
const TEMPORARILY_UNAVAILABLE = 10008;

export type ProvisionKind = 'stream' | 'consumer';

export interface Drift {
  kind: ProvisionKind;
  /** A stream name, or `<stream>/<durable>` for a consumer. */
  name: string;
  /** The differing field; `exists` when the thing is missing altogether. */
  field: string;
  declared: unknown;
  actual: unknown;
}

export interface ProvisionResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  drift: Drift[];
  /** Things the server refused to change (e.g. a stream's storage type cannot change in place). */
  failed: Array<{ kind: ProvisionKind; name: string; error: string }>;
}

export interface ProvisionOptions {
  /** Report drift and change nothing. */
  check: boolean;
  /** Receives one human-readable line per stream/consumer, and one per retry. */
  log?: (line: string) => void;
  /**
   * How often a stream or consumer is tried when JetStream does not answer in time, and the
   * backoff between tries. Default 6 tries, 500 ms doubling to 5 s (about 12 s of waiting, plus
   * the client's request timeout per try).
   */
  retry?: { attempts: number; baseMs: number; maxMs: number };
}

const DEFAULT_RETRY = { attempts: 6, baseMs: 500, maxMs: 5000 };

/** No answer in time, or JetStream without a leader right now: worth another try. */
export function transientJetStreamError(err: unknown): boolean {
  if (err instanceof natsErrors.TimeoutError) return true;
  // No responders on $JS.API in the middle of a run: the server we reach lost JetStream for now
  // (the class is not exported by @nats-io/jetstream: its name is).
  if (err instanceof Error && err.name === 'JetStreamNotEnabled') return true;
  return (
    err instanceof JetStreamApiError && (err.code === TEMPORARILY_UNAVAILABLE || err.status === 503)
  );
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return [...value].map(normalise).sort();
  return value ?? null;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
}

/** The fields of `declared` whose values differ from `actual`. */
export function diffConfig(
  declared: Record<string, unknown>,
  actual: Record<string, unknown>,
): Array<{ field: string; declared: unknown; actual: unknown }> {
  const out: Array<{ field: string; declared: unknown; actual: unknown }> = [];
  for (const [field, value] of Object.entries(declared)) {
    if (value === undefined) continue;
    if (!same(value, actual[field])) out.push({ field, declared: value, actual: actual[field] });
  }
  return out;
}

function notFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function show(value: unknown): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}

async function streamConfig(
  jsm: JetStreamManager,
  name: string,
): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (notFound(err, STREAM_NOT_FOUND)) return undefined;
    throw err;
  }
}

async function consumerConfig(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<ConsumerConfig | undefined> {
  try {
    return (await jsm.consumers.info(stream, durable)).config;
  } catch (err) {
    if (notFound(err, CONSUMER_NOT_FOUND) || notFound(err, STREAM_NOT_FOUND)) return undefined;
    throw err;
  }
}

export async function provision(
  jsm: JetStreamManager,
  topology: Topology,
  options: ProvisionOptions,
): Promise<ProvisionResult> {
  const result: ProvisionResult = {
    created: [],
    updated: [],
    unchanged: [],
    drift: [],
    failed: [],
  };
  const log = options.log ?? (() => undefined);
  const retry = options.retry ?? DEFAULT_RETRY;

  const applyOnce = async (
    kind: ProvisionKind,
    name: string,
    declared: Record<string, unknown>,
    read: () => Promise<Record<string, unknown> | undefined>,
    create: () => Promise<unknown>,
    update: (changed: Record<string, unknown>) => Promise<unknown>,
  ) => {
    const actual = await read();
    if (actual === undefined) {
      if (options.check) {
        result.drift.push({ kind, name, field: 'exists', declared: true, actual: false });
        log(`${kind} ${name}: drift exists: declared true vs actual false (missing)`);
        return;
      }
      try {
        await create();
        result.created.push(name);
        log(`${kind} ${name}: created`);
      } catch (err) {
        // The next try reads again: a create that timed out may have been applied.
        if (transientJetStreamError(err)) throw err;
        result.failed.push({ kind, name, error: message(err) });
        log(`${kind} ${name}: FAILED to create: ${message(err)}`);
      }
      return;
    }
    const diffs = diffConfig(declared, actual);
    if (diffs.length === 0) {
      result.unchanged.push(name);
      log(`${kind} ${name}: unchanged`);
      return;
    }
    if (options.check) {
      for (const d of diffs) {
        result.drift.push({ kind, name, ...d });
        log(
          `${kind} ${name}: drift ${d.field}: declared ${show(d.declared)} vs actual ${show(d.actual)}`,
        );
      }
      return;
    }
    try {
      await update(Object.fromEntries(diffs.map((d) => [d.field, d.declared])));
      result.updated.push(name);
      log(`${kind} ${name}: updated ${diffs.map((d) => d.field).join(', ')}`);
    } catch (err) {
      if (transientJetStreamError(err)) throw err;
      // e.g. 2.9 refuses to change storage or retention in place: say which, do not crash.
      for (const d of diffs) result.drift.push({ kind, name, ...d });
      result.failed.push({ kind, name, error: message(err) });
      log(
        `${kind} ${name}: FAILED to update ${diffs.map((d) => d.field).join(', ')}: ${message(err)}` +
          ' (recreate it by hand if the server cannot change this in place)',
      );
    }
  };

  /** applyOnce, tried again (reading afresh) while JetStream does not answer in time. */
  const apply = async (...args: Parameters<typeof applyOnce>) => {
    const [kind, name] = args;
    for (let attempt = 1; ; attempt++) {
      try {
        return await applyOnce(...args);
      } catch (err) {
        if (!transientJetStreamError(err)) throw err;
        if (attempt >= retry.attempts) {
          throw new Error(
            `${kind} ${name}: ${message(err)} (JetStream did not answer in ${attempt} tries;` +
              ` is its leader being elected? see \`nats server report jetstream\`)`,
            { cause: err },
          );
        }
        const wait = backoffDelay(attempt, { baseMs: retry.baseMs, maxMs: retry.maxMs });
        log(
          `${kind} ${name}: ${message(err)}, retrying in ${wait} ms` +
            ` (try ${attempt + 1} of ${retry.attempts})`,
        );
        await sleep(wait);
      }
    }
  };

  for (const stream of topology.streams) {
    const { name, ...declared } = stream satisfies StreamDeclaration;
    await apply(
      'stream',
      name,
      declared,
      () => streamConfig(jsm, name),
      () => jsm.streams.add(stream),
      // Send the whole declaration: the client merges it into the current config.
      () => jsm.streams.update(name, declared),
    );
  }

  for (const consumer of topology.consumers) {
    const { stream, config } = consumer satisfies ConsumerDeclaration;
    const name = `${stream}/${config.durable_name}`;
    await apply(
      'consumer',
      name,
      config,
      () => consumerConfig(jsm, stream, config.durable_name),
      () => jsm.consumers.add(stream, config),
      (changed) => jsm.consumers.update(stream, config.durable_name, changed),
    );
  }

  return result;
}
