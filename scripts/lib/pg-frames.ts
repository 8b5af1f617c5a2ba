/**
 * Counts and times what clients ask of Postgres, from the protocol bytes the WebSocket proxy relays
 * (plug it in as the proxy's `tap`). A round trip is a point where the client must wait for
 * ReadyForQuery: a simple Query ('Q') or the Sync ('S') that ends an extended-protocol pipeline
 * (Parse/Bind/Describe/Execute). Connection set-up (the startup message) is counted apart. Each
 * round trip is labelled with the start of its SQL and timed until the server's ReadyForQuery ('Z'),
 * so a report can say which statement cost what. Round trips and statements are both counted when the
 * answer arrives, so the difference of two snapshots counts the same round trips both ways (counting
 * one as sent and the other as answered made a flush in flight at a window's edge count as a statement
 * with no round trip: "other round trips" came out at −2).
 */
import type { ProxyTap } from './ws-proxy.ts';

export interface StatementStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface PgCounts {
  connections: number;
  /** Round trips after start-up: simple queries plus extended-protocol Syncs. */
  roundTrips: number;
  /** Frontend messages by type byte ('Q', 'P', 'B', 'E', 'S', 'X', 'p', ...). */
  messages: Record<string, number>;
  /** Round trips by the start of their SQL text (whitespace collapsed); '(connect)' is start-up. */
  statements: Record<string, StatementStats>;
}

export interface PgFrameCounter extends ProxyTap {
  snapshot(): PgCounts;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const SQL_LABEL_CHARS = 72;

interface Stream {
  startup: boolean;
  client: Buffer;
  server: Buffer;
  lastParsed: string | null;
  /** Round trips sent and not yet answered by ReadyForQuery, oldest first (`trip` false: the start-up). */
  waiting: { label: string; at: number; trip: boolean }[];
}

export function createPgFrameCounter(): PgFrameCounter {
  const counts: PgCounts = { connections: 0, roundTrips: 0, messages: {}, statements: {} };
  const streams = new Map<number, Stream>();

  const answered = ({ label, at, trip }: Stream['waiting'][number]) => {
    const ms = performance.now() - at;
    if (trip) counts.roundTrips++;
    const s = (counts.statements[label] ??= { count: 0, totalMs: 0, maxMs: 0 });
    s.count++;
    s.totalMs += ms;
    s.maxMs = Math.max(s.maxMs, ms);
  };

  const clientMessage = (stream: Stream, type: string, payload: Buffer) => {
    counts.messages[type] = (counts.messages[type] ?? 0) + 1;
    if (type === 'P') {
      // Parse: name\0 sql\0 ...
      const start = payload.indexOf(0) + 1;
      const end = payload.indexOf(0, start);
      stream.lastParsed = sqlLabel(payload.subarray(start, end < 0 ? payload.length : end).toString('utf8'));
    }
    if (type === 'Q' || type === 'S') {
      const label =
        type === 'Q' ? sqlLabel(payload.subarray(0, Math.max(0, payload.indexOf(0))).toString('utf8')) : (stream.lastParsed ?? '(prepared statement)');
      stream.waiting.push({ label, at: performance.now(), trip: true });
      stream.lastParsed = null;
    }
  };

  return {
    open(connection) {
      counts.connections++;
      streams.set(connection, { startup: true, client: Buffer.alloc(0), server: Buffer.alloc(0), lastParsed: null, waiting: [] });
    },
    clientData(connection, chunk) {
      const stream = streams.get(connection);
      if (!stream) return;
      let buffer = stream.client.length ? Buffer.concat([stream.client, chunk]) : chunk;
      for (;;) {
        if (stream.startup) {
          if (buffer.length < 8) break;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) break;
          const code = buffer.readInt32BE(4);
          // after an SSL/GSS request the real startup message follows
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) {
            stream.startup = false;
            stream.waiting.push({ label: '(connect)', at: performance.now(), trip: false });
          }
          buffer = buffer.subarray(length);
          continue;
        }
        if (buffer.length < 5) break;
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) break;
        clientMessage(stream, String.fromCharCode(buffer[0]!), buffer.subarray(5, 1 + length));
        buffer = buffer.subarray(1 + length);
      }
      stream.client = Buffer.from(buffer);
    },
    serverData(connection, chunk) {
      const stream = streams.get(connection);
      if (!stream) return;
      let buffer = stream.server.length ? Buffer.concat([stream.server, chunk]) : chunk;
      while (buffer.length >= 5) {
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) break;
        if (buffer[0] === 0x5a /* Z: ReadyForQuery */) {
          const done = stream.waiting.shift();
          if (done) answered(done);
        }
        buffer = buffer.subarray(1 + length);
      }
      stream.server = Buffer.from(buffer);
    },
    close(connection) {
      streams.delete(connection);
    },
    snapshot: () => structuredClone(counts),
  };
}

/** What happened between two snapshots. */
export function pgDelta(after: PgCounts, before: PgCounts): PgCounts {
  const messages = Object.fromEntries(
    Object.entries(after.messages)
      .map(([k, v]) => [k, v - (before.messages[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0),
  );
  const statements: Record<string, StatementStats> = {};
  for (const [label, s] of Object.entries(after.statements)) {
    const b = before.statements[label];
    const count = s.count - (b?.count ?? 0);
    // the max is over the whole run, not just the window: good enough to spot outliers
    if (count > 0) statements[label] = { count, totalMs: s.totalMs - (b?.totalMs ?? 0), maxMs: s.maxMs };
  }
  return { connections: after.connections - before.connections, roundTrips: after.roundTrips - before.roundTrips, messages, statements };
}

function sqlLabel(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > SQL_LABEL_CHARS ? `${flat.slice(0, SQL_LABEL_CHARS)}…` : flat;
}
