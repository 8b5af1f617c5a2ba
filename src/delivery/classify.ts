/**
 * Response classification for deliveries. The implementation lives in `plugins/webhook/classify.ts`
 * because action plugins classify their own responses and may not import `src/` beyond the plugin
 * contract; the runtime imports it from here.
 */
export {
  RESPONSE_BODY_LIMIT_BYTES,
  RETRY_AFTER_CAP_SECONDS,
  classifyError,
  classifyResponse,
  parseRetryAfter,
  truncateBody,
  type ClassifyOptions,
  type HttpAnswer,
} from '../../plugins/webhook/classify';
