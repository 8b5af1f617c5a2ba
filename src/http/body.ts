import type { MiddlewareHandler } from 'hono';
import { problem, ProblemError } from '../lib/problem';
import { concatBytes } from '../lib/encoding';

export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * How much of an oversized body is read and thrown away before the 413 goes out. A server that
 * answers and closes while the client is still writing makes most HTTP clients report a broken pipe
 * instead of the 413; past this much, closing is the cheaper evil.
 */
export const DRAIN_OVERSIZED_BYTES = 8 * 1024 * 1024;

/**
 * Reads the raw body, refusing more than `limit` bytes whether or not Content-Length says so. A body
 * that breaks off (the client went away, or sent less than its Content-Length and hung up) is the
 * client's doing: 400 `incomplete_body`, never a 500 logged as an unhandled error.
 */
export async function readBody(request: Request, limit = MAX_BODY_BYTES): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await readWithin(request, limit);
  } catch (error) {
    if (error instanceof ProblemError) throw error;
    throw new ProblemError(problem(400, 'incomplete_body', `the request body broke off before its end: ${String(error)}`));
  }
}

async function readWithin(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const header = request.headers.get('content-length');
  const declared = header === null ? NaN : Number(header);
  // HTTP framing ends the body at Content-Length, so a declared length within the limit bounds what
  // arrayBuffer() can read, and the runtime reads it in one native call instead of a chunk loop
  // (without making a stream object for `request.body` first: that costs every ingest request)
  if (Number.isSafeInteger(declared) && declared >= 0 && declared <= limit) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    // a Request built in code (a service binding, a test) is not framed by the header
    if (bytes.length > limit) throw tooLarge(limit);
    return bytes;
  }
  if (!request.body) return new Uint8Array(0);
  const reader = () => request.body!.getReader();
  if (declared > limit) return refuse(reader(), 0, limit);
  const stream = reader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await stream.read();
    if (done) break;
    size += value.length;
    if (size > limit) return refuse(stream, size, limit);
    chunks.push(value);
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array<ArrayBuffer>) : concatBytes(...chunks);
}

function tooLarge(limit: number): ProblemError {
  return new ProblemError(problem(413, 'payload_too_large', `the body exceeds ${limit} bytes`));
}

/** Drains (up to DRAIN_OVERSIZED_BYTES) what the client is still sending, then refuses the body. */
async function refuse(stream: ReadableStreamDefaultReader<Uint8Array>, alreadyRead: number, limit: number): Promise<never> {
  await drain(stream, alreadyRead);
  throw tooLarge(limit);
}

/** Reads and throws away what the client is still sending, up to DRAIN_OVERSIZED_BYTES in all; never throws. */
async function drain(stream: ReadableStreamDefaultReader<Uint8Array>, alreadyRead: number): Promise<void> {
  let read = alreadyRead;
  try {
    while (read < DRAIN_OVERSIZED_BYTES) {
      const { done, value } = await stream.read();
      if (done) return;
      read += value.length;
    }
    await stream.cancel();
  } catch {
    // the client went away mid-body: nobody is left to read the answer
  }
}

/**
 * Middleware: a request answered without its body being read (a 401 or a malformed id refused
 * before the body, a route that does not exist) has its body drained before the answer goes out, so
 * the client sees the answer instead of a broken pipe.
 */
export const drainUnreadBody: MiddlewareHandler = async function drainUnreadBody(c, next) {
  await next();
  await drainIfUnread(c.req.raw);
};

/** What `drainUnreadBody` does after the answer is made, for a path that skips the middleware (app.ts). */
export async function drainIfUnread(request: Request): Promise<void> {
  if (!request.bodyUsed && request.body) await drain(request.body.getReader(), 0);
}
