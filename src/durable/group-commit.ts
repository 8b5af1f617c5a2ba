/**
 * Group commit for a Durable Object's writes: requests that arrive while the previous group is being
 * made durable wait, and are then written together in one synchronous transaction (one durable
 * commit, one fsync locally, one replication round in production), instead of one commit each.
 *
 * Rules a reader would not guess:
 * - The first request after a quiet spell is written at once: nothing waits for company that may not
 *   come. Only while a commit is in flight do requests gather, so under load a group holds whatever
 *   arrived during one commit, and at low rates every request is its own group.
 * - Each caller is answered only once `durable()` resolved (`ctx.storage.sync()`: the output gate's
 *   commit confirmation), with its own outcome, and groups are written in arrival order. The output
 *   gate would hold the answer anyway; waiting here also makes a failed commit a rejection.
 * - When `write` throws for a group of several, each request is written alone, so one bad request
 *   fails only itself. `write` must leave no trace of a throw (a transaction that rolled back).
 * - `gather` is PostgreSQL's `commit_delay`/`commit_siblings` for a commit that does not wait long
 *   enough for company on its own: locally workerd commits (and fsyncs) at the end of the turn, so
 *   `durable()` resolves at once and requests arriving one Worker turn apart each get a commit, about
 *   170 µs of CPU and 200 µs of fsync on a 2 GHz core. While requests keep company (a group of at
 *   least `siblings` was written in the last `memoryMs`) and commits come back in under `ms`, the next
 *   group waits `ms` before it is written, unless its inputs already weigh `maxWeight` (a batch needs
 *   no company). A caller with fewer than `siblings` requests in flight never waits: its groups never
 *   hold that many, and a wait would only slow it. Where a commit takes longer than `ms` (a
 *   replication round in production), groups gather during it, and nothing waits on top.
 */

interface Waiter<I, O> {
  input: I;
  resolve(output: O): void;
  reject(error: unknown): void;
}

type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface GroupCommitHooks<I, O> {
  /** Writes the inputs in one synchronous transaction; one output per input, in order. */
  write(inputs: readonly I[]): O[];
  /** Runs after a group's write and before waiting for durability (for example setting an alarm). */
  afterWrite?(): Promise<void>;
  /** Resolves once everything written so far is durable. */
  durable(): Promise<void>;
  /** Waiting for company under concurrent load (see above); absent: every group is written at once. */
  gather?: {
    ms: number;
    /** A group of at least this many requests is evidence of company (PostgreSQL's `commit_siblings`)… */
    siblings: number;
    /** …for this long. */
    memoryMs: number;
    maxWeight: number;
    /** An input's weight, for example its events. */
    weight(input: I): number;
    /** The wait itself (tests replace it); a timer by default. */
    sleep?(ms: number): Promise<void>;
  };
}

export interface GroupCommit<I, O> {
  submit(input: I): Promise<O>;
  /** Requests waiting for the next group (not counting the group being committed). */
  waiting(): number;
}

export function groupCommit<I, O>(hooks: GroupCommitHooks<I, O>): GroupCommit<I, O> {
  let waiting: Waiter<I, O>[] = [];
  let running = false;
  /** When a group of `siblings` or more was last written, and how long the last commit took, for `gather`. */
  let companyAt = Number.NEGATIVE_INFINITY;
  let commitMs = 0;
  const { gather } = hooks;
  const sleep = gather?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const inCompany = (): boolean => {
    if (!gather || commitMs >= gather.ms || Date.now() - companyAt > gather.memoryMs) return false;
    let weight = 0;
    for (const w of waiting) if ((weight += gather.weight(w.input)) >= gather.maxWeight) return false;
    return true;
  };

  const writeGroup = (group: Waiter<I, O>[]): Outcome<O>[] => {
    try {
      const outputs = hooks.write(group.map((w) => w.input));
      return outputs.map((value) => ({ ok: true, value }));
    } catch (error) {
      if (group.length === 1) return [{ ok: false, error }];
      return group.map((w) => {
        try {
          return { ok: true, value: hooks.write([w.input])[0]! };
        } catch (alone) {
          return { ok: false, error: alone };
        }
      });
    }
  };

  const run = async () => {
    running = true;
    try {
      while (waiting.length > 0) {
        if (inCompany()) await sleep(gather!.ms);
        const group = waiting;
        waiting = [];
        if (gather && group.length >= gather.siblings) companyAt = Date.now();
        const outcomes = writeGroup(group);
        try {
          await hooks.afterWrite?.();
          const started = Date.now();
          await hooks.durable();
          commitMs = Date.now() - started;
        } catch (error) {
          for (const w of group) w.reject(error);
          continue;
        }
        group.forEach((w, i) => {
          const outcome = outcomes[i]!;
          if (outcome.ok) w.resolve(outcome.value);
          else w.reject(outcome.error);
        });
      }
    } finally {
      running = false;
    }
  };

  return {
    submit: (input) =>
      new Promise<O>((resolve, reject) => {
        waiting.push({ input, resolve, reject });
        if (!running) void run();
      }),
    waiting: () => waiting.length,
  };
}
