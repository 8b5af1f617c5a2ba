import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };
type Page = { data: { id: string; ce_id: string }[] };

const closed = {
  type: 'object',
  required: ['amount'],
  additionalProperties: false,
  properties: { amount: { type: 'number', minimum: 0 }, status: { enum: ['new', 'paid'] }, note: { type: 'string' } },
};

const put = (t: string, type: string, body: Record<string, unknown>) =>
  api<Problem & { version: number; compatibility: string }>('PUT', `/v1/tenants/${t}/event-types/${type}`, body);
const mode = (t: string, type: string, compatibility: string) => api('PATCH', `/v1/tenants/${t}/event-types/${type}`, { compatibility });
const pointers = (p: Problem) => (p.errors ?? []).map((e) => e.pointer);
const storedIds = async (t: string, query: string) => (await api<Page>('GET', `/v1/tenants/${t}/events?${query}`)).body.data.map((e) => e.ce_id);

async function send(source: TestSource, overrides: Record<string, unknown>): Promise<{ status: number; body: Problem }> {
  const res = await ingest(source, makeEvent({ type: 'orders.placed', ...overrides }));
  return { status: res.status, body: (await res.json()) as Problem };
}

describe('schema evolution', () => {
  it('refuses a version that breaks each compatibility mode, with reasons, and allows compatible ones', async () => {
    const { tenantId: t } = await createSource();
    expect((await put(t, 'orders.placed', { schema: closed })).body).toMatchObject({ version: 1, compatibility: 'backward' });

    // backward (the default): a newly required field and a raised minimum
    const tightened = { ...closed, required: ['amount', 'note'], properties: { ...closed.properties, amount: { type: 'number', minimum: 10 } } };
    const backward = await put(t, 'orders.placed', { schema: tightened });
    expect(backward.status).toBe(409);
    expect(backward.body.code).toBe('schema_incompatible');
    expect(pointers(backward.body)).toEqual(expect.arrayContaining(['/schema/required', '/schema/properties/amount/minimum']));
    expect(backward.body.errors!.find((e) => e.pointer === '/schema/required')!.detail).toContain('"note" is required by the new version');

    // allowed under backward: a new optional field in a closed object, a wider enum, a looser bound
    const widened = {
      ...closed,
      properties: { ...closed.properties, amount: { type: 'number' }, status: { enum: ['new', 'paid', 'void'] }, sku: { type: 'string' } },
    };
    expect((await put(t, 'orders.placed', { schema: widened })).body).toMatchObject({ version: 2, compatibility: 'backward' });

    // forward: the previous version must accept what the new one does, so a new enum value is refused
    expect((await mode(t, 'orders.placed', 'forward')).status).toBe(200);
    const more = { ...widened, properties: { ...widened.properties, status: { enum: ['new', 'paid', 'void', 'refunded'] } } };
    const forward = await put(t, 'orders.placed', { schema: more });
    expect(forward.status).toBe(409);
    expect(forward.body.errors).toContainEqual({
      pointer: '/schema/properties/status/enum',
      detail: expect.stringContaining('"refunded" is accepted by the new version but not by the previous'),
    });

    // full: both ways; a removed property under additionalProperties: false and a narrowed type
    const { sku: _sku, ...withoutSku } = widened.properties;
    const narrowed = { ...widened, properties: { ...withoutSku, note: { type: 'string', pattern: '^[a-z]+$' } } };
    const full = await put(t, 'orders.placed', { schema: narrowed, compatibility: 'full' });
    expect(full.status).toBe(409);
    expect(pointers(full.body)).toEqual(expect.arrayContaining(['/schema/additionalProperties', '/schema/properties/note/pattern']));
    // a refused registration changes nothing, not even the mode it asked for
    expect((await api<{ compatibility: string; version: number }>('GET', `/v1/tenants/${t}/event-types/orders.placed`)).body).toMatchObject({
      compatibility: 'forward',
      version: 2,
    });

    // none: anything goes, and the mode is kept for the next versions
    expect((await put(t, 'orders.placed', { schema: { type: 'string' }, compatibility: 'none' })).body).toMatchObject({ version: 3, compatibility: 'none' });
    expect((await api<{ compatibility: string }>('GET', `/v1/tenants/${t}/event-types`)).body).toMatchObject({
      data: [{ type: 'orders.placed', compatibility: 'none' }],
    });
    expect((await mode(t, 'orders.missing', 'full')).status).toBe(404);
    expect((await mode(t, 'orders.placed', 'sideways')).status).toBe(422);
  });

  it('refuses a version that stored events of the type do not match, naming them', async () => {
    const source = await createSource();
    const t = source.tenantId;
    const open = { type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } };
    expect((await put(t, 'orders.placed', { schema: open })).status).toBe(201);
    const euro = makeEvent({ type: 'orders.placed', data: { amount: 5, currency: 'EUR' } });
    expect((await ingest(source, euro)).status).toBe(202);
    await eventually(async () => (await storedIds(t, 'type=orders.placed')).length === 1);
    // a breaking version under mode none, then back to backward
    const dollars = { ...open, properties: { ...open.properties, currency: { const: 'USD' } } };
    expect((await put(t, 'orders.placed', { schema: dollars, compatibility: 'none' })).status).toBe(201);
    expect((await mode(t, 'orders.placed', 'backward')).status).toBe(200);
    // structurally the same as version 2, but the stored euro event does not match it
    const refused = await put(t, 'orders.placed', { schema: { ...dollars, title: 'Orders' } });
    expect(refused.status).toBe(409);
    expect(refused.body.errors).toEqual([{ pointer: '/data/currency', detail: expect.stringMatching(/^stored event evt_\w+ is refused by the new version/) }]);
  });

  it('validates with the version dataschema names, stores it, and filters events by it', async () => {
    const source = await createSource();
    const t = source.tenantId;
    const v1 = { type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } };
    const v2 = { type: 'object', required: ['total'], additionalProperties: false, properties: { total: { type: 'number' } } };
    expect((await put(t, 'orders.placed', { schema: v1 })).status).toBe(201);
    expect((await put(t, 'orders.placed', { schema: v2, compatibility: 'none' })).status).toBe(201);

    const apiForm = `https://sy.example/v1/tenants/${t}/event-types/orders.placed/versions/1`;
    const cases: [Record<string, unknown>, number, string?][] = [
      [{ id: 'old-1', dataschema: apiForm, data: { amount: 1 } }, 202],
      [{ id: 'old-2', data: { amount: 1 } }, 422, 'schema_violation'],
      [{ id: 'new-1', data: { total: 2 } }, 202],
      [{ id: 'new-2', dataschema: 'https://schemas.example/orders.json?version=2', data: { total: 3 } }, 202],
      [{ id: 'new-3', dataschema: 'urn:orders#v1', data: { total: 3 } }, 422, 'schema_violation'],
      [{ id: 'own-1', dataschema: 'https://schemas.example/orders.json', data: { total: 4 } }, 202],
      [{ id: 'bad-1', dataschema: 'urn:orders#v9', data: { total: 5 } }, 422, 'schema_version_not_found'],
      [
        { id: 'bad-2', dataschema: `https://sy.example/v1/tenants/${t}/event-types/orders.paid/versions/1`, data: { amount: 1 } },
        422,
        'dataschema_type_mismatch',
      ],
    ];
    for (const [event, status, code] of cases) {
      const res = await send(source, event);
      expect([event.id, res.status, res.body.code]).toEqual([event.id, status, code ?? undefined]);
    }
    await eventually(async () => (await storedIds(t, 'type=orders.placed')).length === 4);
    expect(await storedIds(t, 'type=orders.placed&schema_version=1')).toEqual(['old-1']);
    expect(await storedIds(t, 'type=orders.placed&schema_version=2')).toEqual(['new-1', 'new-2', 'own-1']);
    expect((await api<Problem>('GET', `/v1/tenants/${t}/events?schema_version=0`)).status).toBe(422);
  });
});
