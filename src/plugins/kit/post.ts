/**
 * The one HTTP exchange every built-in HTTP action makes: POST through `ctx.fetch` (the runtime's
 * guarded fetch, see `ActionContext.fetch`), then classify (./classify.ts). Never throws for anything
 * the destination or the network does: those are outcomes. A plugin's own `timeoutMs` runs inside the
 * guarded fetch's 15 s ceiling, which runs inside the action's 20 s deadline.
 */
import type { ActionContext, ActionOutcome } from '../types';
import { classifyError, classifyResponse } from './classify';

export interface PostRequest {
  url: string;
  headers: HeadersInit;
  body: BodyInit;
  timeoutMs?: number;
}

export async function postAndClassify(ctx: ActionContext<unknown>, request: PostRequest): Promise<ActionOutcome> {
  const signal = request.timeoutMs ? AbortSignal.any([ctx.signal, AbortSignal.timeout(request.timeoutMs)]) : ctx.signal;
  try {
    const response = await ctx.fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, signal });
    // The status is the destination's verdict; a body that breaks off after it does not change it.
    const body = await response.text().catch(() => '');
    return classifyResponse({ status: response.status, headers: response.headers, body });
  } catch (error) {
    return classifyError(error);
  }
}
