// A steady, bounded load of signups, profile reads and (optionally) profile updates against the
// real services: open loop at a fixed rate (a fault does not slow the offered load down), capped
// in flight so that an outage cannot pile up unbounded requests, and every request recorded with when it started, when it
// ended and what came back, which is what the scenario checks count afterwards.
//
// Raw node:http (./http.ts), not the typed client of @app/client, on purpose: each request gets a
// fresh connection (no keep-alive pool hiding a restart or a cut), a failure keeps its socket
// error code (ECONNREFUSED, ECONNRESET, TIMEOUT: "no answer" as the scenarios count it), and an
// error answer's body is checked as the bytes that came back (problemViolation), not as parsed.
import { randomUUID } from 'node:crypto';
import { httpRequest, NetworkError, problemViolation, type HttpResponse } from './http.js';

export type RequestKind = 'signup' | 'read' | 'update';

export interface RequestRecord {
  /** Sent as `x-request-id`, so the service's request log shows whether it ever got the request. */
  id: string;
  kind: RequestKind;
  target: 'signup-service' | 'profile-service';
  startedAt: number;
  endedAt: number;
  /** HTTP status, or undefined when no answer came (then `error` says why). */
  status?: number;
  error?: string;
  /** Set when an error answer is not problem+json. */
  problem?: string;
  email?: string;
  userId?: string;
}

export interface LoadOptions {
  signupUrl: string;
  profileUrl: string;
  /** Every signup's email is `<tag>-<n>-<random>@reliability.example`. */
  tag: string;
  signupsPerSecond: number;
  readsPerSecond: number;
  /** Profile updates (PATCH by the owner, with the token its signup returned); default none. */
  updatesPerSecond?: number;
  maxInFlight?: number;
  timeoutMs?: number;
  password?: string;
}

export const LOAD_PASSWORD = 'Reliability pass 9!';

export class Load {
  readonly records: RequestRecord[] = [];
  /** Requests not sent because maxInFlight was reached. */
  shed = 0;
  private readonly userIds: string[] = [];
  private readonly tokens: Array<{ userId: string; token: string }> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private sent = { signup: 0, read: 0, update: 0 };
  private n = 0;

  constructor(private readonly o: LoadOptions) {}

  start(): this {
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.tick(), 20);
    return this;
  }

  /** Stops issuing requests and waits for the ones in flight (bounded by their timeout). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
  }

  /** One signup outside the steady rate (recovery probes); recorded like the others. */
  signup(): Promise<RequestRecord> {
    return this.track(this.doSignup());
  }

  signups(): RequestRecord[] {
    return this.records.filter((r) => r.kind === 'signup');
  }

  private tick(): void {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const max = this.o.maxInFlight ?? 64;
    const due = (kind: RequestKind, rate: number) => Math.floor(elapsed * rate) - this.sent[kind];
    for (let i = due('signup', this.o.signupsPerSecond); i > 0; i--) {
      this.sent.signup++;
      if (this.inFlight.size >= max) this.shed++;
      else void this.track(this.doSignup());
    }
    for (let i = due('read', this.o.readsPerSecond); i > 0; i--) {
      this.sent.read++;
      if (this.inFlight.size >= max) this.shed++;
      else void this.track(this.doRead());
    }
    for (let i = due('update', this.o.updatesPerSecond ?? 0); i > 0; i--) {
      this.sent.update++;
      if (this.inFlight.size >= max || this.tokens.length === 0) this.shed++;
      else void this.track(this.doUpdate());
    }
  }

  private track(p: Promise<RequestRecord>): Promise<RequestRecord> {
    const done = p.then(() => undefined);
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return p;
  }

  private async send(
    record: RequestRecord,
    url: string,
    path: string,
    init: { method?: string; body?: string; headers?: Record<string, string> },
  ): Promise<HttpResponse | undefined> {
    try {
      const res = await httpRequest(url, {
        ...init,
        headers: { ...init.headers, 'x-request-id': record.id },
        path,
        timeoutMs: this.o.timeoutMs ?? 15_000,
      });
      record.status = res.status;
      const violation = problemViolation(res);
      if (violation) record.problem = violation;
      return res;
    } catch (error) {
      record.error = error instanceof NetworkError ? error.code : (error as Error).message;
      return undefined;
    } finally {
      record.endedAt = Date.now();
      this.records.push(record);
    }
  }

  private async doSignup(): Promise<RequestRecord> {
    const n = ++this.n;
    const email = `${this.o.tag}-${n}-${randomUUID().slice(0, 8)}@reliability.example`;
    const record: RequestRecord = {
      id: randomUUID(),
      kind: 'signup',
      target: 'signup-service',
      startedAt: Date.now(),
      endedAt: 0,
      email,
    };
    const res = await this.send(record, this.o.signupUrl, '/v1/signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email,
        password: this.o.password ?? LOAD_PASSWORD,
        displayName: `Load ${n}`,
      }),
    });
    if (res?.status === 201) {
      const body = JSON.parse(res.body) as { userId: string; accessToken: string };
      record.userId = body.userId;
      this.userIds.push(body.userId);
      this.tokens.push({ userId: body.userId, token: body.accessToken });
    }
    return record;
  }

  private async doUpdate(): Promise<RequestRecord> {
    const { userId, token } = this.tokens[Math.floor(Math.random() * this.tokens.length)]!;
    const record: RequestRecord = {
      id: randomUUID(),
      kind: 'update',
      target: 'profile-service',
      startedAt: Date.now(),
      endedAt: 0,
      userId,
    };
    await this.send(record, this.o.profileUrl, `/v1/profiles/${userId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ bio: `updated ${++this.n}` }),
    });
    return record;
  }

  private async doRead(): Promise<RequestRecord> {
    // Mostly known users (cache hits and misses), one in ten unknown (404, negative cache).
    const known = this.userIds.length > 0 && Math.random() < 0.9;
    const id = known
      ? this.userIds[Math.floor(Math.random() * this.userIds.length)]!
      : randomUUID();
    const record: RequestRecord = {
      id: randomUUID(),
      kind: 'read',
      target: 'profile-service',
      startedAt: Date.now(),
      endedAt: 0,
    };
    await this.send(record, this.o.profileUrl, `/v1/profiles/${id}`, {});
    return record;
  }
}
