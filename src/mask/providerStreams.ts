// Masks a model provider's SSE stream as it reaches the runtime through an egress route
// (egress.md "Streamed answers"). Providers send text as deltas that split values anywhere
// ("jane@exa" | "mple.com"), so each streamed text gets its own TextStreamMasker, which holds
// back only the suffix that could still become a match (masking.md §6):
// - OpenAI Chat Completions: `choices[i].delta` strings (content, refusal, reasoning) and
//   `delta.tool_calls[j].function.arguments`, per choice; a choice ends at its finish_reason.
// - OpenAI Responses: every `response.*.delta` (output_text, function_call_arguments, refusal,
//   reasoning), per item, output and content index; it ends at its `.done` event or at
//   response.completed / failed / incomplete.
// - Anthropic Messages: `content_block_delta` text_delta.text, input_json_delta.partial_json and
//   thinking_delta.thinking, per block index; a block ends at content_block_stop (and all at
//   message_delta / message_stop).
// Each delta event keeps its shape and carries the masked text it can release; held text goes
// out in a synthetic delta of the same block just before its end event (or after a quiet
// period). Every other event is masked whole, and text data ([DONE]) is passed as text. Event
// names are kept; synthetic events have no id (ids belong to the provider's events).
import type { EventSourceMessage } from "eventsource-parser";
import { isObject } from "../jsonText.js";
import { MaskingError, MaskingTally, type Masker } from "./masker.js";
import { TextStreamMasker } from "./stream.js";

type Json = Record<string, unknown>;

/** A stream masker the SSE relay drives: each upstream event in, the events to send out. */
export interface EventStreamMasker {
  /** The events to send for several upstream events read at once, in order. */
  events(batch: EventSourceMessage[]): EventSourceMessage[];
  /** Quiet for the flush interval: held text that is no longer a distinctive partial. */
  idle(): EventSourceMessage[];
  /** The stream is ending: everything held, masked. */
  end(): EventSourceMessage[];
  readonly holding: boolean;
}

/** Texts streamed at once; beyond this a hostile downstream could make every idle tick costly. */
const MAX_OPEN_TEXTS = 2_048;

/** Chat Completions delta fields that are identities, the same in every chunk, not text pieces. */
const CHAT_IDENTITY_KEYS = new Set(["role", "index", "id", "type", "name"]);
/** Anthropic delta types and the field of each that carries the streamed text. */
const ANTHROPIC_TEXT_FIELDS: Record<string, string> = { text_delta: "text", input_json_delta: "partial_json", thinking_delta: "thinking" };
/** Responses events after which nothing more of the response streams. */
const RESPONSES_ENDS = new Set(["response.completed", "response.failed", "response.incomplete"]);

interface OpenText {
  stream: TextStreamMasker;
  /** Text was added since the last idle release. */
  fresh: boolean;
  /** The event that carries released text, built from the text's latest delta event. */
  carry(text: string): EventSourceMessage;
}

export class ProviderStreamMasker implements EventStreamMasker {
  private readonly open = new Map<string, OpenText>();

  constructor(
    private readonly masker: Masker,
    /** Counts what was masked, by entity type. */
    readonly tally = new MaskingTally(),
  ) {}

  events(batch: EventSourceMessage[]): EventSourceMessage[] {
    return batch.flatMap((event) => this.event(event));
  }

  event(event: EventSourceMessage): EventSourceMessage[] {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      // OpenAI ends its streams with `data: [DONE]`; any other text is scanned as text.
      const released = event.data.trim() === "[DONE]" ? this.flush("") : [];
      return [...released, this.wholeText(event)];
    }
    if (!isObject(data)) return [this.whole(event, data)];
    if (Array.isArray(data.choices) && data.choices.some((choice) => isObject(choice) && isObject(choice.delta))) return this.chatChunk(event, data);
    const type = typeof data.type === "string" ? data.type : "";
    if (type === "content_block_delta" && isObject(data.delta) && typeof data.delta.type === "string" && typeof data.delta[ANTHROPIC_TEXT_FIELDS[data.delta.type] ?? ""] === "string") {
      return [this.anthropicDelta(event, data, data.delta)];
    }
    if (type.startsWith("response.") && type.endsWith(".delta") && typeof data.delta === "string") return [this.responsesDelta(event, data, type)];
    return [...this.flush(this.endedBy(event, data, type)), this.whole(event, data)];
  }

  idle(): EventSourceMessage[] {
    const out: EventSourceMessage[] = [];
    for (const open of this.open.values()) {
      if (!open.fresh || open.stream.holding === 0) continue;
      open.fresh = false;
      const text = open.stream.idle();
      if (text) out.push(open.carry(text));
    }
    return out;
  }

  end(): EventSourceMessage[] {
    return this.flush("");
  }

  get holding(): boolean {
    for (const open of this.open.values()) if (open.stream.holding > 0) return true;
    return false;
  }

  /** The key prefix of the texts an event ends, or undefined when it ends none. */
  private endedBy(event: EventSourceMessage, data: Json, type: string): string | undefined {
    if (event.event === "error" || type === "error") return "";
    if (type === "content_block_stop") return `anthropic|${String(data.index)}|`;
    if (type === "message_delta" || type === "message_stop") return "anthropic|";
    if (RESPONSES_ENDS.has(type)) return "responses|";
    if (type.startsWith("response.") && type.endsWith(".done")) return `${responsesKey(data, type.slice(0, -".done".length))}|`;
    return undefined;
  }

  /** A Chat Completions chunk: every choice's delta strings through their stream maskers. */
  private chatChunk(event: EventSourceMessage, data: Json): EventSourceMessage[] {
    const { choices, ...envelope } = data as Json & { choices: unknown[] };
    const maskedEnvelope = this.masker.maskValue(envelope, this.tally).value;
    const before: EventSourceMessage[] = [];
    const maskedChoices = choices.map((choice) => {
      if (!isObject(choice) || !isObject(choice.delta)) return this.masker.maskValue(choice, this.tally).value;
      const { delta, ...rest } = choice as Json & { delta: Json };
      const maskedRest = this.masker.maskValue(rest, this.tally).value;
      const group = `chat|${String(choice.index ?? 0)}|`;
      // The chunk with a finish_reason ends the choice: its own pieces carry what they hold.
      const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
      const carry = (piece: (text: string) => Json) => (text: string) => synthetic(event, JSON.stringify({ ...maskedEnvelope, choices: [{ ...maskedRest, delta: piece(text), finish_reason: null }] }));
      const maskedDelta: Json = {};
      for (const [key, value] of Object.entries(delta)) {
        if (typeof value === "string" && !CHAT_IDENTITY_KEYS.has(key)) {
          maskedDelta[key] = this.piece(`${group}${key}`, value, carry((text) => ({ [key]: text })), finishing);
        } else if (key === "tool_calls" && Array.isArray(value)) {
          maskedDelta[key] = value.map((call) => this.chatToolCall(call, group, carry, finishing));
        } else {
          maskedDelta[key] = this.masker.maskValue(value, this.tally).value;
        }
      }
      if (finishing) before.push(...this.flush(group));
      return { ...maskedRest, delta: maskedDelta };
    });
    return [...before, { ...event, data: JSON.stringify({ ...maskedEnvelope, choices: maskedChoices }) }];
  }

  private chatToolCall(call: unknown, group: string, carry: (piece: (text: string) => Json) => OpenText["carry"], finishing: boolean): unknown {
    if (!isObject(call) || !isObject(call.function) || typeof call.function.arguments !== "string") return this.masker.maskValue(call, this.tally).value;
    const { function: fn, ...rest } = call as Json & { function: Json & { arguments: string } };
    const { arguments: args, ...fnRest } = fn;
    const index = call.index;
    const piece = (text: string) => ({ tool_calls: [{ index, function: { arguments: text } }] });
    return {
      ...this.masker.maskValue(rest, this.tally).value,
      function: { ...this.masker.maskValue(fnRest, this.tally).value, arguments: this.piece(`${group}tool|${String(index)}`, args, carry(piece), finishing) },
    };
  }

  /** An Anthropic content_block_delta: its text through the block's stream masker. */
  private anthropicDelta(event: EventSourceMessage, data: Json, delta: Json): EventSourceMessage {
    const field = ANTHROPIC_TEXT_FIELDS[delta.type as string]!;
    const { delta: _delta, ...envelope } = data;
    const maskedEnvelope = this.masker.maskValue(envelope, this.tally).value;
    const { [field]: text, ...deltaRest } = delta;
    const maskedDeltaRest = this.masker.maskValue(deltaRest, this.tally).value;
    const carry = (released: string) => synthetic(event, JSON.stringify({ ...maskedEnvelope, delta: { ...maskedDeltaRest, [field]: released } }));
    const out = this.piece(`anthropic|${String(data.index)}|${String(delta.type)}`, text as string, carry, false);
    return { ...event, data: JSON.stringify({ ...maskedEnvelope, delta: { ...maskedDeltaRest, [field]: out } }) };
  }

  /** A Responses `*.delta` event: its delta through the stream masker of its item and part. */
  private responsesDelta(event: EventSourceMessage, data: Json, type: string): EventSourceMessage {
    const { delta, ...envelope } = data as Json & { delta: string };
    const maskedEnvelope = this.masker.maskValue(envelope, this.tally).value as Json;
    // Log probabilities belong to the provider's own delta, not to a synthetic one.
    const carried = Array.isArray(maskedEnvelope.logprobs) ? { ...maskedEnvelope, logprobs: [] } : maskedEnvelope;
    const carry = (released: string) => synthetic(event, JSON.stringify({ ...carried, delta: released }));
    const out = this.piece(`${responsesKey(data, type.slice(0, -".delta".length))}|`, delta, carry, false);
    return { ...event, data: JSON.stringify({ ...maskedEnvelope, delta: out }) };
  }

  private piece(key: string, text: string, carry: OpenText["carry"], finishing: boolean): string {
    let open = this.open.get(key);
    if (!open) {
      if (this.open.size >= MAX_OPEN_TEXTS) throw new MaskingError(`more than ${MAX_OPEN_TEXTS} texts are being streamed at once`);
      open = { stream: new TextStreamMasker(this.masker, this.tally), fresh: false, carry };
      this.open.set(key, open);
    }
    open.carry = carry;
    open.fresh = true;
    const out = open.stream.push(text);
    if (!finishing) return out;
    this.open.delete(key);
    return out + open.stream.end();
  }

  /** Releases and forgets every text whose key starts with `prefix` ("" for all). */
  private flush(prefix: string | undefined): EventSourceMessage[] {
    if (prefix === undefined) return [];
    const out: EventSourceMessage[] = [];
    for (const [key, open] of [...this.open.entries()]) {
      if (!key.startsWith(prefix)) continue;
      this.open.delete(key);
      const text = open.stream.end();
      if (text) out.push(open.carry(text));
    }
    return out;
  }

  private whole(event: EventSourceMessage, data: unknown): EventSourceMessage {
    const masked = this.masker.maskDocument(event.data, data);
    this.tally.add(masked.redactions);
    return masked.text === event.data ? event : { ...event, data: masked.text };
  }

  private wholeText(event: EventSourceMessage): EventSourceMessage {
    const masked = this.masker.maskText(event.data);
    this.tally.add(masked.redactions);
    return masked.text === event.data ? event : { ...event, data: masked.text };
  }
}

/** Responses texts are per item (`item_id`, else `output_index`) and part (`content_index`, or
 * `summary_index` for reasoning summaries); `kind` is the event type without `.delta`/`.done`,
 * so a `.done` event finds the texts of its deltas. */
function responsesKey(data: Json, kind: string): string {
  const item = typeof data.item_id === "string" ? data.item_id : `#${String(data.output_index ?? "")}`;
  return `responses|${item}|${String(data.content_index ?? data.summary_index ?? "")}|${kind}`;
}

/** An event carrying held text, named like the provider's event it continues; no id, since ids
 * belong to the provider's events. */
function synthetic(event: EventSourceMessage, data: string): EventSourceMessage {
  return event.event !== undefined ? { event: event.event, data } : { data };
}
