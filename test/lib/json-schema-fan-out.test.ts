import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../src/lib/json-schema/compile';
import { MAX_IN_PLACE_FAN_OUT } from '../../src/lib/json-schema/fan-out';
import { REQUEST_EVALUATION_BUDGET, requestBudget } from '../../src/plugins/types';
import { api, createSource, ingest, makeEvent } from '../fixtures/api';

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };

/** `levels` definitions, each evaluating the next one twice on the same value: 2^levels evaluations. */
function doublingChain(levels: number): Record<string, unknown> {
  const defs: Record<string, unknown> = { l0: { type: 'integer' } };
  for (let i = 1; i <= levels; i++) defs[`l${i}`] = { allOf: [{ $ref: `#/$defs/l${i - 1}` }, { $ref: `#/$defs/l${i - 1}` }] };
  return { $defs: defs, $ref: `#/$defs/l${levels}` };
}

describe('json-schema work bounds', () => {
  it('refuses at registration a schema whose $refs fan out on one value, naming where', () => {
    const compiled = compileSchema(doublingChain(30));
    expect(compiled.ok).toBe(false);
    if (compiled.ok) return;
    expect(compiled.error).toContain(`at most ${MAX_IN_PLACE_FAN_OUT}`);
    expect(compiled.pointer).toMatch(/^\/\$defs\/l\d+$/);
  });

  it('refuses in-place keywords that lead back to themselves, and accepts recursion through the data', () => {
    const loop = compileSchema({ $defs: { a: { anyOf: [{ $ref: '#/$defs/b' }] }, b: { not: { $ref: '#/$defs/a' } } }, $ref: '#/$defs/a' });
    expect(loop).toMatchObject({ ok: false, error: expect.stringContaining('without end') });
    const tree = compileSchema({ type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } } });
    expect(tree.ok).toBe(true);
    if (tree.ok)
      expect(tree.validate({ name: 'a', children: [{ name: 'b', children: [{ name: 5 }] }] })).toEqual([
        expect.objectContaining({ pointer: '/data/children/0/children/0/name' }),
      ]);
  });

  it('accepts shared definitions referred to many times at different places', () => {
    const defs = { money: { type: 'object', properties: { amount: { type: 'integer' }, currency: { type: 'string' } } } };
    const properties = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { $ref: '#/$defs/money' }]));
    expect(compileSchema({ $defs: defs, type: 'object', properties, allOf: [{ required: ['p0'] }, { $ref: '#/$defs/money' }] }).ok).toBe(true);
    expect(compileSchema(doublingChain(7)).ok).toBe(true);
  });

  it('shares one evaluation budget between the events of a request', () => {
    const compiled = compileSchema({ type: 'array', items: { allOf: Array.from({ length: 15 }, (_, i) => ({ minimum: -i })) } });
    if (!compiled.ok) throw new Error(compiled.error);
    const data = Array.from({ length: 6000 }, (_, i) => i);
    const budget = requestBudget();
    const verdicts = Array.from({ length: 20 }, () => compiled.validate(data, budget));
    const refused = verdicts.findIndex((errors) => errors.length > 0);
    expect(refused).toBeGreaterThan(5);
    expect(verdicts[refused]![0]!.detail).toContain(`${REQUEST_EVALUATION_BUDGET}`);
    expect(verdicts.slice(refused).every((errors) => errors.length > 0)).toBe(true);
    // without a shared budget each event on its own is well within the per-event cap
    expect(compiled.validate(data)).toEqual([]);
  });

  it('refuses the later events of a batch over the request budget with 422 and stores the earlier ones', async () => {
    const source = await createSource();
    const registered = await api('PUT', `/v1/tenants/${source.tenantId}/event-types/orders.created`, {
      schema: { type: 'array', items: { allOf: Array.from({ length: 15 }, (_, i) => ({ minimum: -i })) } },
    });
    expect(registered.status).toBeLessThan(300);
    const data = Array.from({ length: 6000 }, (_, i) => i);
    const res = await ingest(
      source,
      Array.from({ length: 20 }, () => makeEvent({ data })),
      'application/cloudevents-batch+json',
    );
    const { results } = (await res.json()) as { results: (Problem & { status: number })[] };
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s === 422).length).toBeGreaterThan(0);
    expect(results.find((r) => r.status === 422)).toMatchObject({ code: 'schema_violation' });
  });

  it('answers 422 naming the schema pointer when a fan-out schema is registered over HTTP', async () => {
    const source = await createSource();
    const res = await api<Problem>('PUT', `/v1/tenants/${source.tenantId}/event-types/orders.created`, { schema: doublingChain(30) });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('$defs');
  });
});
