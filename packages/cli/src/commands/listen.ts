/**
 * `listen`: forwards the tenant's live events to a local URL as real deliveries and reports each
 * outcome to the listeners API, so they show as deliveries and attempts. The connection is outbound
 * (nothing needs to be reachable from the internet). Resumes from the listener's `cursor` (per shard
 * the last sequence it reported: a restarted `listen` picks up what it missed on every shard) when it
 * has one, else starts at the live head.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { components } from '@switchyard/client';
import { defineCommand } from 'citty';
import { type Api, connectApi, unwrap } from '../api.ts';
import { jsonArg, tenantArg } from '../cli.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { type ForwardResult, forwardEvent } from '../forward.ts';
import { parseJsonFlag } from '../ingest.ts';
import { clock, note, printJson, printLine } from '../output.ts';
import { type EventMessage, runStream } from '../stream.ts';
import { filterArgs, interruptible, sinceFlag, typesList } from './stream-args.ts';

type Listener = components['schemas']['ListenerWithSecret'];

export const listen = defineCommand({
  meta: { name: 'switchyard listen', description: "Forward the tenant's live events to a local URL as signed deliveries" },
  args: {
    ...tenantArg,
    'forward-to': { type: 'string', required: true, description: 'where to POST each event, e.g. http://localhost:3000/hooks', valueHint: 'url' },
    ...filterArgs,
    name: { type: 'string', default: 'cli', description: 'the listener (reused when it exists: it resumes where it stopped)', valueHint: 'name' },
    since: { type: 'string', description: "start after this sequence (or comma list of one per shard) instead of the listener's last one", valueHint: 'seq' },
    ...jsonArg,
  },
  async run({ args }) {
    const forwardTo = args['forward-to'];
    if (!/^https?:\/\//.test(forwardTo)) throw usageError('error: --forward-to must be an http(s) URL');
    const api = await connectApi();
    const tenant = api.tenant(args.tenant);
    const types = typesList(args.types);
    const where = args.where === undefined ? undefined : parseJsonFlag('--where', args.where);
    const listener: Listener = await unwrap(
      api.connection.url,
      api.client.POST('/v1/tenants/{tenantId}/listeners', {
        params: { path: { tenantId: tenant } },
        body: { name: args.name, ...(types ? { types } : {}), ...(where !== undefined ? { where: where as Record<string, unknown> } : {}) },
      }),
    );
    // `last_sequence` is one number: on a multi-shard tenant it would replay every other shard from its beginning
    const since = sinceFlag(args.since) ?? (listener.cursor !== '0' ? listener.cursor : null);
    const { signal, done } = interruptible();
    const describeTypes = types ? types.join(',') : 'all';
    try {
      const stoppedAt = await runStream(
        { url: api.connection.url, token: api.connection.token, tenant, types: types?.join(','), where: args.where, since, signal },
        {
          onReady(head, first) {
            if (args.json)
              return printJson({ type: first ? 'ready' : 'reconnected', head, tenant, listener: listener.id, secret: listener.secret, forward_to: forwardTo });
            if (first)
              printLine(
                `Ready! Forwarding ${describeTypes} events from tenant ${tenant} to ${forwardTo} (listener ${listener.id}, secret ${listener.secret})` +
                  (since !== null ? `, resuming after #${since}` : ''),
              );
            else note(`${clock()}  reconnected (head #${head})`);
          },
          onDisconnect(why, retryInMs) {
            if (args.json) printJson({ type: 'disconnected', reason: why, retry_in_ms: retryInMs });
            else note(`${clock()}  connection lost (${why}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s`);
          },
          async onEvent(message) {
            const result = await forwardEvent(forwardTo, message.event, listener.secret, signal);
            // the line as soon as the local server answered; the event counts as done once reported
            if (!args.json) {
              const answer = result.status !== undefined ? String(result.status) : `error: ${result.error}`;
              printLine(`${clock()}  ${message.event.type}  ${message.event.id}  → ${answer} (${result.latencyMs} ms)`);
            }
            const delivery = await report(api, tenant, listener, message, result, signal);
            if (args.json) {
              printJson({
                type: 'delivery',
                time: result.startedAt,
                sequence: message.sequence,
                event_id: message.event.id,
                event_type: message.event.type,
                outcome: result.outcome,
                status: result.status ?? null,
                error: result.error ?? null,
                latency_ms: result.latencyMs,
                delivery_id: delivery?.delivery_id ?? null,
              });
            }
          },
        },
      );
      // a multi-shard position is a list no listener or head shows: say it, for `--since`
      if (stoppedAt?.includes(',')) note(`stopped; resume with --since ${stoppedAt}`);
    } finally {
      done();
    }
  },
});

interface Reported {
  delivery_id: string;
  attempt: number;
  status: string;
}

/**
 * Reports one forward. Network failures, 429 and 5xx are retried (the event is not done until its
 * report landed); a deleted listener ends `listen`; another refusal is printed and skipped.
 */
async function report(
  api: Api,
  tenant: string,
  listener: Listener,
  message: EventMessage,
  result: ForwardResult,
  signal: AbortSignal,
): Promise<Reported | null> {
  const partitionKey = message.event.partitionkey;
  const body = {
    event_id: message.event.id,
    sequence: message.sequence,
    ...(typeof partitionKey === 'string' ? { partition_key: partitionKey } : {}),
    outcome: result.outcome,
    ...(result.status !== undefined ? { status_code: result.status } : {}),
    latency_ms: result.latencyMs,
    ...(result.error !== undefined ? { error: result.error.slice(0, 1000) } : {}),
    ...(result.responseBody !== undefined ? { response_body: result.responseBody } : {}),
    started_at: result.startedAt,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const params = { path: { tenantId: tenant, listenerId: listener.id } };
      return await unwrap(api.connection.url, api.client.POST('/v1/tenants/{tenantId}/listeners/{listenerId}/attempts', { params, body }));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      const status = error.problem?.status;
      if (status === 404) throw new CliError(`error: listener ${listener.id} is gone (deleted?): ${error.message}`, EXIT.failure);
      if (error.exitCode === EXIT.auth) throw error;
      const retryable = status === undefined || status === 429 || status === 408 || status >= 500;
      if (!retryable) {
        note(`${clock()}  could not report ${message.event.id}: ${error.message}`);
        return null;
      }
      if (signal.aborted) throw new CliError(`error: interrupted before the attempt of ${message.event.id} was reported`, EXIT.failure);
      const wait = Math.min(30_000, 500 * 2 ** attempt);
      note(`${clock()}  reporting ${message.event.id} failed (${error.message.split('\n')[0]}); retrying in ${wait / 1000} s`);
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  }
}
