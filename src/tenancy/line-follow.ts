/**
 * Calls on an ordered line (finish, redrive, stage) that follow the line when a shard-count change
 * moved it to another shard (docs/design/sharding.md §4). A delivery's message names the shard that
 * held its line when it was sent; that shard answers `{moved, epoch}` once it released the line's
 * slot, and the call goes on to the new owner, which answers `{moving}` until it adopted the slot
 * (then the call waits a little and asks again). Bounded: a few hops, about a second of waiting.
 */
import { shardLog } from './shard-routing';

export type LineAway = { moved: number; epoch: number } | { moving: true };
/** An answer of a line call: its result, or where the line went. */
export type LineAnswer<T> = T | LineAway;
/** Items of a call whose lines moved to shard `to` (released at `epoch`). */
export interface MovedItems<T> {
  to: number;
  epoch: number;
  items: T[];
}

type TenantLogStub = ReturnType<typeof shardLog>;

const MAX_HOPS = 4;
const WAIT_MS = 20;
const MAX_WAITS = 50;

/** A redrive's or a stage's own answer names the items to follow `follow`, so `moved` here is always a shard. */
const isAway = (answer: unknown): answer is LineAway => typeof answer === 'object' && answer !== null && ('moved' in answer || 'moving' in answer);

/** Runs `call` on the shard that holds the line now, starting at `shard`. Throws once the bounds are used up. */
export async function onLineShard<T>(
  env: Pick<Env, 'TENANT_LOG'>,
  tenantId: string,
  shard: number,
  call: (log: TenantLogStub, expectEpoch: number | undefined) => Promise<LineAnswer<T>>,
): Promise<T> {
  let expectEpoch: number | undefined;
  let hops = 0;
  let waits = 0;
  for (;;) {
    const answer = await call(shardLog(env, tenantId, shard), expectEpoch);
    if (!isAway(answer)) return answer;
    if ('moved' in answer) {
      if (++hops > MAX_HOPS) throw new Error(`ordered line of tenant ${tenantId} moved more than ${MAX_HOPS} times`);
      shard = answer.moved;
      expectEpoch = answer.epoch;
    } else {
      if (++waits > MAX_WAITS) throw new Error(`ordered line of tenant ${tenantId} is still moving to shard ${shard}`);
      await new Promise((r) => setTimeout(r, WAIT_MS));
    }
  }
}

/** Ends an ordered delivery on the shard that holds its line now. */
export function finishOrderedLine(
  env: Pick<Env, 'TENANT_LOG'>,
  line: { tenantId: string; shard: number; subscriptionId: string; partitionKey: string; deliveryId: string },
): Promise<boolean> {
  return onLineShard<boolean>(env, line.tenantId, line.shard, (log, expect) =>
    log.finishOrdered(line.subscriptionId, line.partitionKey, line.deliveryId, expect),
  );
}

/** Redrives deliveries through their lines, following the lines that moved; the outcomes summed. */
/** A stranded delivery as TenantLog.redrive takes it. */
/** As the log's `redrive` takes it (dispatch-store.ts `StrandedDelivery`); `receivedAt`: its event's, epoch ms, which the message sent carries. */
type Stranded = { id: string; subscriptionId: string; partitionKey: string; priority?: 'critical' | 'high' | 'normal' | 'low'; receivedAt?: number };

export async function redriveOnShard<T extends Stranded>(
  env: Pick<Env, 'TENANT_LOG'>,
  tenantId: string,
  shard: number,
  stranded: T[],
  depth = 0,
  expectEpoch?: number,
): Promise<{ resent: number; blockers: T[] }> {
  const outcome = (await onLineShard(env, tenantId, shard, (log, expect) => log.redrive(stranded, expect ?? expectEpoch))) as {
    resent: number;
    blockers: T[];
    follow?: MovedItems<T>[];
  };
  let { resent } = outcome;
  const blockers = [...outcome.blockers];
  for (const group of outcome.follow ?? []) {
    if (depth >= MAX_HOPS) throw new Error(`ordered lines of tenant ${tenantId} moved more than ${MAX_HOPS} times`);
    const more = await redriveOnShard(env, tenantId, group.to, group.items, depth + 1, group.epoch);
    resent += more.resent;
    blockers.push(...more.blockers);
  }
  return { resent, blockers };
}

/** Stages replayed ordered deliveries into their lines, following the lines that moved. */
export async function stageOrderedOnShard<T extends { partitionKey: string }>(
  env: Pick<Env, 'TENANT_LOG'>,
  tenantId: string,
  shard: number,
  planned: T[],
  depth = 0,
  expectEpoch?: number,
): Promise<void> {
  const outcome = (await onLineShard(env, tenantId, shard, (log, expect) => log.stageOrdered(planned as never, expect ?? expectEpoch))) as {
    follow?: MovedItems<T>[];
  };
  for (const group of outcome.follow ?? []) {
    if (depth >= MAX_HOPS) throw new Error(`ordered lines of tenant ${tenantId} moved more than ${MAX_HOPS} times`);
    await stageOrderedOnShard(env, tenantId, group.to, group.items, depth + 1, group.epoch);
  }
}
