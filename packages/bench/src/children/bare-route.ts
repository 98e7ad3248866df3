// The bare route of the profile-read benchmark: each hot id answered with the JSON the service
// gives for it (read from BENCH_BODY_FILE, `{ id: body }`), from a Map in memory, and nothing else:
// no schema, no cache, no extra headers. Each id has its own body, as the service sends, since one
// constant string for every id is faster than any real route. The file is read at the first
// request: the bench writes it from the service's answers before it sends one.
import { readFileSync } from 'node:fs';
import type { App } from '@app/platform';

export function addBareRoute(app: App, path: string): void {
  const bodyFile = process.env.BENCH_BODY_FILE;
  if (!bodyFile) throw new Error('BENCH_BODY_FILE must name a JSON file: { id: body }');
  let bodies: Map<string, string> | undefined;
  app.get<{ Params: { id: string } }>(path, async (request, reply) => {
    bodies ??= new Map(
      Object.entries(JSON.parse(readFileSync(bodyFile, 'utf8')) as Record<string, string>),
    );
    const body = bodies.get(request.params.id);
    if (body === undefined) return reply.code(404).send();
    return reply.type('application/json; charset=utf-8').send(body);
  });
}
