// Masking costs (masking.md §10), each against a baseline measured in the same run:
// - mask() on a PII-free LangGraph thread state (JSON), against JSON.parse + JSON.stringify of the
//   same document (what any rewriting proxy pays at least); target >= 50 MB/s;
// - maskText() on PII-dense text (the accuracy corpus' carrying texts, one value every ~140
//   characters), against one JSON.stringify pass over the same text; target >= 15 MB/s;
// - latency per 4 KB document or slice, p50 and p99, for both;
// - streaming: the time TextStreamMasker.push adds to each token event, for 1-character and
//   ~20-character events, against re-serializing the event; target p99 < 1 ms;
// - redact-pii 3.4.0 (SyncRedactor defaults) on the same inputs, for comparison: speed, and
//   span-level recall and precision on the accuracy corpus beside Portcullis' (the accuracy test
//   judges Portcullis alone).
// Inputs come from test/support/maskingCorpus.ts with a fixed seed (BENCH_MASKING_SEED).
// BENCH_MASKING_BEFORE=<dir>/src/mask/index.ts (an earlier tree, e.g. `git archive <rev> src |
// tar -x -C <dir>` with node_modules linked) adds that tree's mask() to the same interleaved rounds,
// so a before/after figure comes from one run on one machine state.
import { SyncRedactor } from "redact-pii";
import { defaultMasker, MaskingTally, TextStreamMasker } from "../src/mask/index.js";
import { cleanThreadState, generateCorpus, type CorpusText } from "../test/support/maskingCorpus.js";

const SEED = Number(process.env.BENCH_MASKING_SEED ?? "20250602");
const DOCUMENT_BYTES = Number(process.env.BENCH_MASKING_BYTES ?? String(1024 * 1024));
const ROUNDS = Number(process.env.BENCH_MASKING_ROUNDS ?? "12");
const SLICE = 4096;
const STREAM_CHARS = Number(process.env.BENCH_MASKING_STREAM_CHARS ?? "60000");
const TARGET_CLEAN_MBPS = 50;
const TARGET_DENSE_MBPS = 15;
const TARGET_PUSH_P99_MS = 1;

const masker = defaultMasker();
const BEFORE = process.env.BENCH_MASKING_BEFORE;
type AnyMasker = { mask(text: string): { text: string }; maskText(text: string): { text: string } };
const before: AnyMasker | undefined = BEFORE ? ((await import(BEFORE)) as { defaultMasker(): AnyMasker }).defaultMasker() : undefined;
const redactor = new SyncRedactor();
let sink = 0;

// --- Inputs ---

const cleanDocument = cleanThreadState(SEED, DOCUMENT_BYTES);
const cleanDocuments = Array.from({ length: 256 }, (_, i) => cleanThreadState(SEED + 1 + i, SLICE));
const corpus = generateCorpus(SEED, { perEntity: 120, negatives: 10 });
const denseText = (() => {
  let text = "";
  for (let i = 0; text.length < DOCUMENT_BYTES; i += 1) text += `${corpus.texts[i % corpus.texts.length]!.text}\n`;
  return text.slice(0, DOCUMENT_BYTES);
})();
// Every timed call masks other text than the call before, as traffic does: the same text over again
// would be answered in part from the scanner's memory of the last text (its normalised form, its
// digit runs), and measure less work than a new document costs.
const VARIANTS = 3;
const cleanVariants = [cleanDocument, ...Array.from({ length: VARIANTS - 1 }, (_, k) => cleanThreadState(SEED + 100_000 * (k + 1), DOCUMENT_BYTES))];
const denseVariants = Array.from({ length: VARIANTS }, (_, k) => {
  const cut = k === 0 ? 0 : denseText.indexOf("\n", Math.floor((k * denseText.length) / VARIANTS)) + 1;
  return denseText.slice(cut) + denseText.slice(0, cut);
});
/** A call that takes the next variant each time. */
function cycling(variants: readonly string[], run: (text: string) => number): () => number {
  let next = 0;
  return () => run(variants[next++ % variants.length]!);
}
const meanMegabytes = (variants: readonly string[]) => variants.reduce((sum, text) => sum + megabytes(text), 0) / variants.length;
const denseSlices = Array.from({ length: Math.floor(denseText.length / SLICE) }, (_, i) => denseText.slice(i * SLICE, (i + 1) * SLICE));
const denseValues = corpus.texts.reduce((n, t) => n + t.spans.length, 0);
const denseChars = corpus.texts.reduce((n, t) => n + t.text.length + 1, 0);

// --- Measurement ---

function percentile(sorted: Float64Array | number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const megabytes = (text: string) => Buffer.byteLength(text) / 1e6;

/** Median MB/s over ROUNDS; the series of one comparison are interleaved round by round, so a slow
 * spell on a shared machine lands on subject and baseline alike. */
function throughputs(bytes: number, series: (() => number)[]): number[] {
  for (const run of series) for (let i = 0; i < 3; i += 1) sink += run();
  const times = series.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round += 1) {
    series.forEach((run, i) => {
      const started = performance.now();
      sink += run();
      times[i]!.push(performance.now() - started);
    });
  }
  return times.map((samples) => bytes / (percentile([...samples].sort((a, b) => a - b), 50) / 1000));
}

/** p50 and p99 in ms of one call per input, over several passes. */
function latencies(inputs: readonly string[], run: (input: string) => number, passes = 5): { p50: number; p99: number } {
  for (const input of inputs.slice(0, 32)) sink += run(input);
  const samples: number[] = [];
  for (let pass = 0; pass < passes; pass += 1) {
    for (const input of inputs) {
      const started = performance.now();
      sink += run(input);
      samples.push(performance.now() - started);
    }
  }
  const sorted = Float64Array.from(samples).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const mbps = (value: number) => `${value.toFixed(1)} MB/s`.padStart(12);
const ms = (value: number) => `${value < 0.1 ? (value * 1000).toFixed(1) + " µs" : value.toFixed(3) + " ms"}`.padStart(10);
const times = (value: number) => `${value.toFixed(2)}×`;

console.log(`Masking (node ${process.version}; seed ${SEED}; ${ROUNDS} timed rounds per figure, median)`);
console.log(
  `Inputs: PII-free LangGraph thread state ${(cleanDocument.length / 1024).toFixed(0)} KiB JSON and ${cleanDocuments.length} documents of ~4 KiB; PII-dense text ${(denseText.length / 1024).toFixed(0)} KiB (${denseValues} values in ${(denseChars / 1024).toFixed(0)} KiB of carrying text: one per ${Math.round(denseChars / denseValues)} characters)`,
);

// Sanity: the clean documents must come back untouched, or the figure measures masking work.
for (const [k, document] of cleanVariants.entries()) {
  const cleanResult = masker.mask(document);
  const cleanRedactions = Object.entries(cleanResult.redactions);
  console.log(
    cleanResult.text === document
      ? `mask() returns clean document ${k + 1} of ${VARIANTS} byte for byte (0 redactions)`
      : `WARNING: mask() changed clean document ${k + 1}: ${cleanRedactions.map(([entity, n]) => `${entity} ${n}`).join(", ")}`,
  );
}

// --- Throughput ---

const [cleanMask, cleanBaseline, cleanRedactPii] = throughputs(meanMegabytes(cleanVariants), [
  cycling(cleanVariants, (text) => masker.mask(text).text.length),
  cycling(cleanVariants, (text) => JSON.stringify(JSON.parse(text)).length),
  cycling(cleanVariants, (text) => redactor.redact(text).length),
]) as [number, number, number];
// This tree against the earlier one alone, round by round, so neither follows redact-pii's garbage.
const [cleanAfter, cleanBefore] = before
  ? (throughputs(meanMegabytes(cleanVariants), [cycling(cleanVariants, (text) => masker.mask(text).text.length), cycling(cleanVariants, (text) => before.mask(text).text.length)]) as [number, number])
  : [undefined, undefined];
const [denseMask, denseBaseline, denseRedactPii] = throughputs(meanMegabytes(denseVariants), [
  cycling(denseVariants, (text) => masker.maskText(text).text.length),
  cycling(denseVariants, (text) => JSON.stringify(text).length),
  cycling(denseVariants, (text) => redactor.redact(text).length),
]) as [number, number, number];

console.log(`\nThroughput${"".padEnd(40)}${"Portcullis".padStart(12)}   ${"baseline".padStart(12)}  ratio   ${"redact-pii".padStart(12)}`);
console.log(`  mask() on clean LangGraph JSON${"".padEnd(19)}${mbps(cleanMask)}   ${mbps(cleanBaseline)}  ${times(cleanBaseline / cleanMask).padStart(6)}  ${mbps(cleanRedactPii)}   (baseline JSON.parse+stringify)`);
console.log(`  maskText() on PII-dense text${"".padEnd(21)}${mbps(denseMask)}   ${mbps(denseBaseline)}  ${times(denseBaseline / denseMask).padStart(6)}  ${mbps(denseRedactPii)}   (baseline JSON.stringify of the text)`);
console.log(`  ratio: baseline time ÷ Portcullis time is how many baseline passes one masking pass costs`);
const [denseAfter, denseBefore] = before
  ? (throughputs(meanMegabytes(denseVariants), [cycling(denseVariants, (text) => masker.maskText(text).text.length), cycling(denseVariants, (text) => before.maskText(text).text.length)]) as [number, number])
  : [undefined, undefined];
if (denseBefore !== undefined && denseAfter !== undefined) {
  console.log(`  maskText() on PII-dense text, this tree against BENCH_MASKING_BEFORE, interleaved: ${mbps(denseAfter).trim()} vs ${mbps(denseBefore).trim()} (${((denseAfter / denseBefore - 1) * 100).toFixed(1)}%; the earlier tree detects fewer types)`);
}
if (cleanBefore !== undefined && cleanAfter !== undefined) {
  console.log(`  mask() on clean LangGraph JSON, this tree against BENCH_MASKING_BEFORE, interleaved: ${mbps(cleanAfter).trim()} vs ${mbps(cleanBefore).trim()} (${((cleanAfter / cleanBefore - 1) * 100).toFixed(1)}%)`);
}

// --- Latency per 4 KB ---

const cleanLatency = latencies(cleanDocuments, (doc) => masker.mask(doc).text.length);
const cleanLatencyBaseline = latencies(cleanDocuments, (doc) => JSON.stringify(JSON.parse(doc)).length);
const cleanLatencyRedactPii = latencies(cleanDocuments, (doc) => redactor.redact(doc).length, 2);
const denseLatency = latencies(denseSlices, (slice) => masker.maskText(slice).text.length);
const denseLatencyBaseline = latencies(denseSlices, (slice) => JSON.stringify(slice).length);
const denseLatencyRedactPii = latencies(denseSlices, (slice) => redactor.redact(slice).length, 2);
console.log(`\nLatency per 4 KiB${"".padEnd(25)}${"p50".padStart(10)} ${"p99".padStart(10)} | ${"baseline p50".padStart(12)} | ${"redact-pii p50".padStart(14)} ${"p99".padStart(10)}`);
const latencyRow = (label: string, a: { p50: number; p99: number }, b: { p50: number }, c: { p50: number; p99: number }) =>
  console.log(`  ${label.padEnd(40)}${ms(a.p50)} ${ms(a.p99)} | ${ms(b.p50).padStart(12)} | ${ms(c.p50).padStart(14)} ${ms(c.p99)}`);
latencyRow(`mask(), ${cleanDocuments.length} clean JSON documents`, cleanLatency, cleanLatencyBaseline, cleanLatencyRedactPii);
latencyRow(`maskText(), ${denseSlices.length} PII-dense slices`, denseLatency, denseLatencyBaseline, denseLatencyRedactPii);
console.log(`  masking.md §10: p99 added latency <= 5 ms per 4 KB non-token event: ${Math.max(cleanLatency.p99, denseLatency.p99) <= 5 ? "met" : "NOT met"}`);

// --- Streaming ---

/** A long assistant message made of the corpus' free-text carrying texts, cut into token events. */
function tokenEvents(size: () => number): string[] {
  let text = "";
  for (const item of corpus.texts) {
    if (item.format !== "text") continue;
    text += `${item.text} `;
    if (text.length >= STREAM_CHARS) break;
  }
  const events: string[] = [];
  for (let at = 0; at < text.length; ) {
    const length = size();
    events.push(text.slice(at, at + length));
    at += length;
  }
  return events;
}

function streamLatency(events: readonly string[]): { p50: number; p99: number; max: number; end: number; baselineP50: number; heldMean: number } {
  // Warm-up on a separate stream.
  const warm = new TextStreamMasker(masker, new MaskingTally());
  for (const event of events.slice(0, 2000)) sink += warm.push(event).length;
  sink += warm.end().length;
  const stream = new TextStreamMasker(masker, new MaskingTally());
  const samples = new Float64Array(events.length);
  const baseline = new Float64Array(events.length);
  let held = 0;
  events.forEach((event, i) => {
    let started = performance.now();
    sink += stream.push(event).length;
    samples[i] = performance.now() - started;
    held += stream.holding;
    started = performance.now();
    sink += JSON.stringify({ event: "messages", data: [{ content: event, type: "AIMessageChunk" }] }).length;
    baseline[i] = performance.now() - started;
  });
  const started = performance.now();
  sink += stream.end().length;
  const end = performance.now() - started;
  samples.sort();
  baseline.sort();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples[samples.length - 1]!, end, baselineP50: percentile(baseline, 50), heldMean: held / events.length };
}

let state = SEED;
const nextSize = () => {
  state = (state * 1103515245 + 12345) % 2 ** 31;
  return 15 + (state % 11); // 15-25 characters
};
const oneChar = tokenEvents(() => 1);
const twentyChar = tokenEvents(nextSize);
const one = streamLatency(oneChar);
const twenty = streamLatency(twentyChar);
console.log(`\nStreaming: TextStreamMasker.push per token event over a ${(STREAM_CHARS / 1000).toFixed(0)}k-character PII-dense message`);
console.log(`  ${"events".padEnd(34)}${"p50".padStart(10)} ${"p99".padStart(10)} ${"max".padStart(10)} | ${"baseline p50".padStart(12)} | held on average   end()`);
for (const [label, events, figures] of [
  ["1-character", oneChar, one],
  ["~20-character (15-25)", twentyChar, twenty],
] as const) {
  console.log(
    `  ${`${label}, ${events.length} events`.padEnd(34)}${ms(figures.p50)} ${ms(figures.p99)} ${ms(figures.max)} | ${ms(figures.baselineP50).padStart(12)} | ${figures.heldMean.toFixed(1).padStart(6)} chars   ${ms(figures.end).trim()}`,
  );
}
console.log(`  baseline: JSON.stringify of the event as re-emitted; held: characters waiting for more text after each push`);

console.log(`\nTargets`);
console.log(`  mask() on clean JSON >= ${TARGET_CLEAN_MBPS} MB/s: ${cleanMask >= TARGET_CLEAN_MBPS ? "met" : "NOT met"} (${cleanMask.toFixed(1)} MB/s; redact-pii ${cleanRedactPii.toFixed(1)} MB/s)`);
console.log(`  maskText() on PII-dense text >= ${TARGET_DENSE_MBPS} MB/s: ${denseMask >= TARGET_DENSE_MBPS ? "met" : "NOT met"} (${denseMask.toFixed(1)} MB/s; redact-pii ${denseRedactPii.toFixed(1)} MB/s)`);
const worstPush = Math.max(one.p99, twenty.p99);
console.log(`  streaming push p99 < ${TARGET_PUSH_P99_MS} ms: ${worstPush < TARGET_PUSH_P99_MS ? "met" : "NOT met"} (1-char ${one.p99.toFixed(3)} ms, ~20-char ${twenty.p99.toFixed(3)} ms)`);

// --- Accuracy beside redact-pii ---

interface Detection {
  start: number;
  end: number;
  entity: string;
}

// redact-pii's built-in replacement labels, and the comparable Portcullis entity where there is one.
const REDACT_PII_LABELS: Record<string, string | undefined> = {
  CREDIT_CARD_NUMBER: "CREDIT_CARD",
  US_SOCIAL_SECURITY_NUMBER: "US_SSN",
  EMAIL_ADDRESS: "EMAIL_ADDRESS",
  PHONE_NUMBER: "PHONE_NUMBER",
  IP_ADDRESS: "IP_ADDRESS",
  PASSWORD: "GENERIC_SECRET",
  CREDENTIALS: "GENERIC_SECRET",
  STREET_ADDRESS: undefined,
  ZIPCODE: undefined,
  USERNAME: undefined,
  DIGITS: undefined,
  URL: undefined,
  PERSON_NAME: undefined,
};
const REDACT_PII_TOKEN = new RegExp(Object.keys(REDACT_PII_LABELS).sort((a, b) => b.length - a.length).join("|"), "g");
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** redact-pii returns only the rewritten text; its spans are recovered by aligning the output's
 * literal pieces with the input (each label replaced one or more characters). */
function redactPiiSpans(original: string, redacted: string): Detection[] | undefined {
  if (original === redacted) return [];
  const labels: string[] = [];
  let pattern = "^";
  let at = 0;
  for (const match of redacted.matchAll(REDACT_PII_TOKEN)) {
    pattern += `${escapeRegExp(redacted.slice(at, match.index))}([\\s\\S]+?)`;
    labels.push(match[0]);
    at = match.index + match[0].length;
  }
  pattern += `${escapeRegExp(redacted.slice(at))}$`;
  const aligned = new RegExp(pattern, "d").exec(original);
  if (!aligned?.indices) return undefined;
  const detections: Detection[] = [];
  labels.forEach((label, i) => {
    const [start, end] = aligned.indices![i + 1]!;
    if (original.slice(start, end) !== label) detections.push({ start, end, entity: REDACT_PII_LABELS[label] ?? `redact-pii:${label}` });
  });
  return detections;
}

/** Span-level recall and precision for one entity type (a detection counts when it overlaps a value
 * of that type and carries the type). */
function entityScore(texts: readonly CorpusText[], detect: (text: string) => Detection[] | undefined, entity: string): { recall: number; precision: number; detections: number } {
  let annotated = 0;
  let recalled = 0;
  let detections = 0;
  let correct = 0;
  const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;
  for (const item of texts) {
    const found = detect(item.text) ?? [];
    for (const span of item.spans.filter((s) => s.type === entity)) {
      annotated += 1;
      if (found.some((d) => d.entity === entity && overlaps(d, span))) recalled += 1;
    }
    for (const detection of found.filter((d) => d.entity === entity)) {
      detections += 1;
      if (item.spans.some((span) => span.type === entity && overlaps(detection, span))) correct += 1;
    }
  }
  return { recall: annotated ? recalled / annotated : 1, precision: detections ? correct / detections : 1, detections };
}

const accuracyCorpus = generateCorpus(SEED);
const comparable = ["EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER", "GENERIC_SECRET"];
const redactPiiCache = new Map<string, Detection[] | undefined>();
const theirs = (text: string) => {
  if (!redactPiiCache.has(text)) redactPiiCache.set(text, redactPiiSpans(text, redactor.redact(text)));
  return redactPiiCache.get(text);
};
console.log(`
Accuracy on the masking corpus (seed ${SEED}, ${accuracyCorpus.texts.length} carrying texts): recall / precision`);
console.log(`  ${"entity".padEnd(16)} ${"Portcullis".padStart(17)}   ${"redact-pii".padStart(17)}`);
for (const entity of comparable) {
  const us = entityScore(accuracyCorpus.texts, (text) => masker.scanner.scan(text), entity);
  const them = entityScore(accuracyCorpus.texts, theirs, entity);
  console.log(`  ${entity.padEnd(16)} ${`${us.recall.toFixed(3)} / ${us.precision.toFixed(3)}`.padStart(17)}   ${`${them.recall.toFixed(3)} / ${them.precision.toFixed(3)}`.padStart(17)}`);
}
const negativesAltered = (mask: (text: string) => string) => accuracyCorpus.negatives.filter((item) => mask(item.text) !== item.text).length;
console.log(
  `  PII-free negatives altered: Portcullis ${negativesAltered((text) => masker.mask(text).text)} of ${accuracyCorpus.negatives.length}, redact-pii ${negativesAltered((text) => redactor.redact(text))}`,
);
console.log(`  IBAN_CODE and the secret types have no redact-pii counterpart`);
if (sink < 0) console.log(sink); // keeps the measured calls observable

// --- A name detector, measured before it is turned on (issue 21: "measured for precision") ---
// BENCH_MASKING_NER=<path to compromise's ESM entry> (e.g. `npm install --prefix /tmp/nlp
// compromise@14` and /tmp/nlp/node_modules/compromise/src/three.js): compromise's
// people() on the carrying texts, scored against the names the corpus filler wrote
// (CorpusText.names), plus its hits on the PII-free negatives and its speed. Not a dependency: the
// figures decide whether one is worth adding (masking.md: on by default needs precision >= 0.95).
const NER = process.env.BENCH_MASKING_NER;
if (NER) {
  type People = { people(): { found: boolean; json(options: { offset: boolean }): Array<{ offset: { start: number; length: number } }> } };
  const nlp = ((await import(NER)) as { default: (text: string) => People }).default;
  let annotated = 0;
  let recalled = 0;
  let detections = 0;
  let correct = 0;
  let chars = 0;
  const started = performance.now();
  for (const item of accuracyCorpus.texts) {
    chars += item.text.length;
    const found = nlp(item.text).people().json({ offset: true }).map((person) => [person.offset.start, person.offset.start + person.offset.length] as const);
    const names = item.names ?? [];
    for (const [start, end] of names) {
      annotated += 1;
      if (found.some(([a, b]) => a < end && start < b)) recalled += 1;
    }
    for (const [a, b] of found) {
      detections += 1;
      if (names.some(([start, end]) => a < end && start < b)) correct += 1;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const negativeHits = accuracyCorpus.negatives.filter((item) => nlp(item.text).people().found).length;
  console.log(`\nNames (compromise people(), ${NER})`);
  console.log(
    `  ${annotated} names in the carrying texts: recall ${(recalled / Math.max(1, annotated)).toFixed(3)}, precision ${(correct / Math.max(1, detections)).toFixed(3)} (${detections} detections); ${negativeHits} of ${accuracyCorpus.negatives.length} PII-free negatives hit; ${(chars / 1e6 / seconds).toFixed(2)} MB/s`,
  );
}
