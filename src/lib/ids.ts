/**
 * Prefixed, opaque, time-ordered ids (`evt_01J…`): 48-bit millisecond time + 80 random bits in
 * Crockford base32, so they sort by creation and leak nothing but roughly when.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export type IdPrefix = 'tn' | 'src' | 'sub' | 'plg' | 'evt' | 'dlv' | 'sec' | 'rpl' | 'rty';

export function newId(prefix: IdPrefix, now = Date.now()): string {
  return newIds(prefix, 1, now)[0]!;
}

/**
 * `count` ids of {@link newId}'s form made at `now`: the time part is written once and the random
 * bits come from one `getRandomValues` call (an append of 1,000 events made 1,000 calls before).
 */
export function newIds(prefix: IdPrefix, count: number, now = Date.now()): string[] {
  const random = crypto.getRandomValues(new Uint8Array(10 * count));
  let head = `${prefix}_`;
  let stamp = '';
  let time = now;
  for (let i = 9; i >= 0; i--) {
    stamp = ALPHABET[time % 32] + stamp;
    time = Math.floor(time / 32);
  }
  head += stamp;
  const ids: string[] = new Array(count);
  for (let n = 0; n < count; n++) {
    // 80 bits as 16 base32 digits: five bytes make eight digits, twice
    let out = head;
    for (let half = 0; half < 2; half++) {
      const at = n * 10 + half * 5;
      const hi = random[at]!;
      const lo = (random[at + 1]! << 24) | (random[at + 2]! << 16) | (random[at + 3]! << 8) | random[at + 4]!;
      out +=
        ALPHABET[hi >> 3]! +
        ALPHABET[((hi & 7) << 2) | (lo >>> 30)]! +
        ALPHABET[(lo >>> 25) & 31]! +
        ALPHABET[(lo >>> 20) & 31]! +
        ALPHABET[(lo >>> 15) & 31]! +
        ALPHABET[(lo >>> 10) & 31]! +
        ALPHABET[(lo >>> 5) & 31]! +
        ALPHABET[lo & 31]!;
    }
    ids[n] = out;
  }
  return ids;
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
