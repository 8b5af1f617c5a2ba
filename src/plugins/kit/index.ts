/**
 * The plugin kit: everything a built-in plugin may import besides the contract (`../types.ts`), zod and
 * jose. Plugins import this index, never the files behind it, so this list is the whole surface; a
 * helper becomes part of it by being exported here on purpose.
 */
export { concatBytes, fromBase64, fromHex, sha256Hex, toBase64, toHex, utf8 } from '../../lib/encoding';
export { compileLinearRegex, type LinearRegex } from '../../lib/linear-regex';
export { compileSchema, DRAFTS as JSON_SCHEMA_DRAFTS, type CompiledSchema } from '../../lib/json-schema/compile';
export { classifyError, classifyResponse, parseRetryAfter, truncateBody, RESPONSE_BODY_LIMIT_BYTES, type HttpAnswer } from './classify';
export { postAndClassify, type PostRequest } from './post';
export {
  ED25519_PUBLIC_PREFIX,
  ED25519_SECRET_PREFIX,
  ed25519PublicKey,
  newEd25519Secret,
  newWhsecSecret,
  signatureHeaders,
  signV1,
  whsecKey,
  type SignInput,
} from './signing';
export { capLength, renderTemplate } from './template';
export { traceHeaders } from './trace';
