/**
 * Sets or removes CloudEvent attributes and extensions. `id`, `source` and `specversion` identify the
 * event (deduplication, ordering) and are never touched; `type` may be replaced but not removed; `data`
 * is not an attribute (see `redact`). Values are checked when the config is parsed, so a transform can
 * never turn a valid event into an invalid one.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, type PluginEvent, type TransformerPlugin } from '../../src/plugins/types';

const NAME = /^[a-z0-9]{1,20}$/;
const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const IDENTITY = new Set(['id', 'source', 'specversion']);
const NOT_ATTRIBUTES = new Set(['data', 'data_base64']);
const STRING_ATTRIBUTES = new Set([
  'type',
  'subject',
  'time',
  'datacontenttype',
  'dataschema',
  // extensions Switchyard reads (DESIGN.md §3): strings, some with a form of their own below
  'partitionkey',
  'correlationid',
  'causationid',
  'priority',
  'deliverat',
  'traceparent',
  'tracestate',
]);
const PRIORITIES = ['low', 'normal', 'high', 'critical'];
const isoTime = z.iso.datetime({ offset: true });

function nameProblem(name: string): string | null {
  if (IDENTITY.has(name)) return `"${name}" identifies the event and cannot be changed`;
  if (NOT_ATTRIBUTES.has(name)) return `"${name}" is not an attribute; use the redact transformer for data`;
  if (!NAME.test(name)) return `"${name}" is not an attribute name: 1-20 lowercase letters or digits`;
  return null;
}

function valueProblem(name: string, value: string | number | boolean): string | null {
  if (name === 'expectedsequence') {
    const n = typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value) ? Number(value) : value;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? null : 'expectedsequence must be a non-negative integer';
  }
  if (!STRING_ATTRIBUTES.has(name)) return null;
  if (typeof value !== 'string') return `"${name}" must be a string`;
  if (name === 'type' && !EVENT_TYPE.test(value)) return 'type must be dot-notation, e.g. "orders.created"';
  if (name === 'type' && value.toLowerCase().startsWith('switchyard.')) return 'types starting with "switchyard." are reserved for system events';
  if ((name === 'time' || name === 'deliverat') && !isoTime.safeParse(value).success) return `${name} must be an RFC 3339 timestamp with an offset`;
  if (name === 'priority' && !PRIORITIES.includes(value)) return `priority must be one of ${PRIORITIES.join(', ')}`;
  if (name === 'traceparent' && !/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)) return 'traceparent must be a W3C traceparent';
  return null;
}

const config = z
  .strictObject({
    set: z
      .record(z.string(), z.union([z.string().max(1024), z.number(), z.boolean()]))
      .default({})
      .describe('attributes or extensions to set, e.g. {"tenantregion": "eu", "subject": "fixed"}'),
    remove: z.array(z.string()).max(64).default([]).describe('attributes or extensions to remove'),
  })
  .superRefine((c, ctx) => {
    if (Object.keys(c.set).length === 0 && c.remove.length === 0) ctx.addIssue({ code: 'custom', message: 'set or remove at least one attribute' });
    for (const [name, value] of Object.entries(c.set)) {
      const problem = nameProblem(name) ?? valueProblem(name, value);
      if (problem) ctx.addIssue({ code: 'custom', path: ['set', name], message: problem });
    }
    c.remove.forEach((name, i) => {
      const problem =
        nameProblem(name) ??
        (name === 'type' ? 'type is required and can only be replaced' : null) ??
        (Object.hasOwn(c.set, name) ? `"${name}" is both set and removed` : null);
      if (problem) ctx.addIssue({ code: 'custom', path: ['remove', i], message: problem });
    });
  });
type Config = z.infer<typeof config>;

export const setAttributes: TransformerPlugin<Config> = {
  id: 'set-attributes',
  kind: 'transformer',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Sets or removes CloudEvent attributes and extensions (never id, source or specversion)',
  config,
  async transform(event, { config: cfg }) {
    const out: PluginEvent = { ...event };
    for (const name of cfg.remove) delete out[name];
    for (const [name, value] of Object.entries(cfg.set)) out[name] = value;
    return out;
  },
};
