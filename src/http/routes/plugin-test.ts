import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { findPlugin } from '../../db/plugins';
import { checkTransformed } from '../../ingest/apply-rules';
import { toIngestEvent } from '../../ingest/envelope';
import { problem, ProblemError } from '../../lib/problem';
import { pluginType } from '../../plugins/registry';
import { runTransformer, runValidator, type HookVerdict, type Instance } from '../../plugins/runner';
import { requestSandboxes } from '../../sandbox';
import type { PluginEvent, TransformerPlugin, ValidatorPlugin } from '../../plugins/types';
import type { AppEnv } from '../context';
import { idParam, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const Verdict = z
  .object({
    kind: z.enum(['pass', 'drop', 'reject']),
    event: z.record(z.string(), z.unknown()).optional().openapi({ description: 'transformers: the event as it would be stored' }),
    by: z.string().optional(),
    code: z.string().optional().openapi({ description: 'validator_rejected, validator_failed or transformer_failed' }),
    detail: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  })
  .openapi('PluginTestVerdict');

const route = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenantId}/plugins/{pluginId}/test',
  tags: ['plugins'],
  security: [{ bearer: [] }],
  summary: 'Dry-run a validator or transformer instance against a sample event',
  description:
    'Runs the instance as ingest would (same deadline and failure policy, scripts in their sandbox) and answers with its verdict and how long it took. Nothing is stored or sent; disabled instances can be tested too.',
  request: {
    params: TenantParam.extend({ pluginId: idParam('plg', 'pluginId') }),
    body: {
      required: true,
      content: { 'application/json': { schema: z.strictObject({ event: z.record(z.string(), z.unknown()).openapi({ description: 'a CloudEvent 1.0' }) }) } },
    },
  },
  responses: {
    200: { description: 'The verdict', content: { 'application/json': { schema: z.object({ result: Verdict, duration_ms: z.number() }) } } },
    ...problemResponses(401, 404, 422, 501),
  },
});

export function registerPluginTest(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async function testPlugin(c) {
    const { tenantId, pluginId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const row = await findPlugin(c.var.db, tenantId, pluginId);
    if (!row) throw new ProblemError(problem(404, 'plugin_not_found', `no plugin instance ${pluginId}`));
    if (row.kind !== 'validator' && row.kind !== 'transformer') {
      throw new ProblemError(
        problem(
          422,
          'plugin_not_testable',
          `only validators and transformers can be dry-run; this instance is a${row.kind === 'action' ? 'n' : ''} ${row.kind}`,
        ),
      );
    }
    const input = toIngestEvent(c.req.valid('json').event);
    if (!input.ok)
      throw new ProblemError(
        problem(422, 'invalid_event', input.problem.detail, { errors: (input.problem.errors ?? []).map((e) => ({ ...e, pointer: `/event${e.pointer}` })) }),
      );
    const type = pluginType(row.type);
    const sandbox = requestSandboxes(c.env, c.executionCtx)?.(tenantId);
    if (type?.sandboxed && !sandbox)
      throw new ProblemError(problem(501, 'sandbox_unavailable', `${type.id} needs the Worker Loader binding, which this deployment lacks`));
    const parsed = type?.kind === row.kind ? type.config.safeParse(row.config) : undefined;
    const instance = {
      id: row.id,
      name: row.name,
      plugin: type,
      config: parsed?.success ? parsed.data : null,
      eventTypes: row.event_types,
      unavailable: parsed?.success ? undefined : `plugin type ${row.type} is unavailable or its stored config is invalid`,
    };
    const event = input.value.event as PluginEvent;
    const started = performance.now();
    let verdict: HookVerdict =
      row.kind === 'validator'
        ? await runValidator(tenantId, instance as Instance<ValidatorPlugin>, event, { sandbox })
        : await runTransformer(tenantId, instance as Instance<TransformerPlugin>, event, { sandbox });
    if (row.kind === 'transformer' && verdict.kind === 'pass') {
      // what ingest would refuse to store is no pass here either
      const checked = checkTransformed(row.name, verdict.event);
      verdict = checked.ok
        ? { kind: 'pass', event: checked.value.event as PluginEvent }
        : { kind: 'reject', code: checked.code, detail: checked.detail, ...(checked.errors ? { errors: checked.errors } : {}) };
    }
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const result = verdict.kind === 'pass' && row.kind === 'validator' ? { kind: verdict.kind } : verdict;
    return c.json({ result, duration_ms: durationMs }, 200);
  });
}
