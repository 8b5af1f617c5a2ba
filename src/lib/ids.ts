/**
 * Prefixed, opaque, time-ordered ids (`evt_01J…`): 48-bit millisecond time + 80 random bits in
 * Crockford base32, so they sort by creation and leak nothing but roughly when.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export type IdPrefix = 'tn' | 'src' | 'sub' | 'plg' | 'evt' | 'dlv' | 'sec' | 'rpl' | 'rty';

export function newId(prefix: IdPrefix, now = Date.now()): string {
  const random = crypto.getRandomValues(new Uint8Array(10));
  let out = '';
  let time = now;
  for (let i = 9; i >= 0; i--) {
    out = ALPHABET[time % 32] + out;
    time = Math.floor(time / 32);
  }
  let bits = 0;
  let value = 0;
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >> bits) & 31];
    }
  }
  return `${prefix}_${out}`;
}

/** The millisecond time an id of {@link newId} was made at (an event's: its `received_at`); null when `id` is not one. */
export function timeOfId(id: string): number | null {
  const body = id.slice(id.indexOf('_') + 1);
  if (body.length !== 26) return null;
  let time = 0;
  for (const char of body.slice(0, 10)) {
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) return null;
    time = time * 32 + digit;
  }
  return time;
}
