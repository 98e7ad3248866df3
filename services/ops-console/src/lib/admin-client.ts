// The client of notification-service's admin API, the only way the console changes anything: a
// dry run (the API's own, recorded there), a redrive started as a background job (202 + Location),
// the job's status and its cancellation, each with ADMIN_TOKEN. A problem the API answers for the
// client's sake (409 a redrive is running, 404 no such job, 400 a bad filter) is passed on with
// its status and code; a refused token is the console's misconfiguration (502); no answer is 503.
import { errors } from '../errors.js';

export interface AdminFilter {
  subject?: string;
  reason?: string;
  since?: string;
  until?: string;
  seqs?: number[];
  limit?: number;
}

export interface DryRunItem {
  seq: number;
  subject: string;
  deadLetteredAt: string;
  originalSubject: string | null;
  originalStream: string | null;
  originalSeq: number | null;
  consumer: string | null;
  deliveries: number | null;
  reason: string | null;
  newMsgId: string;
  skipped?: string;
}

export interface DryRun {
  batchId: string;
  dryRun: true;
  selected: number;
  items: DryRunItem[];
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RedriveJob {
  id: string;
  status: JobStatus;
  actor: string;
  filter: AdminFilter;
  rate: number;
  total: number;
  moved: number;
  failed: number;
  skipped: number;
  lastError: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function isFinished(status: JobStatus): boolean {
  return status !== 'queued' && status !== 'running';
}

export interface AdminClientOptions {
  baseUrl: string;
  token: string | undefined;
  timeoutMs: number;
}

/** Problem codes of the admin API that are the client's doing and keep their status here. */
const PASSED_ON = new Set([
  'REDRIVE_IN_PROGRESS',
  'REDRIVE_NOT_FOUND',
  'REDRIVE_FINISHED',
  'INVALID_FILTER',
  'VALIDATION_FAILED',
  'STREAM_NOT_PROVISIONED',
]);

export class AdminClient {
  constructor(private readonly o: AdminClientOptions) {}

  get enabled(): boolean {
    return this.o.token !== undefined;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    if (!this.o.token) throw errors.redriveDisabled();
    let res: Response;
    try {
      res = await fetch(new URL(path, this.o.baseUrl), {
        method,
        headers: {
          authorization: `Bearer ${this.o.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (err) {
      throw errors.notificationUnavailable((err as Error).message);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    const problem = json as
      { code?: string; title?: string; detail?: string; jobId?: string } | undefined;
    if (problem?.code && PASSED_ON.has(problem.code) && res.status < 600) {
      throw errors.fromAdmin(
        problem.code === 'VALIDATION_FAILED' ? 400 : res.status,
        problem.code === 'VALIDATION_FAILED' ? 'INVALID_SELECTION' : problem.code,
        problem.title ?? 'Refused by notification-service',
        problem.detail,
        problem.jobId ? { jobId: problem.jobId } : undefined,
      );
    }
    if (res.status >= 500 || res.status === 429) {
      throw errors.notificationUnavailable(`${res.status} ${problem?.code ?? ''}`.trim());
    }
    throw errors.adminRefused(res.status);
  }

  dryRun(filter: AdminFilter, actor: string): Promise<DryRun> {
    return this.call('POST', '/admin/deadletters/redrive', { filter, dryRun: true, actor });
  }

  startRedrive(filter: AdminFilter, rate: number, actor: string): Promise<RedriveJob> {
    return this.call('POST', '/admin/deadletters/redrive', {
      filter,
      dryRun: false,
      rate,
      actor,
    });
  }

  job(id: string): Promise<RedriveJob> {
    return this.call('GET', `/admin/redrives/${encodeURIComponent(id)}`);
  }

  cancel(id: string): Promise<RedriveJob> {
    return this.call('POST', `/admin/redrives/${encodeURIComponent(id)}/cancel`);
  }
}
