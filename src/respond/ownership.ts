// The gateway's ownership stamps (metadata.portcullis_owner and portcullis_tenant, written by
// authorize/rewrite.ts) stay on the upstream, where the lookups policy depends on read them; a
// client never sees them. LangGraph copies a run's metadata wherever metadata goes: threads,
// runs (and their kwargs.config), checkpoints (state, history, debug and checkpoints events),
// events-mode and tasks events, and the metadata half of each messages-tuple event.
import { OWNER_KEY, TENANT_KEY } from "../authorize/index.js";
import { isObject } from "../jsonText.js";

const STAMPS = [OWNER_KEY, TENANT_KEY];

/** A JSON document or SSE event's data without the stamps; the text unchanged when it carries
 * none (or is not JSON). `event` is the SSE event name, for the messages-tuple shape. */
export function withoutOwnershipStamps(text: string, event?: string): string {
  if (!text.includes("portcullis_")) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  let removed = false;
  const strip = (metadata: Record<string, unknown>) => {
    for (const key of STAMPS) {
      if (Object.hasOwn(metadata, key)) {
        delete metadata[key];
        removed = true;
      }
    }
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, child] of Object.entries(node)) {
      if (key === "metadata" && isObject(child)) strip(child);
      walk(child);
    }
  };
  // messages-tuple: [message chunk, metadata] ("messages", or "messages|<namespace>" for subgraphs).
  if (event !== undefined && (event === "messages" || event.startsWith("messages|")) && Array.isArray(value) && isObject(value[1])) strip(value[1]);
  walk(value);
  return removed ? JSON.stringify(value) : text;
}
