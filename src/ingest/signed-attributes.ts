/**
 * What a verifier's signature vouches for, held against what the request asks us to store.
 *
 * Structured and batch CloudEvents carry every attribute in the body, which every verifier signs.
 * Binary mode carries them in `ce-*` headers, which no verifier signs: it is accepted only when the
 * verifier names the event id its signature covers (`signedId`, Standard Webhooks' `webhook-id`) and
 * `ce-id` is that id. Then a replay with another `ce-type` or `ce-subject` is the same id with another
 * body, an `idempotency_conflict`, and a replay with another `ce-id` is refused here. Provider verifiers
 * (hmac, github, stripe) build the event themselves and jws signs the body only: binary mode is refused.
 */
import type { VerifierResult } from '../plugins/types';
import type { ItemResult } from './envelope';
import { problem, type Problem } from '../lib/problem';

/** The same test `readEnvelope` uses to choose binary mode. */
export function isBinaryMode(headers: Headers): boolean {
  return headers.has('ce-specversion');
}

export function unsignedAttributes(
  headers: Headers,
  verifier: string,
  verdict: Extract<VerifierResult, { ok: true }>,
  items: readonly ItemResult[],
): Problem | null {
  if (!isBinaryMode(headers)) return null;
  if (verdict.event || verdict.signedId === undefined) {
    const what = verdict.event ? "builds the event from the provider's payload" : 'signs the body only';
    return problem(
      422,
      'unsigned_attributes',
      `this source's verifier (${verifier}) ${what}, so the ce-* headers of a binary-mode CloudEvent would not be covered by the signature; send a structured CloudEvent (application/cloudevents+json), whose attributes are in the signed body`,
    );
  }
  const item = items[0];
  if (item?.ok && item.value.event.id !== verdict.signedId) {
    return problem(
      422,
      'unsigned_attributes',
      'in binary mode ce-id must equal the signed event id (webhook-id): the other ce-* headers are not signed, so the id is what binds the event to its signature',
      {
        errors: [{ pointer: '/id', detail: 'must equal webhook-id' }],
      },
    );
  }
  return null;
}
