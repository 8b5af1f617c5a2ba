/**
 * `allowed_hosts` entries of script actions: `host` (the scheme's default port) or `host:port`, IPv6 in
 * brackets. Normalised with the URL parser, so `EXAMPLE.com` and `127.1` match the URLs they mean.
 */
const ENTRY = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/;

/** The canonical `host` or `host:port` form, or null when the text is not one. */
export function normaliseHost(text: string): string | null {
  const match = ENTRY.exec(text.trim());
  if (!match?.[1]) return null;
  const port = match[2] === undefined ? null : Number(match[2]);
  if (port !== null && (port < 1 || port > 65_535)) return null;
  try {
    const host = new URL(`http://${match[1]}/`).hostname;
    return port === null ? host : `${host}:${port}`;
  } catch {
    return null;
  }
}

export function hostAllowed(url: string, allowedHosts: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return allowedHosts.some((entry) => {
    const normalised = normaliseHost(entry);
    if (normalised === null) return false;
    return normalised.includes(':') && !normalised.endsWith(']')
      ? normalised === `${parsed.hostname}:${port}`
      : normalised === parsed.hostname && parsed.port === '';
  });
}
