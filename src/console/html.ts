// HTML built from tagged templates: every interpolated value is escaped unless it is already
// markup made here (Html), so data from records, identities and payloads never becomes markup.
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON for a <script type="application/json"> data block: "<" escaped so no value closes it. */
export function jsonBlock(id: string, value: unknown): Html {
  return new Html(`<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(value).replace(/</g, "\\u003c")}</script>`);
}

/** The console's one time format: UTC, ISO 8601, with a relative hint ("3 min ago") that
 * console.js keeps current; the same words as `relativeTime` here. */
export function time(ms: number | null | undefined, now = Date.now()): Html {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return html`<span class="muted">—</span>`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}" title="${iso}">${utcText(ms)}</time> <span class="ago" data-ago="${iso}">${relativeTime(ms, now)}</span>`;
}

/** "2026-12-07 00:12:05 UTC" */
function utcText(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function relativeTime(ms: number, now = Date.now()): string {
  const seconds = Math.round((now - ms) / 1_000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const words = s < 45 ? (future ? "in a moment" : "just now") : s < 3_600 ? `${Math.round(s / 60)} min` : s < 86_400 ? `${Math.round(s / 3_600)} h` : `${Math.round(s / 86_400)} d`;
  if (s < 45) return words;
  return future ? `in ${words}` : `${words} ago`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

/** A status word as a coloured badge a person scans quickly. */
export function badge(word: string): Html {
  const tone = /^(success|ok|allow|approved|used|valid|present|included|active)$/.test(word)
    ? "good"
    : /^(error|refused|deny|denied|failed|invalid|altered|upstream_failed|masking_failed|run_error|upstream_error_status|timeout)$/.test(word)
      ? "bad"
      : /^(require-approval|pending|requested|interrupted|awaiting-approval|open|client_aborted|expired|purged|shutdown)$/.test(word)
        ? "warn"
        : "neutral";
  return html`<span class="badge ${tone}">${word}</span>`;
}

export function pretty(value: unknown): string {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2) ?? "";
}
