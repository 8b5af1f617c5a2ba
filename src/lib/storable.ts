/**
 * Text Switchyard writes itself, made storable: Postgres refuses NUL in text and jsonb, and jsonb
 * refuses unpaired UTF-16 surrogates. What a receiver answers, or an error says, may hold either; it
 * is kept with U+FFFD in their place, so one odd byte cannot fail a write that carries other rows
 * (a batch of delivery attempts holds several tenants').
 */

// an odd run of backslashes before \u means a real escape; JSON.stringify escapes only lone surrogates
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/i;
const UNSTORABLE_ESCAPES = new RegExp(UNSTORABLE_ESCAPE.source, 'gi');

/** Whether JSON text (as JSON.stringify writes it) holds an escape jsonb refuses: NUL or an unpaired surrogate. */
export function hasUnstorableEscape(json: string): boolean {
  return UNSTORABLE_ESCAPE.test(json);
}

/** JSON text (as JSON.stringify writes it) with NUL and unpaired surrogate escapes replaced by U+FFFD. */
export function storableJson(json: string): string {
  return json.replace(UNSTORABLE_ESCAPES, '$1\\ufffd');
}

/** A string with NUL and unpaired surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
