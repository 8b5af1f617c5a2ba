/**
 * Text Switchyard writes itself, made storable: Postgres refuses NUL in text and jsonb, and jsonb
 * refuses unpaired UTF-16 surrogates. What a receiver answers, or an error says, may hold either; it
 * is kept with U+FFFD in their place, so one odd byte cannot fail a write that carries other rows
 * (a batch of delivery attempts holds several tenants').
 */

/** JSON text (as JSON.stringify writes it) with NUL and unpaired surrogate escapes replaced by U+FFFD. */
export function storableJson(json: string): string {
  // an odd run of backslashes before \u means a real escape; JSON.stringify escapes only lone surrogates
  return json.replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, '$1\\ufffd');
}

/** A string with NUL and unpaired surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
