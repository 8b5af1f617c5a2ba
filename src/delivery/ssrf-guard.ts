/**
 * Decides whether a delivery may be sent to a URL (server-side request forgery guard). Pure.
 *
 * What it can and cannot see: a Worker cannot resolve a host name to its addresses, so only what is
 * written in the URL is checked here: the scheme, credentials, IP literals in every spelling the
 * WHATWG URL parser accepts (`http://2130706433/`, `http://0x7f.1/`, `http://127.1/` and
 * `http://[::ffff:7f00:1]/` all become loopback before these checks run), and names that only
 * internal resolvers answer (`localhost`, `*.internal`, `*.local`, single-label names such as
 * `metadata`). A public name that resolves to a private address is the platform's part: Cloudflare's
 * edge refuses egress to private ranges for such names. Together with `redirect: 'manual'` in the
 * guarded fetch, the checks here plus the platform cover the destinations DESIGN.md §3 refuses.
 *
 * The allow-list (`EGRESS_ALLOWLIST`, for local testing) names exact `host:port` pairs; an entry
 * without a port means the scheme's default port (80 for http, 443 for https). It lifts the address
 * checks only: the scheme and credential rules hold for every URL. A refused address's reason names
 * the entry that would allow it (except for metadata endpoints), since that is what a local user needs.
 */
type Verdict = { ok: true; url: URL } | { ok: false; reason: string };

interface AllowEntry {
  host: string;
  port: number | null;
}

export function checkDestination(url: string, allowlist: readonly string[]): Verdict {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `scheme ${parsed.protocol} is not allowed; use http or https` };
  }
  if (parsed.username || parsed.password) return { ok: false, reason: 'URLs with credentials (user:pass@) are not allowed' };
  const port = parsed.port ? Number(parsed.port) : defaultPort(parsed.protocol);
  const allowed = allowlist.some((text) => {
    const entry = parseEntry(text);
    return entry !== null && entry.host === parsed.hostname && (entry.port ?? defaultPort(parsed.protocol)) === port;
  });
  if (allowed) return { ok: true, url: parsed };
  const refusal = refuseHost(parsed.hostname);
  return refusal ? { ok: false, reason: `${parsed.hostname} is ${refusal}${allowHint(refusal, `${parsed.hostname}:${port}`)}` } : { ok: true, url: parsed };
}

/** How a local destination is allowed after all; none for metadata endpoints, which nobody should reach. */
function allowHint(refusal: string, hostPort: string): string {
  if (refusal.includes('metadata')) return '';
  return `; to allow it for local testing, list ${hostPort} in EGRESS_ALLOWLIST (e.g. EGRESS_ALLOWLIST=${hostPort} npm run dev)`;
}

/**
 * Reads a comma-separated `EGRESS_ALLOWLIST` into normalised entries (`127.0.0.1:9000`,
 * `[::1]:8080`, `example.test`). Throws on a malformed entry: a typo here should stop a deployment,
 * not silently refuse every local delivery.
 */
export function parseAllowlist(value?: string): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((text) => text.trim())
    .filter((text) => text !== '')
    .map((text) => {
      const entry = parseEntry(text);
      if (!entry) throw new Error(`EGRESS_ALLOWLIST: "${text}" is not host or host:port`);
      return entry.port === null ? entry.host : `${entry.host}:${entry.port}`;
    });
}

function parseEntry(text: string): AllowEntry | null {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match?.[1]) return null;
  const port = match[2] === undefined ? null : Number(match[2]);
  if (port !== null && (port < 1 || port > 65_535)) return null;
  try {
    // the same normalisation a destination URL gets, so `127.1` and `LOCALHOST` match their URLs
    return { host: new URL(`http://${match[1]}/`).hostname, port };
  } catch {
    return null;
  }
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/** Returns why a (WHATWG-normalised) host is refused, or null when it may be reached. */
function refuseHost(hostname: string): string | null {
  if (hostname.startsWith('[')) return refuseIpv6(parseIpv6(hostname.slice(1, -1)));
  const ipv4 = parseIpv4(hostname);
  if (ipv4 !== null) return refuseIpv4(ipv4);
  return refuseName(hostname.replace(/\.+$/, ''));
}

const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data']);
const INTERNAL_SUFFIXES = ['localhost', 'internal', 'local', 'localdomain', 'home.arpa'];

function refuseName(name: string): string | null {
  if (METADATA_NAMES.has(name)) return 'a cloud metadata endpoint';
  for (const suffix of INTERNAL_SUFFIXES) {
    if (name === suffix || name.endsWith(`.${suffix}`)) return `a .${suffix} name, which only internal resolvers answer`;
  }
  if (!name.includes('.')) return 'a single-label name, which only internal resolvers answer';
  return null;
}

// [first address, prefix length, what it is]; specific entries come before the ranges holding them.
const IPV4_REFUSED: ReadonlyArray<readonly [string, number, string]> = [
  ['169.254.169.254', 32, 'a cloud metadata endpoint'],
  ['100.100.100.200', 32, 'a cloud metadata endpoint'],
  ['0.0.0.0', 32, 'the unspecified address'],
  ['255.255.255.255', 32, 'the broadcast address'],
  ['0.0.0.0', 8, 'in "this network" (0/8)'],
  ['10.0.0.0', 8, 'private (10/8)'],
  ['100.64.0.0', 10, 'shared address space (CGNAT, 100.64/10)'],
  ['127.0.0.0', 8, 'loopback (127/8)'],
  ['169.254.0.0', 16, 'link-local (169.254/16)'],
  ['172.16.0.0', 12, 'private (172.16/12)'],
  ['192.0.0.0', 24, 'reserved for IETF protocols (192.0.0/24)'],
  ['192.0.2.0', 24, 'reserved for documentation (192.0.2/24)'],
  ['192.88.99.0', 24, 'the deprecated 6to4 relay range (192.88.99/24)'],
  ['192.168.0.0', 16, 'private (192.168/16)'],
  ['198.18.0.0', 15, 'reserved for benchmarking (198.18/15)'],
  ['198.51.100.0', 24, 'reserved for documentation (198.51.100/24)'],
  ['203.0.113.0', 24, 'reserved for documentation (203.0.113/24)'],
  ['224.0.0.0', 4, 'multicast (224/4)'],
  ['240.0.0.0', 4, 'reserved (240/4)'],
];

function refuseIpv4(address: number): string | null {
  for (const [base, bits, what] of IPV4_REFUSED) {
    const shift = 32 - bits;
    if (address >>> shift === (parseIpv4(base) ?? 0) >>> shift) return what;
  }
  return null;
}

/** Dotted quad to an unsigned 32-bit number; the URL parser has already turned other forms into this. */
function parseIpv4(text: string): number | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return null;
  return octets.reduce((acc, octet) => acc * 256 + octet, 0);
}

const IPV6_REFUSED: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'the unspecified address'],
  ['::1', 128, 'loopback'],
  ['fd00:ec2::254', 128, 'a cloud metadata endpoint'],
  ['::ffff:0:0', 96, 'an IPv4-mapped address'],
  ['::ffff:0:0:0', 96, 'an IPv4-translated address'],
  ['::', 96, 'an IPv4-compatible address'],
  ['64:ff9b:1::', 48, 'local-use NAT64 (64:ff9b:1::/48)'],
  ['100::', 64, 'discard-only (100::/64)'],
  ['2001::', 32, 'Teredo (2001::/32)'],
  ['2001:db8::', 32, 'reserved for documentation (2001:db8::/32)'],
  ['fc00::', 7, 'unique-local (fc00::/7)'],
  ['fe80::', 10, 'link-local (fe80::/10)'],
  ['fec0::', 10, 'site-local (fec0::/10)'],
  ['ff00::', 8, 'multicast (ff00::/8)'],
];

function refuseIpv6(address: bigint | null): string | null {
  if (address === null) return 'an unreadable IPv6 address';
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that decides for them.
  if (address >> 32n === (parseIpv6('64:ff9b::') ?? 0n) >> 32n) {
    const inner = refuseIpv4(Number(address & 0xffff_ffffn));
    return inner && `NAT64 of an address that is ${inner}`;
  }
  if (address >> 112n === 0x2002n) {
    const inner = refuseIpv4(Number((address >> 80n) & 0xffff_ffffn));
    return inner && `6to4 of an address that is ${inner}`;
  }
  for (const [base, bits, what] of IPV6_REFUSED) {
    const shift = BigInt(128 - bits);
    if (address >> shift === (parseIpv6(base) ?? -1n) >> shift) return what;
  }
  return null;
}

/** IPv6 text (no brackets) to a 128-bit number; accepts `::` and a trailing dotted quad. */
function parseIpv6(text: string): bigint | null {
  let groups = text.toLowerCase().split(':');
  const last = groups[groups.length - 1] ?? '';
  if (last.includes('.')) {
    const ipv4 = parseIpv4(last);
    if (ipv4 === null) return null;
    groups = [...groups.slice(0, -1), (ipv4 >>> 16).toString(16), (ipv4 & 0xffff).toString(16)];
  }
  const gap = groups.indexOf('');
  if (gap !== -1) {
    const head = groups.slice(0, gap);
    const tail = groups.slice(gap).filter((group) => group !== '');
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  }
  if (groups.length !== 8 || groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return null;
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}
