/** An attempt's record with the request it sent and its answer's head (./exchange.ts), as the consumer and sync mode store it. */
import type { AttemptRecord } from '../db/deliveries-consumer';
import type { Exchange } from './exchange';

/** The record with the exchange's request and response head, when the attempt sent one. */
export function withExchange(record: AttemptRecord, exchange: Exchange | undefined): AttemptRecord {
  const request = exchange?.request;
  if (!request) return record;
  return {
    ...record,
    request_method: request.method,
    request_url: request.url,
    request_headers: request.headers,
    request_body: request.body,
    request_body_bytes: request.bodyBytes,
    request_body_truncated: request.bodyTruncated,
    response_headers: exchange?.response?.headers ?? null,
    response_body_truncated: exchange?.response?.bodyTruncated ?? false,
  };
}
