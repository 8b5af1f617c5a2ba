import type { Context } from 'hono';
import { findTenant, type Tenant } from '../db/tenants';
import { problem, ProblemError } from '../lib/problem';
import type { AppEnv } from './context';
import { assertTenantAccess } from './middleware/auth';

/** Loads a tenant the caller may see, or ends the request with 404. */
export async function loadTenant(c: Context<AppEnv>, tenantId: string): Promise<Tenant> {
  assertTenantAccess(c.get('principal'), tenantId);
  const tenant = await findTenant(c.var.db, tenantId);
  if (!tenant) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
  return tenant;
}
