// The console's one script and one stylesheet, read from static/ once at start-up and served with
// an ETag (a changed file is fetched again, an unchanged one answers 304). Files, not inline
// blocks, so the Content-Security-Policy can forbid inline script and style.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { App } from '@app/platform';
import { serverAnswers } from '../schemas/console.js';

/** static/ beside src/ and dist/, so the same path works from the sources and the build. */
export const STATIC_DIR = new URL('../../static/', import.meta.url);

const FILES = [
  { file: 'console.js', type: 'text/javascript; charset=utf-8', media: 'text/javascript' },
  { file: 'console.css', type: 'text/css; charset=utf-8', media: 'text/css' },
];

export async function staticRoutes(app: App): Promise<void> {
  for (const { file, type, media } of FILES) {
    const body = await readFile(new URL(file, STATIC_DIR));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    app.get(
      `/static/${file}`,
      {
        logLevel: 'warn',
        schema: {
          summary: `The console's ${file}`,
          operationId: file === 'console.js' ? 'getScript' : 'getStylesheet',
          tags: ['console-pages'],
          security: [],
          response: {
            200: {
              description: `The ${media} file`,
              headers: { etag: { type: 'string', description: 'Its version', required: true } },
              content: { [media]: { schema: Type.String() } },
            },
            304: { type: 'null', description: 'Unchanged since the ETag the client has' },
            ...serverAnswers(),
          },
        },
      },
      async (request, reply) => {
        void reply.header('etag', etag).header('cache-control', 'no-cache');
        if (request.headers['if-none-match'] === etag) return reply.code(304).send();
        return reply.type(type).send(body);
      },
    );
  }
}
