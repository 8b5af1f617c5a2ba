/**
 * Guards every path under `/v1/tenants/{t}` before any route code (or body validation) runs: a tenant
 * token on another tenant's path gets the same 404 as a missing tenant, then the route's need from
 * {@link scopeNeed} is checked (403 `insufficient_scope`, or `forbidden` for admin-only routes). Routes
 * keep their own `loadTenant` check as a second line.
 */
import { createMiddleware } from 'hono/factory';
import { problem, ProblemError } from '../../lib/problem';
import { grants, scopeNeed } from '../../tenancy/scopes';
import type { AppEnv } from '../context';

const PREFIX = '/v1/tenants/';

export const requireTenantScope = createMiddleware<AppEnv>(async function requireTenantScope(c, next) {
  const path = c.req.path;
  if (!path.startsWith(PREFIX)) return next();
  const [tenantId = '', ...rest] = path.slice(PREFIX.length).split('/');
  const principal = c.get('principal');
  // the same answer as for a tenant that does not exist (see loadTenant)
  if (principal.scope === 'tenant' && principal.tenant !== tenantId) {
    throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
  }
  const need = scopeNeed(c.req.method, rest);
  if (need.kind === 'admin' && principal.scope !== 'admin') {
    throw new ProblemError(problem(403, 'forbidden', 'this route needs an admin token'));
  }
  if (need.kind === 'scope' && !grants(principal, need.scope)) {
    throw new ProblemError(
      problem(403, 'insufficient_scope', `this route needs the ${need.scope} scope`, {
        headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${need.scope}"` },
      }),
    );
  }
  return next();
});
