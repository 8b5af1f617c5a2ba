/**
 * The management API as commands use it: the SDK's typed client (`@switchyard/client`), with every
 * answer turned into data or a `CliError` carrying the right exit code, and the tenant a command
 * works on (`--tenant`, else the tenant of a tenant token).
 */
import { createManagementClient, type ManagementClient } from '@switchyard/client';
import { type Connection, resolveConnection } from './config.ts';
import { networkError, problemError, usageError } from './errors.ts';
import { decodeToken } from './jwt.ts';

export interface Api {
  client: ManagementClient;
  connection: Connection;
  /** `--tenant` when given, else the `tenant` claim of a tenant token. */
  tenant(flag: string | undefined): string;
}

export const USER_AGENT = 'switchyard-cli/0.1';
/** No call waits longer: a runtime that vanished mid-request (a sleeping laptop) is a network error. */
const TIMEOUT_MS = 30_000;

const fetchWithTimeout = (request: Request) => fetch(request, { signal: AbortSignal.any([request.signal, AbortSignal.timeout(TIMEOUT_MS)]) });

export async function connectApi(env: Record<string, string | undefined> = process.env): Promise<Api> {
  const connection = await resolveConnection(env);
  const client = createManagementClient({ baseUrl: connection.url, token: connection.token, headers: { 'user-agent': USER_AGENT }, fetch: fetchWithTimeout });
  const claims = decodeToken(connection.token);
  return {
    client,
    connection,
    tenant(flag) {
      const tenant = flag || (typeof claims?.tenant === 'string' ? claims.tenant : undefined);
      if (!tenant) throw usageError('error: --tenant <tn_…> is required (the token is not a tenant token)');
      return tenant;
    },
  };
}

/** The data of a typed call, or a CliError for its problem / the network failure. */
export async function unwrap<D>(url: string, pending: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  let result: { data?: D; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (error) {
    throw networkError(url, error);
  }
  if (!result.response.ok) throw problemError(result.response.status, result.error, result.response.statusText);
  return result.data as D;
}
