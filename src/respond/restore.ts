// respond (restore): the caller's own values back in place of their tokens, where the policy's
// masking.restore_for allows it (src/mask/vault.ts). Only what the client is sent: the recording
// keeps the tokens. Each restoration is counted for the completion record.
import type { Exchange } from "../exchange.js";
import { MaskingTally, SseStreamMasker, TOKEN_PATTERN, restoreWhole, type EventStreamMasker } from "../mask/index.js";

/** A whole document or /runs/wait result, restored. */
export function restored(exchange: Exchange, text: string): string {
  const restore = exchange.masking?.restore;
  if (!restore) return text;
  const result = restoreWhole(restore.masker, text);
  restore.restored.add(result.restored);
  return result.text;
}

/** An answer with no scope of its own (a search) holds tokens of many threads or namespaces:
 * the restorer becomes the one for those this caller may see. A vault that cannot be read leaves
 * the tokens, which withholds values and never exposes one. */
export async function widenRestore(exchange: Exchange, text: string): Promise<void> {
  const masking = exchange.masking;
  if (!masking?.restoreFromVault) return;
  const tokens = new Set<string>();
  for (const token of text.matchAll(TOKEN_PATTERN)) tokens.add(token[0]);
  if (tokens.size === 0) return;
  try {
    const masker = await masking.restoreFromVault([...tokens]);
    if (masker) masking.restore = { masker, restored: masking.restore?.restored ?? new MaskingTally() };
  } catch (error) {
    exchange.log.warn({ err: error }, "vault could not be read; tokens are not restored");
  }
}

/** A stream's client events, restored. A token split across token events (`<EMAIL_ADD` |
 * `RESS_7f3a9c2e>`) is held back like an open candidate of the stream masker, and released
 * whole with the next piece, once the message is complete, or at the end of the stream. */
export function streamRestorer(exchange: Exchange): EventStreamMasker | undefined {
  const restore = exchange.masking?.restore;
  return restore && new SseStreamMasker(restore.masker, restore.restored);
}
