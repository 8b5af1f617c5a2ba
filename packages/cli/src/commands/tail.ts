/** `tail`: the tenant's events as they arrive, one line each (or NDJSON of the events with --json). */
import { defineCommand } from 'citty';
import { connectApi } from '../api.ts';
import { jsonArg, tenantArg } from '../cli.ts';
import { parseJsonFlag } from '../ingest.ts';
import { clock, note, printJson, printLine } from '../output.ts';
import { runStream } from '../stream.ts';
import { filterArgs, interruptible, sinceFlag, typesList } from './stream-args.ts';

export const tail = defineCommand({
  meta: { name: 'switchyard tail', description: "Print the tenant's events as they arrive" },
  args: {
    ...tenantArg,
    ...filterArgs,
    since: {
      type: 'string',
      description: 'first print the stored events after this sequence (or comma list of one per shard), then live ones',
      valueHint: 'seq',
    },
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenant = api.tenant(args.tenant);
    const types = typesList(args.types);
    if (args.where !== undefined) parseJsonFlag('--where', args.where);
    const { signal, done } = interruptible();
    try {
      const stoppedAt = await runStream(
        { url: api.connection.url, token: api.connection.token, tenant, types: types?.join(','), where: args.where, since: sinceFlag(args.since), signal },
        {
          onReady(head, first) {
            if (first) note(`Ready: tailing ${types ? types.join(',') : 'all'} events of tenant ${tenant} (head #${head})`);
            else note(`${clock()}  reconnected (head #${head})`);
          },
          onDisconnect(why, retryInMs) {
            note(`${clock()}  connection lost (${why}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s`);
          },
          async onEvent({ sequence, event }) {
            if (args.json) printJson(event);
            else printLine(`${clock()}  #${sequence}  ${event.type}  ${event.id}  ${event.subject ?? ''}`.trimEnd());
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
