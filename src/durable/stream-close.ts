/** How the live stream ends a connection: WebSocket close codes and reasons (SSE sends them in a last `close` event). */
export const CLOSE = {
  slowConsumer: { code: 4008, reason: 'slow_consumer' },
  tokenExpired: { code: 4401, reason: 'token_expired' },
  tenantDeleted: { code: 4410, reason: 'tenant_deleted' },
  restarting: { code: 1012, reason: 'restarting' },
  backlogFailed: { code: 1011, reason: 'backlog_unavailable' },
} as const;
