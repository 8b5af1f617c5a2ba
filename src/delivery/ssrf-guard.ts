/**
 * Decides whether a delivery may be sent to a URL (server-side request forgery guard). Pure.
 *
 * What it can and cannot see: a Worker cannot resolve a host name to its addresses, so only what is
 * written in the URL is checked here: the scheme, credentials, IP literals in every spelling the
 * WHATWG URL parser accepts (`http://2130706433/`, `http://0x7f.1/`, `http://127.1/` and
 * `http://[::ffff:7f00:1]/` all become loopback before these checks run), and names that only
 * internal resolvers answer (`localhost`, `*.internal`, `*.local`, single-label names such as
 * `metadata`). IP literals are parsed and classified by `ipaddr.js` (its IANA special-purpose tables;
 * see GLOBALLY_REACHABLE below), plus the checks it lacks: metadata addresses, IPv4-compatible IPv6
 * and the IPv4 address inside NAT64 and 6to4. A public name that resolves to a private address is
 * the platform's part: Cloudflare's edge refuses egress to private ranges for such names. Together with `redirect: 'manual'` in the
 * guarded fetch, the checks here plus the platform cover the destinations DESIGN.md §3 refuses.
 *
 * The allow-list (`EGRESS_ALLOWLIST`, for local testing) names exact `host:port` pairs; an entry
 * without a port means the scheme's default port (80 for http, 443 for https). It lifts the address
 * checks only: the scheme and credential rules hold for every URL. A refused address's reason names
 * the entry that would allow it (except for metadata endpoints), since that is what a local user needs.
 */
import ipaddr, { type IPv4, type IPv6 } from 'ipaddr.js';
import { parseAllowEntry } from '../config';

type Verdict = { ok: true; url: URL } | { ok: false; reason: string };

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
    const entry = parseAllowEntry(text);
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

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/** Returns why a (WHATWG-normalised) host is refused, or null when it may be reached. */
function refuseHost(hostname: string): string | null {
  if (hostname.startsWith('[')) {
    const text = hostname.slice(1, -1);
    return ipaddr.IPv6.isValid(text) ? refuseIpv6(ipaddr.IPv6.parse(text)) : 'an unreadable IPv6 address';
  }
  // the URL parser has already turned every other IPv4 spelling into a dotted quad
  if (ipaddr.IPv4.isValidFourPartDecimal(hostname)) return refuseIpv4(ipaddr.IPv4.parse(hostname));
  const name = hostname.replace(/\.+$/, '');
  // the URL parser drops one trailing dot, so `127.0.0.1..` stays a name, which resolvers may read as the address
  const asAddress = name === hostname ? null : hostnameOf(name);
  if (asAddress !== null && ipaddr.IPv4.isValidFourPartDecimal(asAddress)) return refuseIpv4(ipaddr.IPv4.parse(asAddress));
  return refuseName(name);
}

function hostnameOf(host: string): string | null {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
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

/*
 * Which addresses are refused is ipaddr.js's call: every special-purpose range it knows is refused
 * except the few IANA lists as globally reachable, so a range a later version adds is refused too.
 * The tables below only word the refusal, naming the block (texts users and tests rely on).
 */
const METADATA_ADDRESSES = new Set(['169.254.169.254', '100.100.100.200', 'fd00:ec2::254']);
const GLOBALLY_REACHABLE = new Set(['unicast', 'as112', 'amt', 'as112v6', 'orchid2', 'droneRemoteIdProtocolEntityTags']);

// [block, wording]; the first block holding the address words its refusal
const IPV4_WORDING: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/32', 'the unspecified address'],
  ['0.0.0.0/8', 'in "this network" (0/8)'],
  ['10.0.0.0/8', 'private (10/8)'],
  ['100.64.0.0/10', 'shared address space (CGNAT, 100.64/10)'],
  ['127.0.0.0/8', 'loopback (127/8)'],
  ['169.254.0.0/16', 'link-local (169.254/16)'],
  ['172.16.0.0/12', 'private (172.16/12)'],
  ['192.0.0.0/24', 'reserved for IETF protocols (192.0.0/24)'],
  ['192.0.2.0/24', 'reserved for documentation (192.0.2/24)'],
  ['192.88.99.0/24', 'the deprecated 6to4 relay range (192.88.99/24)'],
  ['192.168.0.0/16', 'private (192.168/16)'],
  ['198.18.0.0/15', 'reserved for benchmarking (198.18/15)'],
  ['198.51.100.0/24', 'reserved for documentation (198.51.100/24)'],
  ['203.0.113.0/24', 'reserved for documentation (203.0.113/24)'],
  ['224.0.0.0/4', 'multicast (224/4)'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['240.0.0.0/4', 'reserved (240/4)'],
];

const IPV6_WORDING: ReadonlyArray<readonly [string, string]> = [
  ['::/128', 'the unspecified address'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'an IPv4-mapped address'],
  ['::ffff:0:0:0/96', 'an IPv4-translated address'],
  ['64:ff9b:1::/48', 'local-use NAT64 (64:ff9b:1::/48)'],
  ['100::/64', 'discard-only (100::/64)'],
  ['2001::/32', 'Teredo (2001::/32)'],
  ['2001:2::/48', 'reserved for benchmarking (2001:2::/48)'],
  ['2001:db8::/32', 'reserved for documentation (2001:db8::/32)'],
  ['3fff::/20', 'reserved for documentation (3fff::/20)'],
  ['fc00::/7', 'unique-local (fc00::/7)'],
  ['fe80::/10', 'link-local (fe80::/10)'],
  ['fec0::/10', 'site-local (fec0::/10)'],
  ['ff00::/8', 'multicast (ff00::/8)'],
];

const parsedWording = <T extends IPv4 | IPv6>(table: ReadonlyArray<readonly [string, string]>, parse: (cidr: string) => [T, number]) =>
  table.map(([cidr, wording]) => [parse(cidr), wording] as const);
const IPV4_BLOCKS = parsedWording(IPV4_WORDING, (cidr) => ipaddr.IPv4.parseCIDR(cidr));
const IPV6_BLOCKS = parsedWording(IPV6_WORDING, (cidr) => ipaddr.IPv6.parseCIDR(cidr));

function wording<T extends IPv4 | IPv6>(address: T, blocks: ReadonlyArray<readonly [[T, number], string]>): string {
  const range: string = address.range();
  return blocks.find(([block]) => address.match(block))?.[1] ?? `a special-purpose address (${range})`;
}

function refuseIpv4(address: IPv4): string | null {
  if (METADATA_ADDRESSES.has(address.toString())) return 'a cloud metadata endpoint';
  return GLOBALLY_REACHABLE.has(address.range()) ? null : wording(address, IPV4_BLOCKS);
}

const NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

function refuseIpv6(address: IPv6): string | null {
  if (METADATA_ADDRESSES.has(address.toString())) return 'a cloud metadata endpoint';
  const bytes = address.toByteArray();
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that decides for them.
  if (address.match(NAT64)) {
    const inner = refuseIpv4(new ipaddr.IPv4(bytes.slice(12, 16)));
    return inner && `NAT64 of an address that is ${inner}`;
  }
  if (address.range() === '6to4') {
    const inner = refuseIpv4(new ipaddr.IPv4(bytes.slice(2, 6)));
    return inner && `6to4 of an address that is ${inner}`;
  }
  // ::/96 beyond :: and ::1 (deprecated IPv4-compatible addresses) is "unicast" to ipaddr.js
  const range = address.range();
  if (range === 'unicast' && address.match(IPV4_COMPATIBLE)) return 'an IPv4-compatible address';
  return GLOBALLY_REACHABLE.has(range) ? null : wording(address, IPV6_BLOCKS);
}
