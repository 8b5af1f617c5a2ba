export { type Batcher, BatcherError, type BatcherOptions, batcher } from './batcher.ts';
export { SwitchyardError } from './errors.ts';
export type { CloudEvent, EventAttributes, EventInput, EventMap, EventType, ReceivedEvent } from './events.ts';
export { createManagementClient, type ManagementClient, type ManagementOptions, type Problem, type components, type paths } from './management.ts';
export {
  type BatchItemResult,
  type BatchResult,
  createProducer,
  type IngestAccepted,
  type IngestDropped,
  type Producer,
  type ProducerOptions,
  type RetryInfo,
  type SendResult,
} from './producer.ts';
export { generateWebhookSecret, type SignWebhookOptions, signWebhook, type WebhookHeaders } from './signing.ts';
export { type MemoryProducer, memoryProducer, noopProducer } from './testing.ts';
export { type HeadersInput, type VerifyWebhookOptions, verifyWebhook, WebhookVerificationError, type WebhookVerificationReason } from './verify.ts';
export { type StreamEventsOptions, type StreamMessage, streamEvents } from './stream.ts';
export { isStreamPosition, SEQUENCE_STRIDE, type StreamCursor, shardOfSequence, streamCursor } from './stream-cursor.ts';
