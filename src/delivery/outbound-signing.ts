/**
 * Standard Webhooks headers for outbound deliveries. The implementation lives in
 * `plugins/webhook/signing.ts` so the webhook plugin can use it without importing `src/`; the runtime
 * (subscription creation, key rotation) imports it from here.
 */
export { ED25519_PUBLIC_PREFIX, ED25519_SECRET_PREFIX, ed25519PublicKey, newEd25519Secret, signatureHeaders, type SignInput } from '../../plugins/webhook/signing';
