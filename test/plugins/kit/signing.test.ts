import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ed25519PublicKey, newEd25519Secret, signatureHeaders } from '../../../src/plugins/kit/signing';

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text) as Uint8Array<ArrayBuffer>;
const hexToBase64 = (hex: string) => btoa(String.fromCharCode(...(hex.match(/../g) ?? []).map((pair) => parseInt(pair, 16))));
const base64ToBytes = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const newWhsec = () => `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;

// Standard Webhooks reference vector and RFC 8032 §7.1 test 1 key pair.
const REF = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}' };
const RFC8032 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
};

async function verifyV1a(publicKey: string, signatureEntry: string, content: string): Promise<boolean> {
  const key = await crypto.subtle.importKey('raw', base64ToBytes(publicKey.slice('whpk_'.length)), { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify('Ed25519', key, base64ToBytes(signatureEntry.slice('v1a,'.length)), bytes(content));
}

describe('outbound signing', () => {
  it('produces the reference signature and headers when signing the published vector', async () => {
    const headers = await signatureHeaders({ id: REF.id, timestamp: REF.timestamp, body: bytes(REF.body), secrets: [REF.secret] });
    expect(headers).toEqual({
      'webhook-id': REF.id,
      'webhook-timestamp': String(REF.timestamp),
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('passes the official standardwebhooks verifier when signed with a whsec_ secret now', async () => {
    const secret = newWhsec();
    const body = JSON.stringify({ specversion: '1.0', id: 'evt_1', type: 'orders.created', data: { total: '12.50 €' } });
    const headers = await signatureHeaders({ id: 'dlv_1', timestamp: Math.floor(Date.now() / 1000), body: bytes(body), secrets: [secret] });
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ id: 'evt_1' });
    expect(() => new Webhook(newWhsec()).verify(body, headers)).toThrow(/No matching signature/);
  });

  it('signs once per secret, newest first, so either side of a rotation verifies', async () => {
    const [newer, older] = [newWhsec(), newWhsec()];
    const body = '{"rotation":true}';
    const headers = await signatureHeaders({ id: 'dlv_2', timestamp: Math.floor(Date.now() / 1000), body: bytes(body), secrets: [newer, older] });
    const entries = headers['webhook-signature']?.split(' ') ?? [];
    expect(entries).toHaveLength(2);
    expect(entries.every((entry) => entry.startsWith('v1,'))).toBe(true);
    expect(entries[0]).toBe(new Webhook(newer).sign('dlv_2', new Date(Number(headers['webhook-timestamp']) * 1000), body));
    expect(() => new Webhook(newer).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(older).verify(body, headers)).not.toThrow();
  });

  it('signs v1a with a whsk_ seed that the matching whpk_ key verifies', async () => {
    const { secret, publicKey } = await newEd25519Secret();
    expect(secret).toMatch(/^whsk_[A-Za-z0-9+/]{43}=$/);
    expect(publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    expect(await ed25519PublicKey(secret)).toBe(publicKey);

    const headers = await signatureHeaders({ id: 'dlv_3', timestamp: 1700000000, body: bytes('{"a":1}'), secrets: [secret] });
    const entry = headers['webhook-signature'] ?? '';
    expect(entry).toMatch(/^v1a,/);
    expect(await verifyV1a(publicKey, entry, 'dlv_3.1700000000.{"a":1}')).toBe(true);
    expect(await verifyV1a(publicKey, entry, 'dlv_3.1700000000.{"a":2}')).toBe(false);
  });

  it('derives the RFC 8032 public key from its seed and signs verifiably when given that seed', async () => {
    const secret = `whsk_${hexToBase64(RFC8032.seed)}`;
    const publicKey = `whpk_${hexToBase64(RFC8032.publicKey)}`;
    expect(await ed25519PublicKey(secret)).toBe(publicKey);
    const headers = await signatureHeaders({ id: 'dlv_4', timestamp: 1, body: bytes(''), secrets: [secret] });
    expect(await verifyV1a(publicKey, headers['webhook-signature'] ?? '', 'dlv_4.1.')).toBe(true);
  });

  it('puts v1 and v1a entries side by side when a subscription has both kinds of secret', async () => {
    const whsec = newWhsec();
    const { secret: whsk, publicKey } = await newEd25519Secret();
    const body = '{"mixed":true}';
    const headers = await signatureHeaders({ id: 'dlv_5', timestamp: Math.floor(Date.now() / 1000), body: bytes(body), secrets: [whsk, whsec] });
    const [first, second] = headers['webhook-signature']?.split(' ') ?? [];
    expect(await verifyV1a(publicKey, first ?? '', `dlv_5.${headers['webhook-timestamp']}.${body}`)).toBe(true);
    expect(second).toMatch(/^v1,/);
    expect(() => new Webhook(whsec).verify(body, headers)).not.toThrow();
  });

  it('leaves webhook-signature out when there are no secrets', async () => {
    expect(await signatureHeaders({ id: 'dlv_6', timestamp: 5, body: bytes('{}'), secrets: [] })).toEqual({ 'webhook-id': 'dlv_6', 'webhook-timestamp': '5' });
  });

  it('throws when a secret is in neither format or a whsk_ seed is not 32 bytes', async () => {
    const sign = (secret: string) => signatureHeaders({ id: 'dlv_7', timestamp: 5, body: bytes('{}'), secrets: [secret] });
    await expect(sign('sk_live_123')).rejects.toThrow(/whsec_ or whsk_/);
    await expect(sign(`whsk_${btoa('short')}`)).rejects.toThrow(/32-byte/);
    await expect(sign('whsk_!!!')).rejects.toThrow(/32-byte/);
  });
});
