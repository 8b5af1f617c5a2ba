import { describe, expect, it } from 'vitest';
import { parseAllowlist } from '../../src/config';
import { checkDestination } from '../../src/delivery/ssrf-guard';

// [url, why it is refused]; the reason is matched as a substring of what the guard says
const REFUSED: ReadonlyArray<readonly [string, string]> = [
  // schemes and credentials
  ['ftp://example.com/', 'scheme ftp:'],
  ['file:///etc/passwd', 'scheme file:'],
  ['ws://example.com/', 'scheme ws:'],
  ['javascript:alert(1)', 'scheme javascript:'],
  ['data:text/plain,hi', 'scheme data:'],
  ['http://user:pass@example.com/', 'credentials'],
  ['http://user@example.com/', 'credentials'],
  ['https://:secret@example.com/', 'credentials'],
  ['not a url', 'not a valid URL'],
  ['http://', 'not a valid URL'],
  ['http://256.0.0.1/', 'not a valid URL'],
  ['http://1.2.3.4.5/', 'not a valid URL'],
  // IPv4 loopback in the spellings the URL parser folds into 127.0.0.1
  ['http://127.0.0.1/', 'loopback'],
  ['http://127.0.0.1:8787/', 'loopback'],
  ['http://127.255.255.254/', 'loopback'],
  ['http://2130706433/', 'loopback'],
  ['http://0x7f.1/', 'loopback'],
  ['http://0x7f000001/', 'loopback'],
  ['http://127.1/', 'loopback'],
  ['http://0177.0.0.1/', 'loopback'],
  ['http://017700000001/', 'loopback'],
  ['http://127.0.0.1./', 'loopback'],
  ['http://１２７.０.０.１/', 'loopback'],
  ['http://①②⑦.⓪.⓪.①/', 'loopback'],
  ['http://127.0.0.1\\@example.com/', 'loopback'],
  // other IPv4 ranges
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://0.1.2.3/', 'this network'],
  ['http://10.0.0.1/', 'private (10/8)'],
  ['http://10.255.255.255/', 'private (10/8)'],
  ['http://172.16.0.1/', 'private (172.16/12)'],
  ['http://172.31.255.255/', 'private (172.16/12)'],
  ['http://192.168.1.1/', 'private (192.168/16)'],
  ['http://3232235777/', 'private (192.168/16)'],
  ['http://100.64.0.1/', 'CGNAT'],
  ['http://100.127.255.255/', 'CGNAT'],
  ['http://169.254.1.1/', 'link-local'],
  ['http://169.254.169.254/latest/meta-data/', 'metadata'],
  ['http://0xa9fea9fe/', 'metadata'],
  ['http://100.100.100.200/', 'metadata'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://239.255.255.250/', 'multicast'],
  ['http://255.255.255.255/', 'broadcast'],
  ['http://240.0.0.1/', 'reserved (240/4)'],
  ['http://192.0.0.170/', 'IETF protocols'],
  ['http://198.18.0.1/', 'benchmarking'],
  ['http://192.0.2.1/', 'documentation'],
  // IPv6
  ['http://[::1]/', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]:8080/', 'loopback'],
  ['http://[::]/', 'unspecified'],
  ['http://[::ffff:127.0.0.1]/', 'IPv4-mapped'],
  ['http://[::ffff:7f00:1]/', 'IPv4-mapped'],
  ['http://[::ffff:a9fe:a9fe]/', 'IPv4-mapped'],
  ['http://[::ffff:8.8.8.8]/', 'IPv4-mapped'],
  ['http://[::ffff:0:7f00:1]/', 'IPv4-translated'],
  ['http://[::127.0.0.1]/', 'IPv4-compatible'],
  ['http://[64:ff9b::127.0.0.1]/', 'NAT64 of an address that is loopback'],
  ['http://[64:ff9b::a00:1]/', 'NAT64 of an address that is private'],
  ['http://[64:ff9b::a9fe:a9fe]/', 'NAT64 of an address that is a cloud metadata endpoint'],
  ['http://[64:ff9b:1::a00:1]/', 'local-use NAT64'],
  ['http://[2002:7f00:1::]/', '6to4 of an address that is loopback'],
  ['http://[2002:c0a8:101::1]/', '6to4 of an address that is private'],
  ['http://[fd00:ec2::254]/', 'metadata'],
  ['http://[fc00::1]/', 'unique-local'],
  ['http://[fdab:cdef::1]/', 'unique-local'],
  ['http://[fe80::1]/', 'link-local'],
  ['http://[febf:ffff::1]/', 'link-local'],
  ['http://[fec0::1]/', 'site-local'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://[2001:db8::1]/', 'documentation'],
  ['http://[2001:0:4136:e378::1]/', 'Teredo'],
  ['http://[100::1]/', 'discard-only'],
  // names that only internal resolvers answer
  ['http://localhost/', '.localhost'],
  ['http://LOCALHOST:8787/', '.localhost'],
  ['http://localhost./', '.localhost'],
  ['http://api.localhost/', '.localhost'],
  ['http://metadata/computeMetadata/v1/', 'metadata'],
  ['http://metadata.google.internal/', 'metadata'],
  ['http://instance-data/', 'metadata'],
  ['http://db.internal/', '.internal'],
  ['http://ip-10-0-0-1.ec2.internal/', '.internal'],
  ['http://printer.local/', '.local'],
  ['http://router.home.arpa/', '.home.arpa'],
  ['http://box.localdomain/', '.localdomain'],
  ['http://intranet/', 'single-label'],
  // forms a hand-kept parser tends to miss (the URL parser folds most; the guard sees the result)
  ['http://0X7F.1/', 'loopback'],
  ['http://0x7f.0x0.0x0.0x1/', 'loopback'],
  ['http://127.000.000.001/', 'loopback'],
  ['http://0177.1/', 'loopback'],
  ['http://127.0.0.1.../', 'loopback'],
  ['http://0x7f.1../', 'loopback'],
  ['http://10.0.0.1../', 'private (10/8)'],
  ['http://0.0.0.0:8080/', 'unspecified'],
  ['http://[::]:8080/', 'unspecified'],
  ['http://[0:0:0:0:0:0:0:0]/', 'unspecified'],
  ['http://[::FFFF:7F00:1]/', 'IPv4-mapped'],
  ['http://[0:0:0:0:0:ffff:7f00:1]/', 'IPv4-mapped'],
  ['http://[::ffff:169.254.169.254]/', 'IPv4-mapped'],
  ['http://[::ffff:0177.0.0.1]/', 'not a valid URL'],
  ['http://[::ffff:127.1]/', 'not a valid URL'],
  ['http://[FE80::1]/', 'link-local'],
  ['http://[FD00:EC2::254]/', 'metadata'],
  ['http://[64:FF9B::7F00:1]/', 'NAT64 of an address that is loopback'],
  ['http://[fe80::1%25eth0]/', 'not a valid URL'],
  ['http://[fe80::1%eth0]/', 'not a valid URL'],
  ['http://metadata.google.internal./', 'metadata'],
  ['http://db.internal../', '.internal'],
  ['http://intranet./', 'single-label'],
  // special-purpose blocks of ipaddr.js's IANA tables that the hand-kept table lacked
  ['http://[2001:2::1]/', 'benchmarking'],
  ['http://[3fff::1]/', 'documentation'],
  ['http://[5f00::1]/', 'special-purpose'],
];

const ALLOWED: readonly string[] = [
  'https://example.com/hooks?x=1',
  'http://example.com:8080/',
  'https://hooks.slack.com/services/T000/B000/XXXX',
  'https://discord.com/api/webhooks/1/abc',
  'http://1.1.1.1/',
  'http://8.8.8.8:8443/',
  'http://11.0.0.1/',
  'http://100.63.255.255/',
  'http://100.128.0.1/',
  'http://172.15.255.255/',
  'http://172.32.0.1/',
  'http://169.253.255.255/',
  'http://192.169.0.1/',
  'http://223.255.255.255/',
  'http://[2606:4700:4700::1111]/',
  'http://[64:ff9b::808:808]/',
  'http://[2002:808:808::1]/',
  'http://example.com#@127.0.0.1/',
  'http://localhost.example.com/',
  'http://internal.example.com/',
  'http://xn--bcher-kva.example/',
  // special-purpose blocks IANA lists as globally reachable (AS112 DNS, AMT relays)
  'http://192.175.48.1/',
  'http://192.52.193.1/',
  'http://[2001:4:112::1]/',
  'http://example.com./',
];

describe('SSRF guard', () => {
  it.each(REFUSED)('refuses %s when checked without an allow-list', (url, why) => {
    const verdict = checkDestination(url, []);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(why);
  });

  it.each(ALLOWED)('lets %s through when it is a public destination', (url) => {
    expect(checkDestination(url, [])).toMatchObject({ ok: true });
  });

  it('hands back the normalised URL that passed, which is the one to fetch', () => {
    const verdict = checkDestination('HTTP://Example.COM:443/a/../b', []);
    expect(verdict.ok && verdict.url.href).toBe('http://example.com:443/b');
  });

  it('lets exactly the allow-listed host and port through when an entry matches', () => {
    const allow = ['127.0.0.1:9000', 'localhost:8787', '[::1]:9001'];
    expect(checkDestination('http://127.0.0.1:9000/hook', allow)).toMatchObject({ ok: true });
    expect(checkDestination('http://127.1:9000/hook', allow)).toMatchObject({ ok: true });
    expect(checkDestination('http://2130706433:9000/', allow)).toMatchObject({ ok: true });
    expect(checkDestination('http://localhost:8787/', allow)).toMatchObject({ ok: true });
    expect(checkDestination('http://[::1]:9001/', allow)).toMatchObject({ ok: true });
    expect(checkDestination('http://127.0.0.1:9001/', allow)).toMatchObject({ ok: false });
    expect(checkDestination('http://127.0.0.2:9000/', allow)).toMatchObject({ ok: false });
    expect(checkDestination('http://127.0.0.1/', allow)).toMatchObject({ ok: false });
    expect(checkDestination('http://169.254.169.254:9000/', allow)).toMatchObject({ ok: false });
  });

  it('defaults the port per scheme when an allow-list entry or URL leaves it out', () => {
    expect(checkDestination('http://127.0.0.1/', ['127.0.0.1'])).toMatchObject({ ok: true });
    expect(checkDestination('https://127.0.0.1/', ['127.0.0.1'])).toMatchObject({ ok: true });
    expect(checkDestination('http://127.0.0.1:9000/', ['127.0.0.1'])).toMatchObject({ ok: false });
    expect(checkDestination('http://127.0.0.1:80/', ['127.0.0.1:80'])).toMatchObject({ ok: true });
    expect(checkDestination('https://127.0.0.1/', ['127.0.0.1:80'])).toMatchObject({ ok: false });
  });

  it('names the EGRESS_ALLOWLIST entry that allows a refused local destination, and that entry works', () => {
    for (const [url, entry] of [
      ['http://127.0.0.1:9000/hook', '127.0.0.1:9000'],
      ['http://localhost/', 'localhost:80'],
      ['https://10.0.0.8/', '10.0.0.8:443'],
      ['http://[::1]:9001/', '[::1]:9001'],
    ] as const) {
      const verdict = checkDestination(url, []);
      expect(verdict.ok, url).toBe(false);
      if (!verdict.ok) expect(verdict.reason, url).toContain(`list ${entry} in EGRESS_ALLOWLIST (e.g. EGRESS_ALLOWLIST=${entry} npm run dev)`);
      expect(checkDestination(url, parseAllowlist(entry)), url).toMatchObject({ ok: true });
    }
  });

  it('suggests no allow-list entry when the destination is a metadata endpoint', () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://metadata.google.internal/', 'http://[fd00:ec2::254]/']) {
      const verdict = checkDestination(url, []);
      expect(verdict.ok === false && verdict.reason, url).not.toContain('EGRESS_ALLOWLIST');
    }
  });

  it('still refuses other schemes and credentials when the host is allow-listed', () => {
    expect(checkDestination('http://user:pass@127.0.0.1:9000/', ['127.0.0.1:9000'])).toMatchObject({ ok: false });
    expect(checkDestination('ftp://127.0.0.1:9000/', ['127.0.0.1:9000'])).toMatchObject({ ok: false });
  });

  it('parses EGRESS_ALLOWLIST into normalised entries when the value is set', () => {
    expect(parseAllowlist(' 127.0.0.1:9000 , LOCALHOST:8787,,[0:0::1]:9001, 127.1:80, hooks.test ')).toEqual([
      '127.0.0.1:9000',
      'localhost:8787',
      '[::1]:9001',
      '127.0.0.1:80',
      'hooks.test',
    ]);
    expect(parseAllowlist(undefined)).toEqual([]);
    expect(parseAllowlist('')).toEqual([]);
  });

  it('throws on a malformed EGRESS_ALLOWLIST entry instead of ignoring it', () => {
    for (const bad of ['http://127.0.0.1:9000', '127.0.0.1:99999', '127.0.0.1:0', 'user@host:80', '127.0.0.1:9000/path', '[::1']) {
      expect(() => parseAllowlist(bad), bad).toThrow(/EGRESS_ALLOWLIST/);
    }
  });
});
