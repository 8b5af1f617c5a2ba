/**
 * `haystack.includes(needle)` in O(haystack + needle) whatever the inputs. V8's own search degrades
 * to haystack × needle on inputs such as 1 MiB of "a" against "a…ab a…a" (0.7 s for a 5 KB needle),
 * and in a `where` filter the needle is a tenant's and the haystack a producer's. Short needles keep
 * the built-in search, whose worst case they bound.
 */
const SHORT_NEEDLE = 64;

export function includesLinear(haystack: string, needle: string): boolean {
  if (needle.length <= SHORT_NEEDLE || needle.length > haystack.length) return haystack.includes(needle);
  // Knuth–Morris–Pratt over UTF-16 units, like `includes`
  const fallback = new Int32Array(needle.length);
  for (let i = 1, k = 0; i < needle.length; i++) {
    while (k > 0 && needle.charCodeAt(i) !== needle.charCodeAt(k)) k = fallback[k - 1]!;
    if (needle.charCodeAt(i) === needle.charCodeAt(k)) k++;
    fallback[i] = k;
  }
  for (let i = 0, k = 0; i < haystack.length; i++) {
    while (k > 0 && haystack.charCodeAt(i) !== needle.charCodeAt(k)) k = fallback[k - 1]!;
    if (haystack.charCodeAt(i) === needle.charCodeAt(k)) k++;
    if (k === needle.length) return true;
  }
  return false;
}
