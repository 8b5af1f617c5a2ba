/**
 * Tries a subscription filter on a stored event with the server's own matcher: the live stream replays
 * the tenant's stored events after `since_sequence` through the same `types` and `where` a subscription
 * uses, so asking it to start just before the event shows whether the event would pass. On a tenant
 * with more than one shard the stream merges the shards by `(received_at, sequence)`, and the other
 * shards replay from their beginning (the list names only the event's shard), so only events of the
 * event's own shard decide: they come in sequence order.
 */
import { shardOfSequence } from '@switchyard/client';
import { ApiError, api } from './api';

export async function tryWhere(tenant: string, types: string[], where: Record<string, unknown> | null, sequence: number): Promise<boolean> {
  const abort = new AbortController();
  const shard = shardOfSequence(sequence);
  try {
    const { response, data, error } = await api().GET('/v1/tenants/{tenantId}/events/stream', {
      params: {
        path: { tenantId: tenant },
        query: { types: (types.length ? types : ['**']).join(','), where: where ? JSON.stringify(where) : undefined, since_sequence: String(sequence - 1) },
      },
      headers: { accept: 'text/event-stream' },
      parseAs: 'stream',
      signal: abort.signal,
    });
    if (!response.ok || !data) throw new ApiError(response.status, (error as ApiError['problem']) ?? null);
    const reader = (data as ReadableStream<BufferSource>).pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += value;
      for (const line of buffer.split('\n').slice(0, -1)) {
        if (!line.startsWith('data:')) continue;
        const message = JSON.parse(line.slice(5)) as { type: string; sequence?: number };
        // the first event of our shard at or after ours, or the end of the backlog, decides
        if (message.type === 'ready') return false;
        if (message.type === 'event' && message.sequence !== undefined && shardOfSequence(message.sequence) === shard && message.sequence >= sequence)
          return message.sequence === sequence;
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    }
  } finally {
    abort.abort();
  }
}
