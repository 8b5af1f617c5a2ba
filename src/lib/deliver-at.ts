/** The CloudEvents `deliverat` extension (README "Delayed delivery"); here in lib/ because ingest validates it and delivery schedules by it. */

/** The longest wait a delivery may be given, by `deliverat` (ahead of receipt) or by a subscription's `delay_seconds`: 30 days. */
export const MAX_DELAY_SECONDS = 30 * 86_400;
