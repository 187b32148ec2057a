// Masks a LangGraph SSE stream event by event (masking.md §6, langgraph-api.md "Streaming").
// Token events carry pieces of texts: `messages` from messages-tuple, `events` `on_*_stream`
// chunks, protocol v2 `content-block-delta`, and the cumulative `messages/partial`. Every string
// of such a chunk (content, content-block text, thinking, tool-call argument deltas, provider
// fields such as additional_kwargs.tool_calls[].function.arguments) gets its own
// TextStreamMasker, keyed by message and JSON path, so a value split across events is caught
// and only the suffix that could still become a match is held. Identity fields (id, type, name,
// index) are the same in every chunk and are masked whole. Every other event is a whole JSON
// document, masked leaf by leaf.
//
// Each upstream event yields one event, with its name and id. While text is held back, the
// event that carries it waits, and so does every event after it; once nothing is held they go
// out together, each streamed string filled in: with its own text when nothing in the held
// stretch was masked (a client sees the chunks the server sent, one token each), or, when
// something was, with the masked stretch in its first event and "" in the others.
//
// Events read from the upstream at once go through `events` together: each streamed string's
// text from all of them is pushed through its stream masker once, so a burst of tokens is
// scanned once per read instead of once per token, and the events come out as above.
import { randomBytes } from "node:crypto";
import type { EventSourceMessage } from "eventsource-parser";
import { isObject } from "../jsonText.js";
import { MaskingError, MaskingTally, type Masker, type Redactions } from "./masker.js";
import { TextStreamMasker } from "./stream.js";

type Json = Record<string, unknown>;

/** Fields that identify a chunk or one of its parts: repeated in every chunk, never deltas. */
const IDENTITY_KEYS = new Set(["id", "type", "name", "index", "role", "tool_call_id", "lc", "event"]);
/** Per-chunk metadata (model name, finish reason, token counts): whole in each chunk, not text. */
const WHOLE_KEYS = new Set(["response_metadata", "usage_metadata"]);

/** Texts streamed at once in one stream; beyond this a hostile upstream could make every idle
 * tick and every whole event expensive, so the stream fails closed. */
const MAX_OPEN_TEXTS = 2_048;
/** Text kept per message to recognise its completion in a later values/updates event. */
const MAX_TRACKED_CHARS = 1024 * 1024;
/** Objects masked whole remembered per stream, by their JSON text: a node's metadata (twenty
 * fields in LangGraph's messages-tuple) repeats in every token event it streams. */
const WHOLE_MEMO_SIZE = 16;
/** Below this many members an object is masked again faster than it is looked up. */
const WHOLE_MEMO_MIN_MEMBERS = 4;

/** One streamed string of one message. */
interface OpenText {
  stream: TextStreamMasker;
  /** Set while the message's content can still be matched against a whole copy of it. */
  messageId?: string;
  received: string;
  /** Text was added since the last idle release. */
  fresh: boolean;
  /** Held text released for it (idle, the message's end) since its events began to wait. */
  tail: string;
}

/** One streamed string in an event that waits: where it goes, what came, what could be sent. */
interface Piece {
  placeholder: string;
  open: OpenText;
  received: string;
  settled: string;
}

/** An event that waits for held text, its streamed strings still placeholders. */
interface Waiting {
  /** The masked event, its streamed strings placeholders; a token event's is built only if sent. */
  masked: EventSourceMessage | (() => EventSourceMessage);
  pieces: Piece[];
  /** A token event as it came: sent as it is when each of its streamed strings goes out as it
   * came and nothing else in it was masked. */
  asReceived?: EventSourceMessage | undefined;
}

/** For messages/partial: each event repeats the whole text so far; the client is sent the
 * masked text so far. */
interface PartialText {
  stream: TextStreamMasker;
  received: number;
  sent: string;
}

type Segment = { key: string } | { at: number; label: string };

export class SseStreamMasker {
  private readonly open = new Map<string, OpenText>();
  private readonly partials = new Map<string, PartialText>();
  /** Events held while text is, in order. */
  private waiting: Waiting[] = [];
  /** The streamed strings of the event being built. */
  private building: Piece[] = [];
  /** Placeholders carry a random mark, so no upstream text can pose as one. */
  private readonly mark = randomBytes(9).toString("base64url");
  private placeholders = 0;
  /** Something other than a streamed string of the token event being built was masked. */
  private altered = false;
  private readonly wholeMemo = new Map<string, { value: unknown; changed: boolean; redactions: Redactions }>();
  /** Inside `events`: streamed text waits in `deferred` to be pushed once per string. */
  private batching = false;
  private readonly deferred = new Map<OpenText, Piece[]>();

  constructor(
    private readonly masker: Masker,
    /** Counts what was masked, by entity type. */
    readonly tally = new MaskingTally(),
  ) {}

  /** The events to send for several upstream events read at once, in order. */
  events(batch: EventSourceMessage[]): EventSourceMessage[] {
    const out: EventSourceMessage[] = [];
    this.batching = true;
    try {
      for (const event of batch) out.push(...this.event(event));
    } finally {
      this.batching = false;
    }
    this.pushDeferred();
    out.push(...this.ready());
    return out;
  }

  /** The events to send for one upstream event, in order. */
  event(event: EventSourceMessage): EventSourceMessage[] {
    const name = event.event ?? "message";
    const mode = name.split("|")[0];
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      // Not JSON (no LangGraph event is, but a proxy's might be): scanned as text.
      return this.queued({ ...event, data: this.maskText(event.data) });
    }
    if (mode === "messages" && Array.isArray(data) && isObject(data[0])) return this.token(event, () => this.tupleChunk(event, name, data));
    if (mode === "events" && isObject(data) && typeof data.event === "string" && data.event.endsWith("_stream") && isObject(data.data) && data.data.chunk !== undefined) {
      return this.token(event, () => this.eventsChunk(event, name, data));
    }
    if (mode === "messages/partial" && Array.isArray(data)) return this.queued(this.partialMessages(event, data));
    const v2 = protocolV2Data(data);
    if (v2?.data.event === "content-block-delta") return this.token(event, () => this.v2Delta(event, data as Json, v2));
    // A whole event sees the streamed text before it pushed, as it would without batching.
    this.pushDeferred();
    if (v2 && (v2.data.event === "content-block-finish" || v2.data.event === "message-finish")) this.forgetV2(v2);
    // The JS server may still be sending a message's tokens after the values/updates that hold
    // it whole, so a whole event ends a message's pieces only once all its text has arrived.
    if (mode === "error" || mode === "end" || mode === "messages/complete") this.flush();
    else this.completed(data);
    const masked = this.masker.maskDocument(event.data, data);
    this.tally.add(masked.redactions);
    const caughtUp = mode === "messages/complete" && Array.isArray(data) ? this.partialsCaughtUp(data, masked.text) : [];
    const whole = masked.text === event.data ? event : { ...event, data: masked.text };
    return [...caughtUp, whole].flatMap((out) => this.queued(out));
  }

  /** Quiet for the flush interval: held text that is no longer a distinctive partial goes out.
   * Only texts that grew since the last idle tick are looked at again. */
  idle(): EventSourceMessage[] {
    this.pushDeferred();
    for (const open of this.open.values()) {
      if (!open.fresh || open.stream.holding === 0) continue;
      open.fresh = false;
      open.tail += open.stream.idle();
    }
    return this.ready();
  }

  /** The stream is ending (run end, error, upstream closed): everything held is masked and sent. */
  end(): EventSourceMessage[] {
    this.pushDeferred();
    this.flush();
    this.partials.clear();
    return this.ready();
  }

  get holding(): boolean {
    if (this.deferred.size > 0) return true;
    for (const open of this.open.values()) if (open.stream.holding > 0) return true;
    return false;
  }

  /** Pushes each streamed string's deferred text at once; its first piece carries what comes
   * out (the stretch is filled in by `ready`, which only looks at what a stretch adds up to). */
  private pushDeferred(): void {
    for (const [open, pieces] of this.deferred) {
      const heldBefore = open.stream.holding > 0;
      let text = "";
      let out = "";
      for (const piece of pieces) {
        // Pushed in parts where one push would outgrow masking.max_field_bytes, so a read is
        // refused only where its events one by one would be.
        if (text.length > 0 && text.length + piece.received.length > open.stream.room) {
          out += open.stream.push(text);
          text = "";
        }
        text += piece.received;
      }
      out += open.stream.push(text);
      // The pieces that came back as they were keep their own text (their events can go out
      // before a value held or masked after them, as one by one); the first other piece carries
      // the rest. Text held from before the read belongs to an earlier piece's stretch.
      let first = 0;
      let at = 0;
      while (!heldBefore && first < pieces.length && out.startsWith(pieces[first]!.received, at)) {
        pieces[first]!.settled = pieces[first]!.received;
        at += pieces[first]!.received.length;
        first += 1;
      }
      if (first < pieces.length) pieces[first]!.settled = out.slice(at);
    }
    this.deferred.clear();
  }

  private flush(): void {
    for (const open of this.open.values()) open.tail += open.stream.end();
    this.open.clear();
  }

  /** Releases the held text of every message that `data` shows whole and whose text has all
   * arrived (its content there equals what was streamed). */
  private completed(data: unknown): void {
    const waiting = [...this.open.entries()].filter(([, open]) => open.messageId !== undefined && open.stream.holding > 0);
    if (waiting.length === 0) return;
    const finished = new Map<string, string>();
    collectMessages(data, finished, 0);
    for (const [key, open] of waiting) {
      if (finished.get(open.messageId!) !== open.received) continue;
      open.tail += open.stream.end();
      this.open.delete(key);
    }
  }

  /** An event just masked: it waits behind those already waiting, and all go out, filled in,
   * once no text is held. */
  private queued(masked: Waiting["masked"], asReceived?: EventSourceMessage): EventSourceMessage[] {
    this.waiting.push({ masked, pieces: this.building, asReceived });
    this.building = [];
    return this.ready();
  }

  /** A token event: its streamed strings through their stream maskers, the rest masked whole. */
  private token(event: EventSourceMessage, build: () => () => EventSourceMessage): EventSourceMessage[] {
    this.altered = false;
    const masked = build();
    return this.queued(masked, this.altered ? undefined : event);
  }

  /** A part of a token event masked whole; notes whether masking changed it. An object or array
   * met again in this stream reuses its masked value (never modified: events copy around it) and
   * counts its redactions again. */
  private whole(value: unknown): unknown {
    if (value === null || typeof value !== "object" || hasFewMembers(value)) {
      const masked = this.masker.maskValue(value, this.tally);
      if (masked.changed) this.altered = true;
      return masked.value;
    }
    const key = JSON.stringify(value);
    let memo = this.wholeMemo.get(key);
    if (!memo) {
      const tally = new MaskingTally();
      const masked = this.masker.maskValue(value, tally);
      memo = { value: masked.value, changed: masked.changed, redactions: tally.redactions };
      if (this.wholeMemo.size >= WHOLE_MEMO_SIZE) this.wholeMemo.delete(this.wholeMemo.keys().next().value!);
      this.wholeMemo.set(key, memo);
    }
    this.tally.add(memo.redactions);
    if (memo.changed) this.altered = true;
    return memo.value;
  }

  private ready(): EventSourceMessage[] {
    if (this.waiting.length === 0) return [];
    if (this.holding) return this.readyBeforeHeld();
    // Each streamed string's stretch: what came, and what masking made of it.
    const stretches = new Map<OpenText, { received: string; masked: string; first: Piece }>();
    for (const { pieces } of this.waiting) {
      for (const piece of pieces) {
        const stretch = stretches.get(piece.open);
        if (stretch) {
          stretch.received += piece.received;
          stretch.masked += piece.settled;
        } else {
          stretches.set(piece.open, { received: piece.received, masked: piece.settled, first: piece });
        }
      }
    }
    for (const [open, stretch] of stretches) {
      stretch.masked += open.tail;
      open.tail = "";
    }
    const out = this.waiting.map((waiting) =>
      filledIn(waiting, (piece) => {
        const stretch = stretches.get(piece.open)!;
        return stretch.masked === stretch.received ? piece.received : piece === stretch.first ? stretch.masked : "";
      }),
    );
    this.waiting = [];
    return out;
  }

  /** While text is held, the waiting events before the first one whose text is not all out go
   * out, each with its own text. One by one, the first waiting event always has text held;
   * events read together can have settled events ahead of it (pushDeferred). */
  private readyBeforeHeld(): EventSourceMessage[] {
    let count = 0;
    while (count < this.waiting.length && this.waiting[count]!.pieces.every((piece) => piece.settled === piece.received)) count += 1;
    if (count === 0) return [];
    const out = this.waiting.slice(0, count).map((waiting) => filledIn(waiting, (piece) => piece.received));
    this.waiting = this.waiting.slice(count);
    return out;
  }

  private tupleChunk(event: EventSourceMessage, name: string, data: unknown[]): () => EventSourceMessage {
    const [chunk, metadata, ...rest] = data as [Json, unknown, ...unknown[]];
    const maskedMetadata = this.whole(metadata);
    const maskedRest = this.whole(rest) as unknown[];
    const piece = this.chunk(chunk, `${name}|${String(chunk.id ?? "")}`);
    return () => ({ ...event, data: JSON.stringify([piece, maskedMetadata, ...maskedRest]) });
  }

  private eventsChunk(event: EventSourceMessage, name: string, data: Json): () => EventSourceMessage {
    const { data: inner, ...envelope } = data as Json & { data: Json };
    // streamEvents v2 may serialise the chunk as a LangChain constructor object (kwargs inside).
    const serialised = isObject(inner.chunk) && isObject(inner.chunk.kwargs) ? inner.chunk : undefined;
    const chunk = serialised ? (serialised.kwargs as Json) : inner.chunk;
    const { chunk: _chunk, ...innerRest } = inner;
    const maskedEnvelope = this.whole(envelope) as Json;
    const maskedInnerRest = this.whole(innerRest) as Json;
    const key = `${name}|${String(data.run_id ?? "")}|${isObject(chunk) ? String(chunk.id ?? "") : ""}`;
    const piece = isObject(chunk) ? this.chunk(chunk, key) : this.leaves(chunk, [], { key });
    return () => ({ ...event, data: JSON.stringify({ ...maskedEnvelope, data: { ...maskedInnerRest, chunk: serialised ? { ...serialised, kwargs: piece } : piece } }) });
  }

  /** A protocol v2 content-block-delta: its delta is streamed per block; content-block-finish
   * then carries the whole block (masked whole), so held text needs no synthetic event. */
  private v2Delta(event: EventSourceMessage, envelope: Json, v2: { params: Json; data: Json }): () => EventSourceMessage {
    const key = `v2|${JSON.stringify(v2.params.namespace ?? [])}|${String(v2.params.node ?? "")}|${String(v2.data.index ?? "")}`;
    const { data: _data, ...params } = v2.params;
    const maskedParams = this.whole(params) as Json;
    const { params: _params, ...rest } = envelope;
    const maskedRest = this.whole(rest) as Json;
    const maskedData = this.leaves(v2.data, [], { key });
    return () => ({ ...event, data: JSON.stringify({ ...maskedRest, params: { ...maskedParams, data: maskedData } }) });
  }

  private forgetV2(v2: { params: Json; data: Json }): void {
    const prefix = `v2|${JSON.stringify(v2.params.namespace ?? [])}|${String(v2.params.node ?? "")}|`;
    for (const key of [...this.open.keys()]) if (key.startsWith(prefix)) this.open.delete(key);
  }

  /** Masks one streamed message chunk: every string through its stream masker, identity fields
   * whole. */
  private chunk(chunk: Json, key: string): Json {
    const { tool_calls: toolCalls, invalid_tool_calls: invalidToolCalls, ...rest } = chunk;
    const masked = this.leaves(rest, [], { key, messageId: typeof chunk.id === "string" ? chunk.id : undefined }) as Json;
    // A chunk's tool_calls are parsed from partial argument text (they are not deltas), so a
    // value may be cut mid-way: each string is masked, then cut where a match could still grow.
    const partial = Array.isArray(chunk.tool_call_chunks) && chunk.tool_call_chunks.length > 0;
    if (toolCalls !== undefined) masked.tool_calls = partial ? this.partialToolCalls(toolCalls) : this.whole(toolCalls);
    if (invalidToolCalls !== undefined) masked.invalid_tool_calls = partial ? this.partialToolCalls(invalidToolCalls) : this.whole(invalidToolCalls);
    return masked;
  }

  /** Every string below `value` through the stream masker of its path; identity fields whole. */
  private leaves(value: unknown, path: Segment[], at: { key: string; messageId?: string | undefined }): unknown {
    if (typeof value === "string") {
      const isContent = path.length === 1 && "key" in path[0]! && path[0].key === "content";
      return this.piece(`${at.key}|${path.map((segment) => ("key" in segment ? segment.key : segment.label)).join("/")}`, value, isContent ? at.messageId : undefined);
    }
    if (path.length > 32) throw new MaskingError("a streamed chunk is nested too deep to mask");
    if (Array.isArray(value)) {
      return value.map((item: unknown, i) => this.leaves(item, [...path, { at: i, label: isObject(item) && typeof item.index === "number" ? `#${item.index}` : String(i) }], at));
    }
    if (!isObject(value)) return value;
    const out: Json = {};
    for (const [key, child] of Object.entries(value)) {
      const whole = IDENTITY_KEYS.has(key) || (path.length === 0 && WHOLE_KEYS.has(key));
      out[key] = whole ? this.whole(child) : this.leaves(child, [...path, { key }], at);
    }
    return out;
  }

  /** A streamed string: pushed through its stream masker, and a placeholder in the event until
   * the event goes out (see ready). */
  private piece(key: string, text: string, messageId?: string): string {
    let open = this.open.get(key);
    if (!open) {
      if (this.open.size >= MAX_OPEN_TEXTS) throw new MaskingError(`more than ${MAX_OPEN_TEXTS} texts are being streamed at once`);
      open = { stream: new TextStreamMasker(this.masker, this.tally), received: "", fresh: false, tail: "", ...(messageId !== undefined ? { messageId } : {}) };
      this.open.set(key, open);
    }
    open.fresh = true;
    if (open.messageId !== undefined) {
      open.received += text;
      if (open.received.length > MAX_TRACKED_CHARS) {
        delete open.messageId;
        open.received = "";
      }
    }
    const placeholder = `\u0000${this.mark}.${this.placeholders++}\u0000`;
    const piece: Piece = { placeholder, open, received: text, settled: "" };
    if (!this.batching) piece.settled = open.stream.push(text);
    else if (this.deferred.has(open)) this.deferred.get(open)!.push(piece);
    else this.deferred.set(open, [piece]);
    this.building.push(piece);
    return placeholder;
  }

  private partialToolCalls(calls: unknown): unknown {
    // Cut where a match could still be growing: not as it came.
    this.altered = true;
    const masked = this.masker.maskValue(calls, this.tally).value;
    if (!Array.isArray(masked)) return masked;
    return masked.map((call: unknown) => (isObject(call) && call.args !== undefined ? { ...call, args: this.withoutOpenEnds(call.args) } : call));
  }

  /** Cuts each string where a match could still be growing (identity fields are left whole). */
  private withoutOpenEnds(value: unknown): unknown {
    if (typeof value === "string") {
      const open = this.masker.scanner.openCandidate(value, this.masker.scanner.scan(value));
      return open ? value.slice(0, open.start) : value;
    }
    if (Array.isArray(value)) return value.map((item) => this.withoutOpenEnds(item));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, IDENTITY_KEYS.has(key) ? item : this.withoutOpenEnds(item)]));
    return value;
  }

  /** messages/partial repeats each message whole so far: its content goes through a stream
   * masker (the client gets the masked text so far), every other field is masked and cut where
   * a match could still be growing; the next event repeats it longer. */
  private partialMessages(event: EventSourceMessage, messages: unknown[]): EventSourceMessage {
    const masked = messages.map((message) => {
      if (!isObject(message)) return this.withoutOpenEnds(this.masker.maskValue(message, this.tally).value);
      const { content, ...rest } = message;
      const others = this.withoutOpenEnds(this.masker.maskValue(rest, this.tally).value) as Json;
      if (typeof content !== "string") return { ...others, ...(content !== undefined ? { content: this.withoutOpenEnds(this.masker.maskValue(content, this.tally).value) } : {}) };
      const key = String(message.id ?? "");
      let partial = this.partials.get(key);
      if (!partial || content.length < partial.received) {
        partial = { stream: new TextStreamMasker(this.masker, this.tally), received: 0, sent: "" };
        this.partials.set(key, partial);
      }
      partial.sent += partial.stream.push(content.slice(partial.received));
      partial.received = content.length;
      return { ...others, content: partial.sent };
    });
    return { ...event, data: JSON.stringify(masked) };
  }

  /** Before messages/complete: a message whose partials held text back gets one more partial,
   * the masked message whole, so its partials add up to it as they do direct. */
  private partialsCaughtUp(messages: unknown[], maskedText: string): EventSourceMessage[] {
    const masked = JSON.parse(maskedText) as unknown[];
    const out: EventSourceMessage[] = [];
    messages.forEach((message, i) => {
      if (!isObject(message)) return;
      const partial = this.partials.get(String(message.id ?? ""));
      this.partials.delete(String(message.id ?? ""));
      const whole = masked[i];
      if (partial && isObject(whole) && typeof whole.content === "string" && whole.content !== partial.sent) out.push({ event: "messages/partial", data: JSON.stringify([whole]) });
    });
    return out;
  }

  private maskText(text: string): string {
    const masked = this.masker.maskText(text);
    this.tally.add(masked.redactions);
    return masked.text;
  }
}

function hasFewMembers(value: object): boolean {
  let members = 0;
  for (const _ in value) if (++members >= WHOLE_MEMO_MIN_MEMBERS) return false;
  return true;
}

/** A waiting event as it goes out, each streamed string filled in with its text: as it came
 * when that changes nothing in it. */
function filledIn({ masked, pieces, asReceived }: Waiting, text: (piece: Piece) => string): EventSourceMessage {
  const texts = pieces.map(text);
  if (asReceived && pieces.every((piece, i) => texts[i] === piece.received)) return asReceived;
  const event = typeof masked === "function" ? masked() : masked;
  let data = event.data;
  pieces.forEach((piece, i) => {
    data = data.replace(JSON.stringify(piece.placeholder), () => JSON.stringify(texts[i]));
  });
  return data === event.data ? event : { ...event, data };
}

/** Protocol v2 envelopes (`{"type":"event","method":…,"params":{"data":…}}`, langgraph-api.md). */
function protocolV2Data(data: unknown): { params: Json; data: Json } | undefined {
  if (!isObject(data) || data.type !== "event" || !isObject(data.params) || !isObject(data.params.data)) return undefined;
  return { params: data.params, data: data.params.data };
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
