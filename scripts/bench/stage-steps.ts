/** The steps of `bench --costs` (stage-costs.ts drives them, stage-costs-worker.ts runs them); `empty` does nothing (the round trip's own cost). */
export type Step = 'empty' | 'prepare' | 'pipeline' | 'validate' | 'hash' | 'call' | 'append' | 'encode' | 'drop' | 'count';
