/**
 * Registers a script validator for the benchmark when the deployment offers one in GET /v1/plugins
 * (`script-validator`, or a `script` type of kind validator); otherwise says why not, so the case shows
 * as "not available" instead of failing the run.
 */
import type { Api } from '../lib/switchyard-api.ts';

/** Checks the same things as the JSON Schema case, in plain JavaScript. */
export const VALIDATOR_SOURCE = `export function validate(event) {
  const d = event.data;
  const errors = [];
  if (!d || typeof d !== 'object') errors.push({ pointer: '/data', detail: 'data must be an object' });
  else {
    if (typeof d.order_id !== 'string' || !d.order_id.startsWith('ord_')) errors.push({ pointer: '/data/order_id', detail: 'order_id must start with ord_' });
    if (typeof d.amount !== 'number' || d.amount < 0) errors.push({ pointer: '/data/amount', detail: 'amount must be a non-negative number' });
    if (!['EUR', 'USD', 'GBP'].includes(d.currency)) errors.push({ pointer: '/data/currency', detail: 'unknown currency' });
    if (!Array.isArray(d.items) || d.items.length === 0) errors.push({ pointer: '/data/items', detail: 'items must be a non-empty array' });
  }
  return errors.length ? { errors } : { ok: true };
}
`;

const SOURCE_KEYS = ['source', 'code', 'module', 'script'];

interface CatalogEntry {
  id: string;
  kind: string;
  config_schema: Record<string, unknown>;
}

export async function registerScriptValidator(
  api: Api,
  catalog: CatalogEntry[],
  tenantId: string,
): Promise<{ ok: true; pluginId: string } | { ok: false; reason: string }> {
  const type = catalog.find((t) => t.id === 'script-validator') ?? catalog.find((t) => t.id === 'script');
  if (!type) return { ok: false, reason: 'no script validator plugin type (`script-validator` or `script`) in GET /v1/plugins' };
  const properties = (type.config_schema.properties ?? {}) as Record<string, { type?: string }>;
  const key = SOURCE_KEYS.find((k) => properties[k]) ?? Object.keys(properties).find((k) => properties[k]?.type === 'string');
  if (!key)
    return { ok: false, reason: `cannot tell which config field of \`script\` holds the module (${Object.keys(properties).join(', ') || 'no fields'})` };
  const config: Record<string, unknown> = { [key]: VALIDATOR_SOURCE };
  // a plugin type usable as several kinds may need to be told which one
  if (properties.kind) config.kind = 'validator';
  if (properties.hook) config.hook = 'validate';
  const created = await api.call<{ id?: string }>('POST', `/v1/tenants/${tenantId}/plugins`, {
    type: type.id,
    name: 'bench-validator',
    config,
    event_types: ['orders.*'],
  });
  if (created.status !== 201 || !created.json.id)
    return { ok: false, reason: `registering the script failed: ${created.status} ${JSON.stringify(created.json).slice(0, 300)}` };
  return { ok: true, pluginId: created.json.id };
}
