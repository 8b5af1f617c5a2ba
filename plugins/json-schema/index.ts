/**
 * The `json-schema` validator plugin: validates an event's `data` against a JSON Schema with the
 * compiler the event-type registry uses too (`compileSchema` in the kit; its rules and bounds are
 * documented there).
 */
import { z } from 'zod';
import { compileSchema, JSON_SCHEMA_DRAFTS } from '../../src/plugins/kit';
import { PLUGIN_API_VERSION, type ValidatorPlugin } from '../../src/plugins/types';

const config = z
  .strictObject({
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema that the event data must match'),
    draft: z.enum(JSON_SCHEMA_DRAFTS).optional().describe('JSON Schema draft; defaults to the $schema of the schema, else 2020-12'),
  })
  .superRefine((c, ctx) => {
    const result = compileSchema(c.schema, c.draft);
    const at = result.ok
      ? []
      : (result.pointer ?? '')
          .split('/')
          .slice(1)
          .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (!result.ok) ctx.addIssue({ code: 'custom', path: ['schema', ...at], message: result.error });
  });
type Config = z.infer<typeof config>;

export const jsonSchema: ValidatorPlugin<Config> = {
  id: 'json-schema',
  kind: 'validator',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Validates the event data against a JSON Schema (drafts 4, 7, 2019-09, 2020-12)',
  config,
  async validate(event, ctx) {
    const cfg = ctx.config;
    const schema = compileSchema(cfg.schema, cfg.draft);
    if (!schema.ok) throw new Error(schema.error);
    if (event.data === undefined) {
      return {
        ok: false,
        errors: [
          {
            pointer: '/data',
            detail: event.data_base64 === undefined ? 'the event has no data' : 'binary data (data_base64) cannot be checked against a JSON Schema',
          },
        ],
      };
    }
    const errors = schema.validate(event.data, ctx.budget);
    return errors.length === 0 ? { ok: true } : { ok: false, errors };
  },
};
