/**
 * The archive's file format: NDJSON (one event per line, `\n` after each) compressed with gzip, as
 * `gunzip -c part.ndjson.gz | jq` reads it. Written whole (a part is bounded by the retention job),
 * read as a stream of lines so a restore holds one batch of lines at a time, never the file.
 */
import { concatBytes, sha256Hex } from '../lib/encoding';

export interface GzipFile {
  bytes: Uint8Array<ArrayBuffer>;
  /** Hex SHA-256 of `bytes`, the object as stored (what `sha256sum part.ndjson.gz` prints). */
  sha256: string;
  /** Size of the NDJSON before compression. */
  rawBytes: number;
}

export async function gzipLines(lines: readonly string[]): Promise<GzipFile> {
  const gzip = new CompressionStream('gzip');
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    const reader = gzip.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
    }
  })();
  const writer = gzip.writable.getWriter();
  const encoder = new TextEncoder();
  let rawBytes = 0;
  for (const line of lines) {
    const bytes = encoder.encode(`${line}\n`);
    rawBytes += bytes.byteLength;
    await writer.write(bytes);
  }
  await writer.close();
  await collected;
  const bytes = concatBytes(...chunks);
  return { bytes, sha256: await sha256Hex(bytes), rawBytes };
}

/** The lines of a gzip NDJSON stream, in batches of at most `maxLines` lines or about `maxChars` characters. */
export async function* gunzipLineBatches(body: ReadableStream<Uint8Array>, maxLines: number, maxChars: number): AsyncGenerator<string[]> {
  const text = body.pipeThrough(new DecompressionStream('gzip')).pipeThrough(new TextDecoderStream());
  let carry = '';
  let batch: string[] = [];
  let chars = 0;
  for await (const chunk of text) {
    const pieces = (carry + chunk).split('\n');
    carry = pieces.pop() ?? '';
    for (const line of pieces) {
      if (line === '') continue;
      batch.push(line);
      chars += line.length;
      if (batch.length >= maxLines || chars >= maxChars) {
        yield batch;
        batch = [];
        chars = 0;
      }
    }
  }
  if (carry !== '') batch.push(carry);
  if (batch.length > 0) yield batch;
}
