/**
 * The `noop` action: accepts every delivery without sending it anywhere, and logs that it did. For
 * trying a subscription's types and filter, or a pipeline, before there is a real destination.
 *
 * Rules a reader would not guess:
 * - Delivery is at-least-once, so the same `deliveryId` may be logged twice; it is the key to count by.
 * - With `fail_attempts: n` the first n attempts answer `retry`, so a retry schedule can be watched
 *   without a failing server; the attempt number comes from the runtime, so this stays stateless.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, type ActionPlugin } from '../../src/plugins/types';

const config = z.strictObject({
  fail_attempts: z.int().min(0).max(20).default(0).describe('how many first attempts answer "retry" before one is delivered'),
});
type Config = z.infer<typeof config>;

export const noop: ActionPlugin<Config> = {
  id: 'noop',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Accepts every delivery without sending it anywhere (optionally after some failed attempts)',
  config,
  async execute(input, ctx) {
    const fields = { deliveryId: input.deliveryId, eventId: input.event.id, type: input.event.type, attempt: input.attempt };
    if (input.attempt <= ctx.config.fail_attempts) {
      ctx.log.info('noop delivery failed on purpose', fields);
      return { kind: 'retry', error: `noop fails the first ${ctx.config.fail_attempts} attempts` };
    }
    ctx.log.info('noop delivery', fields);
    return { kind: 'delivered' };
  },
};
