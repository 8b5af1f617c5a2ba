/** `trigger <type>`: sends an example event made from the type's registered JSON Schema. */
import { defineCommand } from 'citty';
import { connectApi, unwrap } from '../api.ts';
import { jsonArg, tenantArg } from '../cli.ts';
import { CliError, EXIT } from '../errors.ts';
import { buildEvent, sendOne } from '../ingest.ts';
import { printJson, printLine } from '../output.ts';
import { ingestArgs, ingestTarget } from './send.ts';

export const trigger = defineCommand({
  meta: { name: 'switchyard trigger', description: "Send an example event from the type's JSON Schema (examples[0], else a generated valid instance)" },
  args: {
    type: { type: 'positional', required: true, description: 'a registered event type', valueHint: 'type' },
    ...tenantArg,
    ...ingestArgs,
    set: { type: 'string', description: 'override a field of data: path=value (value as JSON, else a string); repeatable', valueHint: 'path=value' },
    'dry-run': { type: 'boolean', description: 'print the event, do not send it' },
    ...jsonArg,
  },
  async run({ args, rawArgs }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const eventType = await unwrap(
      api.connection.url,
      api.client.GET('/v1/tenants/{tenantId}/event-types/{type}', { params: { path: { tenantId, type: args.type } } }),
    );
    // loaded on use: the generator and the validator are only needed here
    const { applySet, exampleData, setFlags, validate } = await import('../example.ts');
    const schema = eventType.schema;
    const example = await exampleData(schema);
    let data = example.data;
    for (const assignment of setFlags(rawArgs)) data = applySet(data, assignment);
    const problems = validate(schema, data);
    if (problems.length > 0) {
      throw new CliError(`error: the example does not match the schema of ${args.type} v${eventType.version}:\n  ${problems.join('\n  ')}`, EXIT.failure);
    }
    const target = await ingestTarget(args);
    const event = buildEvent({
      type: args.type,
      data,
      id: args.id,
      subject: args.subject,
      partitionKey: args['partition-key'],
      priority: args.priority,
      eventSource: args['event-source'],
    });
    if (args['dry-run'])
      return args.json ? printJson({ event, schema_version: eventType.version, from: example.from }) : printLine(JSON.stringify(event, null, 2));
    const accepted = await sendOne(target, event);
    if (args.json) return printJson({ ...accepted, ce_id: event.id, schema_version: eventType.version, from: example.from, data });
    if ('dropped' in accepted) return printLine(`Triggered ${args.type}, but ${accepted.detail}`);
    printLine(`Triggered ${args.type} (schema v${eventType.version}, data from ${example.from}): ${accepted.id} sequence ${accepted.sequence}`);
    printLine(`data: ${JSON.stringify(data)}`);
  },
});
