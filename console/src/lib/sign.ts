/** Standard Webhooks v1 signing in the browser (WebCrypto), for "send test event" through a source. */
export async function signStandardWebhook(secret: string, id: string, body: string, now = Date.now()): Promise<Record<string, string>> {
  const raw = Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const timestamp = String(Math.floor(now / 1000));
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)));
  const signature = btoa(String.fromCharCode(...mac));
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}

const KEY = 'switchyard.console.source-secrets';

/** Source secrets this tab has seen (shown at creation or rotation), so it can sign test events. */
export function rememberSourceSecret(sourceId: string, secret: string): void {
  sessionStorage.setItem(KEY, JSON.stringify({ ...knownSourceSecrets(), [sourceId]: secret }));
}

export function knownSourceSecrets(): Record<string, string> {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}
