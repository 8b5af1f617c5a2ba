/**
 * A small server that speaks the Upstash Redis REST protocol in front of a real Redis, so the
 * unmodified `@upstash/redis` and `@upstash/ratelimit` clients work against a local Redis in tests
 * and CI. No dependencies: a minimal RESP2 client over `node:net` with a small pipelined pool.
 *
 * Protocol (as `@upstash/redis` 1.39 speaks it):
 * - `POST /` with a JSON array body (`["SET","k","v"]`) runs one command -> `{result}`, or 400 `{error}`.
 * - `POST /pipeline` with an array of arrays -> 200 `[{result}|{error}, ...]` (not atomic).
 * - `POST /multi-exec` same body, run as MULTI ... EXEC -> 200 `[{result}|{error}, ...]`;
 *   a transaction Redis discards (EXECABORT) -> 400 `{error}`.
 * - `GET|POST /cmd/arg1/arg2?opt=val`: path segments are arguments, a POST body is appended as the
 *   last argument, query parameters follow as `OPT val` pairs.
 * - Auth: `Authorization: Bearer <token>` or `?_token=<token>`; otherwise 401 `{error}`.
 * - `Upstash-Encoding: base64`: every string in a result is base64 of its raw bytes, except the
 *   status reply `OK` (the client passes it through undecoded). Numbers and nulls stay as they are.
 * - Redis unreachable or too slow: 503 `{error}` after at most `timeoutMs`.
 * - Lua scripts: Upstash accepts its own shebang flag `allow-key-locking` (every script of
 *   `@upstash/ratelimit` 2.x starts with `#!lua flags=allow-key-locking`), which Redis refuses. Flags
 *   Redis does not know are dropped before EVAL / SCRIPT LOAD, and EVALSHA / SCRIPT EXISTS with the
 *   SHA1 of the client's text are mapped to the SHA1 of the text Redis ran; SCRIPT LOAD answers the
 *   client's SHA1. Shebangs need Redis >= 7.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface UpstashRestOptions {
  port?: number;
  host?: string;
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`); default `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  token: string;
  /** Pooled Redis connections; default 4. */
  poolSize?: number;
  /** Longest wait for Redis per request before answering 503; default 3000 ms. Blocking commands are exempt. */
  timeoutMs?: number;
}

export interface UpstashRestStats {
  /** HTTP requests received. */
  requests: number;
  /** Redis commands run for clients. */
  commands: number;
  /** Redis error replies handed back to clients. */
  commandErrors: number;
  /** Requests refused before reaching Redis (auth, malformed body, unsupported command). */
  rejected: number;
  /** Requests answered 503 because Redis was unreachable or timed out. */
  unavailable: number;
  /** Open Redis connections. */
  connections: number;
}

export interface UpstashRest {
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): UpstashRestStats;
}

// ---------------------------------------------------------------------------------------------
// RESP2

export type Arg = string | Buffer;
/** Simple strings are `string`, bulk strings `Buffer`: the base64 rule needs to tell them apart. */
export type Reply = string | Buffer | number | null | ReplyError | Reply[];

/** An error reply from Redis (`-ERR ...`): a result for the client, not a failure of the link. */
export class ReplyError extends Error {
  override name = 'ReplyError';
}

/** Redis could not be reached or did not answer in time. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

const CRLF = Buffer.from('\r\n');

export function encodeCommand(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

interface Parsed {
  value: Reply;
  end: number;
}

/** One complete reply starting at `start`, or undefined if the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, start: number): Parsed | undefined {
  const lineEnd = buf.indexOf(CRLF, start);
  if (lineEnd < 0) return undefined;
  const line = buf.toString('utf8', start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (buf[start]) {
    case 0x2b: // +
      return { value: line, end: next };
    case 0x2d: // -
      return { value: new ReplyError(line), end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.subarray(next, next + length), end: next + length + 2 };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new RedisUnavailableError(`RESP protocol error: unexpected byte 0x${(buf[start] ?? 0).toString(16)}`);
  }
}

interface Batch {
  expected: number;
  replies: Reply[];
  resolve(replies: Reply[]): void;
  reject(error: Error): void;
}

/**
 * One Redis connection with pipelining: batches are written whole and in order, and Redis answers
 * in order, so replies are matched to batches FIFO.
 */
class RedisConnection {
  private readonly socket: Socket;
  private readonly queue: Batch[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  failure: Error | undefined;

  constructor(target: URL, onClose: (connection: RedisConnection) => void) {
    const host = target.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(target.port || 6379);
    this.socket = target.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.destroy(new RedisUnavailableError(`Redis unavailable at ${host}:${port}: ${error.message}`)));
    this.socket.on('close', () => {
      this.destroy(new RedisUnavailableError(`Redis connection to ${host}:${port} closed`));
      onClose(this);
    });
    // written first on the socket, so these replies come back before any caller's
    const handshake: Arg[][] = [];
    const user = decodeURIComponent(target.username);
    const password = decodeURIComponent(target.password);
    if (password) handshake.push(user ? ['AUTH', user, password] : ['AUTH', password]);
    const db = Number(target.pathname.slice(1) || 0);
    if (db) handshake.push(['SELECT', String(db)]);
    if (handshake.length) {
      this.send(handshake).then(
        (replies) => {
          const error = replies.find((r) => r instanceof ReplyError);
          if (error) this.destroy(new RedisUnavailableError(`Redis handshake failed: ${error.message}`));
        },
        () => {},
      );
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  send(commands: readonly (readonly Arg[])[]): Promise<Reply[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ expected: commands.length, replies: [], resolve, reject });
      this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    });
  }

  destroy(error: Error): void {
    this.failure ??= error;
    for (const batch of this.queue.splice(0)) batch.reject(this.failure);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    try {
      for (let parsed = parseReply(this.buffer, 0); parsed; parsed = parseReply(this.buffer, offset)) {
        offset = parsed.end;
        const batch = this.queue[0];
        if (!batch) throw new RedisUnavailableError('Redis sent a reply nobody asked for');
        batch.replies.push(parsed.value);
        if (batch.replies.length === batch.expected) {
          this.queue.shift();
          batch.resolve(batch.replies);
        }
      }
    } catch (error) {
      this.destroy(error instanceof Error ? error : new RedisUnavailableError(String(error)));
      return;
    }
    this.buffer = this.buffer.subarray(offset);
  }
}

/** A few long-lived pipelined connections, replaced lazily when they die. */
class RedisPool {
  private readonly slots: (RedisConnection | undefined)[];
  private readonly target: URL;
  private readonly timeoutMs: number;
  private readonly extra = new Set<RedisConnection>();

  constructor(target: URL, size: number, timeoutMs: number) {
    this.target = target;
    this.slots = new Array<RedisConnection | undefined>(Math.max(1, size)).fill(undefined);
    this.timeoutMs = timeoutMs;
  }

  get connections(): number {
    return this.slots.filter((c) => c && !c.failure).length + this.extra.size;
  }

  /**
   * Runs a batch on a pooled connection. The batch is written contiguously on one connection, so
   * a MULTI ... EXEC batch is never interleaved with other clients' commands (Redis keeps
   * transaction state per connection).
   */
  exec(commands: readonly (readonly Arg[])[]): Promise<Reply[]> {
    const connection = this.pick();
    return withTimeout(connection.send(commands), this.timeoutMs, (error) => connection.destroy(error));
  }

  /** Blocking commands (BLPOP, XREAD BLOCK ...) would stall a shared connection: give them their own. */
  async dedicated(commands: readonly (readonly Arg[])[]): Promise<Reply[]> {
    const connection = new RedisConnection(this.target, (c) => this.extra.delete(c));
    this.extra.add(connection);
    try {
      return await connection.send(commands);
    } finally {
      connection.destroy(new RedisUnavailableError('connection released'));
    }
  }

  close(): void {
    const closed = new RedisUnavailableError('server closed');
    for (const connection of [...this.slots, ...this.extra]) connection?.destroy(closed);
  }

  private pick(): RedisConnection {
    let best: RedisConnection | undefined;
    let free = -1;
    for (const [index, connection] of this.slots.entries()) {
      if (!connection || connection.failure) {
        if (free < 0) free = index;
      } else if (!best || connection.pending < best.pending) {
        best = connection;
      }
    }
    if (best && (best.pending === 0 || free < 0)) return best;
    const connection = new RedisConnection(this.target, (c) => {
      const index = this.slots.indexOf(c);
      if (index >= 0) this.slots[index] = undefined;
    });
    this.slots[free] = connection;
    return connection;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: (error: Error) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      // a late reply can no longer be matched to this request: drop the whole connection
      const error = new RedisUnavailableError(`Redis did not answer within ${ms} ms`);
      onTimeout(error);
      reject(error);
    }, ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** 4xx before any command reaches Redis. */
class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type JsonValue = string | number | null | JsonValue[];
type Entry = { result: JsonValue } | { error: string };

const BLOCKING = new Set(['BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BLMOVE', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP', 'WAIT', 'WAITAOF']);
/** Commands that change the state of a shared connection (or its reply stream) for everyone on it. */
const UNSUPPORTED = new Set([
  'SUBSCRIBE',
  'PSUBSCRIBE',
  'SSUBSCRIBE',
  'UNSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SUNSUBSCRIBE',
  'MONITOR',
  'SELECT',
  'AUTH',
  'HELLO',
  'RESET',
  'QUIT',
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'SYNC',
  'PSYNC',
]);
const MAX_BODY = 16 * 1024 * 1024;
const REDIS_SCRIPT_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

function sha1(source: Arg): string {
  return createHash('sha1').update(source).digest('hex');
}

/** `#!lua flags=allow-key-locking,no-writes` -> `#!lua flags=no-writes`; anything else unchanged. */
function adaptShebang(source: Arg): Arg {
  const text = source.toString();
  if (!text.startsWith('#!')) return source;
  const end = text.indexOf('\n');
  const first = end < 0 ? text : text.slice(0, end);
  const adapted = first
    .split(' ')
    .map((part) =>
      part.startsWith('flags=')
        ? `flags=${part
            .slice(6)
            .split(',')
            .filter((f) => REDIS_SCRIPT_FLAGS.has(f))
            .join(',')}`
        : part,
    )
    .join(' ');
  return adapted === first ? source : adapted + text.slice(first.length);
}

function name(arg: Arg | undefined): string {
  return (arg ?? '').toString().toUpperCase();
}

function checkCommand(command: readonly Arg[]): void {
  const cmd = name(command[0]);
  const sub = name(command[1]);
  if (UNSUPPORTED.has(cmd) || (cmd === 'CLIENT' && (sub === 'REPLY' || sub === 'TRACKING'))) {
    throw new RequestError(400, `ERR command '${cmd}${cmd === 'CLIENT' ? ` ${sub}` : ''}' is not supported by this REST server`);
  }
}

function isBlocking(command: readonly Arg[]): boolean {
  const cmd = name(command[0]);
  return BLOCKING.has(cmd) || ((cmd === 'XREAD' || cmd === 'XREADGROUP') && command.some((a) => name(a) === 'BLOCK'));
}

/** The client sends strings, numbers and booleans as JSON scalars (objects arrive pre-stringified). */
function toCommand(value: unknown): Arg[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, 'ERR a command must be a non-empty JSON array');
  }
  const command = value.map((arg: unknown) => {
    if (typeof arg === 'string') return arg;
    if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
    throw new RequestError(400, `ERR command arguments must be strings, numbers or booleans, got ${JSON.stringify(arg)}`);
  });
  checkCommand(command);
  return command;
}

function toCommands(value: unknown): Arg[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, 'ERR body must be a non-empty JSON array of commands');
  }
  return value.map(toCommand);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new RequestError(400, 'ERR no command in the request body');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new RequestError(400, 'ERR request body is not valid JSON');
  }
}

function pathCommand(url: URL, body: Buffer): Arg[] {
  let command: Arg[];
  try {
    command = url.pathname.replace(/\/+$/, '').split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new RequestError(400, 'ERR malformed path');
  }
  if (body.length) command.push(body);
  for (const [key, value] of url.searchParams) {
    if (key === '_token') continue;
    command.push(key);
    if (value !== '') command.push(value);
  }
  checkCommand(command);
  return command;
}

function toJson(reply: Reply, base64: boolean): JsonValue {
  if (reply === null || typeof reply === 'number') return reply;
  if (Array.isArray(reply)) return reply.map((r) => toJson(r, base64));
  if (reply instanceof ReplyError) return toJson(Buffer.from(reply.message), base64);
  if (typeof reply === 'string') return base64 && reply !== 'OK' ? Buffer.from(reply).toString('base64') : reply;
  return reply.toString(base64 ? 'base64' : 'utf8');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => (size > MAX_BODY ? reject(new RequestError(413, 'ERR request body too large')) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: Entry | Entry[]): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

export async function startUpstashRest(options: UpstashRestOptions): Promise<UpstashRest> {
  if (!options.token) throw new Error('startUpstashRest: a token is required');
  const target = new URL(options.redisUrl ?? 'redis://127.0.0.1:6379');
  if (target.protocol !== 'redis:' && target.protocol !== 'rediss:') {
    throw new Error(`startUpstashRest: unsupported Redis URL ${target.protocol}//…`);
  }
  const pool = new RedisPool(target, options.poolSize ?? 4, options.timeoutMs ?? 3000);
  const counters = { requests: 0, commands: 0, commandErrors: 0, rejected: 0, unavailable: 0 };

  const entry = (reply: Reply, base64: boolean): Entry => {
    if (reply instanceof ReplyError) {
      counters.commandErrors++;
      return { error: reply.message };
    }
    return { result: toJson(reply, base64) };
  };

  /** SHA1 of a script as the client sent it -> SHA1 of the adapted script Redis knows. */
  const scriptShas = new Map<string, string>();

  const adapt = (command: Arg[]): Arg[] => {
    const cmd = name(command[0]);
    const sub = name(command[1]);
    const at = cmd === 'EVAL' || cmd === 'EVAL_RO' ? 1 : cmd === 'SCRIPT' && sub === 'LOAD' ? 2 : 0;
    const source = command[at];
    if (at && source !== undefined) {
      const adapted = adaptShebang(source);
      if (adapted === source) return command;
      scriptShas.set(sha1(source), sha1(adapted));
      return command.with(at, adapted);
    }
    const mapSha = (arg: Arg): Arg => scriptShas.get(arg.toString().toLowerCase()) ?? arg;
    if (cmd === 'EVALSHA' || cmd === 'EVALSHA_RO') return command.map((arg, i) => (i === 1 ? mapSha(arg) : arg));
    if (cmd === 'SCRIPT' && sub === 'EXISTS') return command.map((arg, i) => (i >= 2 ? mapSha(arg) : arg));
    return command;
  };

  const restore = (command: Arg[] | undefined, reply: Reply): Reply => {
    const source = command?.[2];
    const loaded = name(command?.[0]) === 'SCRIPT' && name(command?.[1]) === 'LOAD';
    return loaded && source !== undefined && Buffer.isBuffer(reply) ? Buffer.from(sha1(source)) : reply;
  };

  const run = async (commands: Arg[][]): Promise<Reply[]> => {
    counters.commands += commands.length;
    const sent = commands.map(adapt);
    const replies = await (sent.some(isBlocking) ? pool.dedicated(sent) : pool.exec(sent));
    return replies.map((reply, i) => restore(commands[i], reply));
  };

  /** MULTI ... EXEC: the replies of the commands, or the error that made Redis discard them. */
  const transact = async (commands: Arg[][]): Promise<Reply[] | ReplyError> => {
    counters.commands += commands.length;
    const replies = await pool.exec([['MULTI'], ...commands.map(adapt), ['EXEC']]);
    const exec = replies.at(-1) ?? null;
    if (Array.isArray(exec)) return exec.map((reply, i) => restore(commands[i], reply));
    const cause = replies.slice(1, -1).find((r) => r instanceof ReplyError);
    const message = exec instanceof ReplyError ? exec.message : 'EXECABORT Transaction aborted';
    return new ReplyError(cause ? `${message} Cause: ${cause.message}` : message);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(`http://localhost${req.url ?? '/'}`);
    const body = await readBody(req);
    const auth = req.headers.authorization ?? '';
    const token = auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : (url.searchParams.get('_token') ?? '');
    if (!sameToken(token, options.token)) throw new RequestError(401, 'Unauthorized: invalid or missing auth token');
    if (!['GET', 'HEAD', 'POST', 'PUT'].includes(req.method ?? '')) throw new RequestError(405, 'ERR method not allowed');
    const base64 = (req.headers['upstash-encoding'] ?? '').toString().toLowerCase() === 'base64';
    const path = url.pathname.replace(/\/+$/, '');

    if (path === '/pipeline') {
      const replies = await run(toCommands(parseJson(body)));
      send(
        res,
        200,
        replies.map((r) => entry(r, base64)),
      );
    } else if (path === '/multi-exec') {
      const replies = await transact(toCommands(parseJson(body)));
      if (replies instanceof ReplyError) send(res, 400, entry(replies, base64));
      else
        send(
          res,
          200,
          replies.map((r) => entry(r, base64)),
        );
    } else {
      const command = path === '' ? toCommand(parseJson(body)) : pathCommand(url, body);
      const [reply = null] = await run([command]);
      send(res, reply instanceof ReplyError ? 400 : 200, entry(reply, base64));
    }
  }

  const server = createServer((req, res) => {
    counters.requests++;
    handle(req, res).catch((error: unknown) => {
      if (error instanceof RequestError) {
        counters.rejected++;
        send(res, error.status, { error: error.message });
      } else if (error instanceof RedisUnavailableError) {
        counters.unavailable++;
        send(res, 503, { error: `ERR ${error.message}` });
      } else {
        send(res, 500, { error: `ERR internal error: ${error instanceof Error ? error.message : String(error)}` });
      }
    });
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: () => ({ ...counters, connections: pool.connections }),
    close: () =>
      new Promise<void>((resolve) => {
        pool.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
