/**
 * Compile-time tests of the typed producer and receiver, checked by `tsc --noEmit -p packages/client`
 * (part of `npm run typecheck`). Each `@ts-expect-error` marks a send that must not compile; if one
 * compiled, tsc would report the unused directive. test/node/client-typed.test.ts also checks that
 * removing a directive makes tsc fail. Nothing here runs.
 */
import { batcher, createProducer, memoryProducer, verifyWebhook } from '../src/index.ts';

/** The shape `switchyard types pull` writes: an interface from event type to data. */
export interface Events {
  'order.created': { id: string; amount: number; currency?: string };
  'order.shipped': { id: string; carrier: 'dhl' | 'ups' };
  'ping.sent': undefined;
}

export async function typedSends(): Promise<void> {
  const producer = createProducer<Events>({ ingestUrl: 'https://example.com/v1/ingest/src_x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
  await producer.send({ type: 'order.created', data: { id: 'o_1', amount: 42 } });
  await producer.send({ type: 'order.shipped', data: { id: 'o_1', carrier: 'dhl' }, subject: 'order/o_1', partitionkey: 'o_1' });
  await producer.send({ type: 'ping.sent' });
  await producer.sendBatch([
    { type: 'order.created', data: { id: 'o_2', amount: 1, currency: 'EUR' } },
    { type: 'order.shipped', data: { id: 'o_2', carrier: 'ups' } },
  ]);

  // @ts-expect-error unknown event type
  await producer.send({ type: 'order.deleted', data: { id: 'o_1' } });
  // @ts-expect-error wrong payload: amount must be a number
  await producer.send({ type: 'order.created', data: { id: 'o_1', amount: '42' } });
  // @ts-expect-error payload of another type
  await producer.send({ type: 'order.created', data: { id: 'o_1', carrier: 'dhl' } });
  // @ts-expect-error missing payload
  await producer.send({ type: 'order.shipped' });
  // @ts-expect-error a value outside the union
  await producer.sendBatch([{ type: 'order.shipped', data: { id: 'o_1', carrier: 'fedex' } }]);

  const buffered = batcher(memoryProducer<Events>());
  buffered.add({ type: 'order.created', data: { id: 'o_3', amount: 3 } });
  // @ts-expect-error the batcher keeps the producer's types
  buffered.add({ type: 'order.created', data: { id: 3, amount: 3 } });
}

export async function untypedSends(): Promise<void> {
  // without a map any type and any data are accepted
  const producer = createProducer({ ingestUrl: 'https://example.com/v1/ingest/src_x', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
  await producer.send({ type: 'anything.goes', data: [1, 2, 3] });
  await producer.send({ type: 'no.data' });
}

export async function typedReceiver(body: string, headers: Headers): Promise<number> {
  const event = await verifyWebhook<Events>({ secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers, body });
  const attributes: { id: string; source: string; subject?: string } = event;
  const untyped = await verifyWebhook({ secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers, body });
  const type: string = untyped.type;
  if (attributes.id === type) return 0;
  if (event.type !== 'order.shipped') return 0;
  // @ts-expect-error amount exists only on order.created
  return event.data.amount + event.data.carrier.length;
}
