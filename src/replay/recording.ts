// The recorded answer of a session (record/payloads.ts ResponseRecording): one JSON line per SSE
// event with its offset from the start of the request, or the whole body of a non-streaming
// answer. Replaying writes the events back as SSE at the original pace, or faster.
import { setTimeout as sleep } from "node:timers/promises";

export interface RecordedEvent {
  /** Milliseconds from the start of the request. */
  t: number;
  event: string;
  id?: string;
  /** The event's data as relayed (masked), usually JSON text. */
  data: string;
}

export type Recording =
  | { kind: "events"; events: RecordedEvent[]; truncated: boolean }
  | { kind: "body"; body: string };

export function parseRecording(text: string, streamed: boolean): Recording {
  if (!streamed) return { kind: "body", body: text };
  const events: RecordedEvent[] = [];
  let truncated = false;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return { kind: "body", body: text };
    }
    const entry = value as Partial<RecordedEvent> & { truncated?: boolean };
    if (entry.truncated === true) {
      truncated = true;
      continue;
    }
    if (typeof entry.t !== "number" || typeof entry.event !== "string" || typeof entry.data !== "string") return { kind: "body", body: text };
    events.push({ t: entry.t, event: entry.event, ...(typeof entry.id === "string" ? { id: entry.id } : {}), data: entry.data });
  }
  return { kind: "events", events, truncated };
}

/** One SSE event in the wire format the LangGraph server writes (event, optional id, data lines). */
export function sseText(event: RecordedEvent): string {
  const lines = [`event: ${event.event}`];
  if (event.id !== undefined) lines.push(`id: ${event.id}`);
  for (const line of event.data.split("\n")) lines.push(`data: ${line}`);
  return `${lines.join("\n")}\n\n`;
}

interface PlaybackOptions {
  /** 1 = the original pace, 2 = twice as fast; Infinity = no waiting. */
  speed: number;
  signal?: AbortSignal;
}

/** Writes the events as SSE, each after its recorded offset divided by the speed. */
export async function playRecording(events: readonly RecordedEvent[], write: (text: string) => void | Promise<void>, options: PlaybackOptions): Promise<void> {
  const started = performance.now();
  for (const event of events) {
    if (options.signal?.aborted) return;
    const due = Number.isFinite(options.speed) ? event.t / options.speed : 0;
    const wait = due - (performance.now() - started);
    if (wait > 0) await sleep(wait, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
    if (options.signal?.aborted) return;
    await write(sseText(event));
  }
}
