/**
 * Secret rotation without downtime. The new secret is returned once, in this response; the older ones
 * stay valid for `grace_seconds` (default 24 h): a source accepts signatures made with either, and a
 * subscription's deliveries carry a signature for each (newest first), so the other side can switch
 * whenever it likes within the grace period.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { transaction } from '../../db/client';
import { findPlugin } from '../../db/plugins';
import { newestSecret, rotateSecret } from '../../db/secrets';
import { findSource } from '../../db/sources';
import { ED25519_SECRET_PREFIX, newEd25519Secret, newWhsecSecret } from '../../plugins/kit/signing';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { open, seal } from '../../lib/secret-box';
import { changeConfig } from '../config-change';
import type { AppEnv } from '../context';
import { parsePluginConfig, requirePluginType } from '../plugin-config';
import { idParam, json, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

export const DEFAULT_GRACE_SECONDS = 86_400;

const Grace = z
  .int()
  .min(0)
  .max(2_592_000)
  .default(DEFAULT_GRACE_SECONDS)
  .openapi({ description: 'how long the older secrets stay valid; 0 ends them now', example: 86_400 });
const sec = [{ bearer: [] }];

const RotatedSource = z
  .object({
    id: z.string(),
    secret: z.string().openapi({ description: 'the new signing secret, shown only now', example: 'whsec_…' }),
    previous_secret_expires_at: z.string().nullable().openapi({ description: 'when the older secrets stop verifying' }),
  })
  .openapi('RotatedSourceSecret');
const RotatedSubscription = z
  .object({
    id: z.string(),
    secret: z.string().nullable().openapi({ description: 'the new whsec_ secret (v1 signing), shown only now' }),
    public_key: z.string().nullable().openapi({ description: 'the new whpk_ key (v1a signing)' }),
    previous_secret_expires_at: z.string().nullable().openapi({ description: 'until then deliveries are signed with the older secrets too' }),
  })
  .openapi('RotatedSubscriptionSecret');

const routes = {
  source: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/sources/{sourceId}/rotate-secret',
    tags: ['sources'],
    security: sec,
    summary: "Rotate a source's signing secret; the old one keeps verifying for the grace period",
    request: {
      params: TenantParam.extend({ sourceId: idParam('src', 'sourceId') }),
      body: {
        required: false,
        ...json(
          z.strictObject({
            grace_seconds: Grace,
            secret: z.string().min(8).max(512).optional().openapi({ description: 'bring your own new secret (e.g. the one a provider shows)' }),
          }),
        ),
      },
    },
    responses: { 200: { description: 'The new secret', ...json(RotatedSource) }, ...problemResponses(401, 403, 404, 409, 422) },
  }),
  subscription: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/subscriptions/{subscriptionId}/rotate-secret',
    tags: ['subscriptions'],
    security: sec,
    summary: "Rotate a subscription's signing secret; deliveries carry both signatures for the grace period",
    request: {
      params: TenantParam.extend({ subscriptionId: idParam('sub', 'subscriptionId') }),
      body: { required: false, ...json(z.strictObject({ grace_seconds: Grace })) },
    },
    responses: { 200: { description: 'The new secret', ...json(RotatedSubscription) }, ...problemResponses(401, 403, 404, 422) },
  }),
};

export function registerRotation(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.source, async (c) => {
    const { tenantId, sourceId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json') ?? { grace_seconds: DEFAULT_GRACE_SECONDS };
    const grace = body.grace_seconds ?? DEFAULT_GRACE_SECONDS;
    const db = c.var.db;
    const source = await findSource(db, tenantId, sourceId);
    if (!source) throw new ProblemError(problem(404, 'source_not_found', `no source ${sourceId}`));
    const instance = source.verifier_plugin_id ? await findPlugin(db, tenantId, source.verifier_plugin_id) : null;
    const plugin = requirePluginType(instance?.type ?? source.verifier_type, '/verifier', 'verifier');
    const config = parsePluginConfig(plugin, instance?.config ?? source.verifier_config, '/verifier');
    const [secret] = (await plugin.provision(config, body.secret)).secrets;
    if (!secret)
      throw new ProblemError(problem(409, 'rotation_unsupported', `the ${plugin.id} verifier of this source uses no shared secret; change its keys instead`));
    if (body.secret !== undefined && secret !== body.secret) {
      throw new ProblemError(
        problem(
          422,
          'secret_not_accepted',
          `the ${plugin.id} verifier does not take this secret (standard-webhooks takes a whsec_ secret of 24 to 64 base64 bytes; with public_keys, and for other verifiers that make their own, leave out secret)`,
          { errors: [{ pointer: '/secret', detail: 'not accepted by this verifier' }] },
        ),
      );
    }
    const sealed = { id: newId('sec'), ciphertext: await seal(c.env.ENCRYPTION_KEY, secret) };
    const rotated = await changeConfig(c, tenantId, async () => {
      const done = await rotateSecret(db, 'source_secrets', tenantId, sourceId, sealed, grace);
      if (!done) throw new ProblemError(problem(404, 'source_not_found', `no source ${sourceId}`));
      await recordAudit(db, {
        tenantId,
        actor: actorOf(c.get('principal')),
        action: 'source.secret_rotated',
        target: sourceId,
        details: { grace_seconds: grace },
      });
      return done;
    });
    return c.json({ id: sourceId, secret, previous_secret_expires_at: rotated.previous_expires_at }, 200);
  });

  app.openapi(routes.subscription, async (c) => {
    const { tenantId, subscriptionId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const grace = c.req.valid('json')?.grace_seconds ?? DEFAULT_GRACE_SECONDS;
    const db = c.var.db;
    const current = await newestSecret(db, 'subscription_secrets', tenantId, subscriptionId);
    if (!current.exists) throw new ProblemError(problem(404, 'subscription_not_found', `no subscription ${subscriptionId}`));
    // the new secret signs the way the current one does (v1 HMAC or v1a Ed25519)
    const ed25519 = current.ciphertext !== null && (await open(c.env.ENCRYPTION_KEY, current.ciphertext)).startsWith(ED25519_SECRET_PREFIX);
    const signing = ed25519 ? await newEd25519Secret() : { secret: newWhsecSecret(), publicKey: null };
    const sealed = { id: newId('sec'), ciphertext: await seal(c.env.ENCRYPTION_KEY, signing.secret) };
    const rotated = await transaction(db, async () => {
      const done = await rotateSecret(db, 'subscription_secrets', tenantId, subscriptionId, sealed, grace);
      if (!done) throw new ProblemError(problem(404, 'subscription_not_found', `no subscription ${subscriptionId}`));
      await recordAudit(db, {
        tenantId,
        actor: actorOf(c.get('principal')),
        action: 'subscription.secret_rotated',
        target: subscriptionId,
        details: { grace_seconds: grace },
      });
      return done;
    });
    return c.json(
      { id: subscriptionId, secret: ed25519 ? null : signing.secret, public_key: signing.publicKey, previous_secret_expires_at: rotated.previous_expires_at },
      200,
    );
  });
}
