/** The steps of `bench --costs` (stage-costs.ts drives them, stage-costs-worker.ts runs them); `empty` does nothing (the round trip's own cost). */
export type Step = 'empty' | 'prepare' | 'pipeline' | 'validate' | 'hash' | 'call' | 'call-one' | 'call-one-packed' | 'append' | 'encode' | 'drop' | 'count';

/** The one-item calls of `call-one` and `call-one-packed` per round (their figures are per call). */
export const ONE_CALLS = 2000;
