// Masks a LangGraph SSE stream event by event (masking.md §6, langgraph-api.md "Streaming").
// Token events (`messages` from messages-tuple, `messages/partial`, `events` chat-model chunks)
// carry pieces of one text: each text field of each message gets its own TextStreamMasker, so a
// value split across events is caught, and only the suffix that could still become a match is
// held. Every other event is a whole JSON document, masked leaf by leaf. Event names and ids are
// kept: each upstream event yields one event, with held text released later in a synthetic
// chunk of the same message (no id: ids belong to upstream events).
import type { EventSourceMessage } from "eventsource-parser";
import { MaskingTally, type Masker } from "./masker.js";
import { TextStreamMasker } from "./stream.js";

type Json = Record<string, unknown>;

/** One text field of one message being streamed, and what a synthetic chunk for it looks like. */
interface OpenText {
  stream: TextStreamMasker;
  /** The message this text belongs to, and all of its text received so far (content only). */
  messageId?: string;
  received: string;
  /** Builds the event that carries released text for this field (from its latest chunk). */
  carry(text: string): EventSourceMessage;
}

/** For messages/partial: each event repeats the whole text so far; the client is sent the
 * masked text so far. */
interface PartialText {
  stream: TextStreamMasker;
  received: number;
  sent: string;
}

export class SseStreamMasker {
  private readonly open = new Map<string, OpenText>();
  private readonly partials = new Map<string, PartialText>();

  constructor(
    private readonly masker: Masker,
    /** Counts what was masked, by entity type. */
    readonly tally = new MaskingTally(),
  ) {}

  /** The events to send for one upstream event, in order. */
  event(event: EventSourceMessage): EventSourceMessage[] {
    const name = event.event ?? "message";
    const mode = name.split("|")[0];
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      // Not JSON (no LangGraph event is, but a proxy's might be): scanned as text.
      return [{ ...event, data: this.maskText(event.data) }];
    }
    if (mode === "messages" && Array.isArray(data) && isObject(data[0]) && isMessage(data[0])) {
      return [this.tupleChunk(event, name, data)];
    }
    if (mode === "events" && isObject(data) && data.event === "on_chat_model_stream" && isObject(data.data) && isObject(data.data.chunk)) {
      return [this.eventsChunk(event, name, data)];
    }
    if (mode === "messages/partial" && Array.isArray(data)) return [this.partialMessages(event, data)];
    // The JS server may still be sending a message's tokens after the values/updates that hold
    // it whole, so a whole event ends a message's pieces only once all its text has arrived.
    const released = mode === "error" || mode === "end" || mode === "messages/complete" ? this.flush() : this.completed(data);
    if (mode === "messages/complete" && Array.isArray(data)) this.forgetPartials(data);
    const masked = this.masker.maskDocument(event.data, data);
    this.tally.add(masked.redactions);
    return [...released, masked.text === event.data ? event : { ...event, data: masked.text }];
  }

  /** Quiet for the flush interval: held text that is no longer a distinctive partial goes out. */
  idle(): EventSourceMessage[] {
    const out: EventSourceMessage[] = [];
    for (const open of this.open.values()) {
      const text = open.stream.idle();
      if (text) out.push(open.carry(text));
    }
    return out;
  }

  /** The stream is ending (run end, error, upstream closed): everything held is masked and sent. */
  end(): EventSourceMessage[] {
    const out = this.flush();
    this.partials.clear();
    return out;
  }

  get holding(): boolean {
    for (const open of this.open.values()) if (open.stream.holding > 0) return true;
    return false;
  }

  /** Releases the held text of every message that `data` shows whole and whose text has all
   * arrived (its content there equals what was streamed). */
  private completed(data: unknown): EventSourceMessage[] {
    const waiting = [...this.open.entries()].filter(([, open]) => open.messageId !== undefined && open.stream.holding > 0);
    if (waiting.length === 0) return [];
    const finished = new Map<string, string>();
    collectMessages(data, finished, 0);
    const out: EventSourceMessage[] = [];
    for (const [key, open] of waiting) {
      if (finished.get(open.messageId!) !== open.received) continue;
      const text = open.stream.end();
      if (text) out.push(open.carry(text));
      this.open.delete(key);
    }
    return out;
  }

  private flush(): EventSourceMessage[] {
    const out: EventSourceMessage[] = [];
    for (const open of this.open.values()) {
      const text = open.stream.end();
      if (text) out.push(open.carry(text));
    }
    this.open.clear();
    return out;
  }

  private tupleChunk(event: EventSourceMessage, name: string, data: unknown[]): EventSourceMessage {
    const [chunk, metadata, ...rest] = data as [Json, unknown, ...unknown[]];
    const maskedMetadata = this.masker.maskValue(metadata, this.tally).value;
    const maskedRest = this.masker.maskValue(rest, this.tally).value;
    const place = (piece: Json) => JSON.stringify([piece, maskedMetadata, ...maskedRest]);
    return { ...event, data: place(this.chunk(chunk, `${name}|${String(chunk.id ?? "")}`, name, place)) };
  }

  private eventsChunk(event: EventSourceMessage, name: string, data: Json): EventSourceMessage {
    const { data: inner, ...envelope } = data as Json & { data: Json };
    // streamEvents v2 may serialise the chunk as a LangChain constructor object (kwargs inside).
    const serialised = isObject(inner.chunk) && isObject(inner.chunk.kwargs) ? inner.chunk : undefined;
    const chunk = (serialised ? serialised.kwargs : inner.chunk) as Json;
    const { chunk: _chunk, ...innerRest } = inner;
    const maskedEnvelope = this.masker.maskValue(envelope, this.tally).value as Json;
    const maskedInnerRest = this.masker.maskValue(innerRest, this.tally).value as Json;
    const place = (piece: Json) => JSON.stringify({ ...maskedEnvelope, data: { ...maskedInnerRest, chunk: serialised ? { ...serialised, kwargs: piece } : piece } });
    return { ...event, data: place(this.chunk(chunk, `${name}|${String(data.run_id ?? "")}|${String(chunk.id ?? "")}`, name, place)) };
  }

  /** Masks one streamed message chunk: its content and tool-call argument pieces through their
   * stream maskers, everything else whole. `place` puts a chunk in its event's data, for the
   * synthetic events that carry released text. */
  private chunk(chunk: Json, key: string, eventName: string, place: (piece: Json) => string): Json {
    const { content, tool_call_chunks: toolCallChunks, tool_calls: toolCalls, invalid_tool_calls: invalidToolCalls, ...rest } = chunk;
    const masked: Json = { ...(this.masker.maskValue(rest, this.tally).value as Json) };
    // A streamed chunk's tool_calls are parsed from partial argument text, so a value may be cut
    // mid-way: each string is masked, then cut where a match could still be growing.
    const partial = Array.isArray(toolCallChunks) && toolCallChunks.length > 0;
    if (toolCalls !== undefined) masked.tool_calls = partial ? this.partialToolCalls(toolCalls) : this.masker.maskValue(toolCalls, this.tally).value;
    if (invalidToolCalls !== undefined) masked.invalid_tool_calls = partial ? this.partialToolCalls(invalidToolCalls) : this.masker.maskValue(invalidToolCalls, this.tally).value;
    // A synthetic chunk carries text only: no usage figures, or the client would count them twice.
    const blank: Json = { ...masked, content: "", tool_call_chunks: [] };
    delete blank.usage_metadata;
    delete blank.response_metadata;

    if (typeof content === "string") {
      const messageId = typeof chunk.id === "string" ? chunk.id : undefined;
      masked.content = this.piece(`${key}|content`, eventName, content, (text) => place({ ...blank, content: text }), messageId);
    } else if (Array.isArray(content)) {
      masked.content = content.map((block: unknown, i) => {
        if (!isObject(block) || typeof block.text !== "string") return this.masker.maskValue(block, this.tally).value;
        const { text, ...blockRest } = block;
        const blockMasked = this.masker.maskValue(blockRest, this.tally).value as Json;
        const carry = (released: string) => place({ ...blank, content: [{ ...blockMasked, text: released }] });
        return { ...blockMasked, text: this.piece(`${key}|content|${String(blockMasked.index ?? i)}`, eventName, text as string, carry) };
      });
    } else if (content !== undefined) {
      masked.content = this.masker.maskValue(content, this.tally).value;
    }

    if (Array.isArray(toolCallChunks)) {
      masked.tool_call_chunks = toolCallChunks.map((call: unknown, i) => {
        if (!isObject(call)) return this.masker.maskValue(call, this.tally).value;
        const { args, ...callRest } = call;
        const callMasked = this.masker.maskValue(callRest, this.tally).value as Json;
        if (typeof args !== "string") return { ...callMasked, ...(args !== undefined ? { args: this.masker.maskValue(args, this.tally).value } : {}) };
        const carry = (released: string) => place({ ...blank, tool_call_chunks: [{ ...callMasked, args: released }] });
        return { ...callMasked, args: this.piece(`${key}|args|${String(callMasked.index ?? i)}`, eventName, args, carry) };
      });
    } else if (toolCallChunks !== undefined) {
      masked.tool_call_chunks = this.masker.maskValue(toolCallChunks, this.tally).value;
    }
    return masked;
  }

  private piece(key: string, eventName: string, text: string, carryData: (text: string) => string, messageId?: string): string {
    let open = this.open.get(key);
    if (!open) {
      open = { stream: new TextStreamMasker(this.masker, this.tally), received: "", carry: () => ({ data: "" }), ...(messageId !== undefined ? { messageId } : {}) };
      this.open.set(key, open);
    }
    open.carry = (released) => ({ event: eventName, data: carryData(released) });
    if (open.messageId !== undefined) open.received += text;
    return open.stream.push(text);
  }

  private partialToolCalls(calls: unknown): unknown {
    const masked = this.masker.maskValue(calls, this.tally).value;
    if (!Array.isArray(masked)) return masked;
    return masked.map((call: unknown) => (isObject(call) && call.args !== undefined ? { ...call, args: this.withoutOpenEnds(call.args) } : call));
  }

  private withoutOpenEnds(value: unknown): unknown {
    if (typeof value === "string") {
      const open = this.masker.scanner.openCandidate(value, this.masker.scanner.scan(value));
      return open ? value.slice(0, open.start) : value;
    }
    if (Array.isArray(value)) return value.map((item) => this.withoutOpenEnds(item));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.withoutOpenEnds(item)]));
    return value;
  }

  private partialMessages(event: EventSourceMessage, messages: unknown[]): EventSourceMessage {
    const masked = messages.map((message) => {
      if (!isObject(message) || typeof message.content !== "string") return this.masker.maskValue(message, this.tally).value;
      const { content, ...rest } = message;
      const key = String(message.id ?? "");
      let partial = this.partials.get(key);
      if (!partial || content.length < partial.received) {
        partial = { stream: new TextStreamMasker(this.masker, this.tally), received: 0, sent: "" };
        this.partials.set(key, partial);
      }
      partial.sent += partial.stream.push(content.slice(partial.received));
      partial.received = content.length;
      return { ...(this.masker.maskValue(rest, this.tally).value as Json), content: partial.sent };
    });
    return { ...event, data: JSON.stringify(masked) };
  }

  private forgetPartials(messages: unknown[]): void {
    for (const message of messages) if (isObject(message)) this.partials.delete(String(message.id ?? ""));
  }

  private maskText(text: string): string {
    const masked = this.masker.maskText(text);
    this.tally.add(masked.redactions);
    return masked.text;
  }
}

/** Every {id, content: string} object in a document (messages in values, updates, debug). */
function collectMessages(value: unknown, into: Map<string, string>, depth: number): void {
  if (depth > 12 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const item of value) collectMessages(item, into, depth + 1);
    return;
  }
  const object = value as Json;
  if (typeof object.id === "string" && typeof object.content === "string") into.set(object.id, object.content);
  for (const child of Object.values(object)) collectMessages(child, into, depth + 1);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** messages-tuple sends streamed chunks and whole messages alike (both `"type": "ai"`); a client
 * concatenates everything with one id, so both are treated as pieces of that message's text. */
function isMessage(message: Json): boolean {
  return "content" in message || "tool_call_chunks" in message;
}
