import { z } from 'zod';

/** Who is calling the management API, from the verified token's claims. */
export const principalSchema = z.discriminatedUnion('scope', [
  z.object({ scope: z.literal('admin'), sub: z.string().optional() }),
  z.object({
    scope: z.literal('tenant'),
    tenant: z.string(),
    sub: z.string().optional(),
    scopes: z.array(z.string()).optional(),
    /** Set on portal-link tokens (POST /v1/tenants/{t}/portal-links): what the console may show; `scopes` enforce it. */
    portal: z.object({ capabilities: z.array(z.string()) }).optional(),
  }),
]);
export type Principal = z.infer<typeof principalSchema>;

export function actorOf(principal: Principal): string {
  return principal.scope === 'admin' ? `admin:${principal.sub ?? 'token'}` : `tenant:${principal.sub ?? principal.tenant}`;
}
