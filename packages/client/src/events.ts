/**
 * Event types. A producer or receiver is typed by an event map: event type name → the type of its
 * `data`. `switchyard types pull --tenant <t> --out events.ts` writes one from the tenant's
 * registered schemas:
 *
 * ```ts
 * export interface Events {
 *   'order.created': { id: string; amount: number };
 *   'order.shipped': { id: string; carrier: string };
 * }
 * const producer = createProducer<Events>({ ingestUrl, secret });
 * await producer.send({ type: 'order.created', data: { id: 'o_1', amount: 42 } }); // checked by tsc
 * ```
 *
 * Without a map (`EventMap`, the default) any dot-notation type and any data are accepted.
 */

/** Any event map; `types pull` emits an interface of this shape. */
export type EventMap = Record<string, unknown>;

/** The event types of a map. */
export type EventType<Events extends object> = keyof Events & string;

/** CloudEvents attributes a producer may set besides `type` and `data`; the producer fills the rest. */
export interface EventAttributes {
  /** Unique per source; a resend with the same id is deduplicated. A random UUID when absent. */
  id?: string;
  /** A URI-reference naming the producer; `ProducerOptions.source` when absent. */
  source?: string;
  subject?: string;
  /** RFC 3339. */
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  /** Ordered delivery key (subscriptions with `ordering: "partition"`). */
  partitionkey?: string;
  correlationid?: string;
  causationid?: string;
  priority?: 'low' | 'normal' | 'high' | 'critical';
  /** Deliver no earlier than this (RFC 3339). */
  deliverat?: string;
  expectedsequence?: number;
  traceparent?: string;
  tracestate?: string;
  /** Further CloudEvents extension attributes (names of 1–20 lowercase letters or digits), sent at the top level. */
  extensions?: Record<string, string | number | boolean>;
}

type DataField<D> = undefined extends D ? { data?: D } : { data: D };

/** What `send` takes: for each type of the map, `{ type, data }` with that type's data, plus attributes. */
export type EventInput<Events extends object = EventMap> = {
  [K in EventType<Events>]: { type: K } & DataField<Events[K]> & EventAttributes;
}[EventType<Events>];

/** A structured-mode CloudEvent as it is sent to the ingest endpoint. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  data?: unknown;
  [attribute: string]: unknown;
}

/**
 * An event as a webhook subscription delivers it: the CloudEvent as its producer sent it (the
 * producer's `id` and `source`, so `(source, id)` identifies it), plus the `traceparent` Switchyard
 * keeps, with `data` typed by the map. The delivery's own id (the same on every retry) is the
 * `webhook-id` header.
 */
export type ReceivedEvent<Events extends object = EventMap> = {
  [K in EventType<Events>]: ReceivedAttributes & { type: K; data: Events[K] } & { [extension: string]: unknown };
}[EventType<Events>];

interface ReceivedAttributes {
  specversion: '1.0';
  id: string;
  source: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  traceparent?: string;
  tracestate?: string;
}
