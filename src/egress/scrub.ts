// Removes a route's credential from everything that comes back from its downstream: header
// values and the body, as it streams. A match split across chunks is caught by holding back only
// the tail that is still a prefix of a secret form (usually nothing, so tokens are not delayed).
import { pipeline, Transform, type Readable } from "node:stream";

export const SCRUBBED = "[REDACTED:egress-credential]";
const SCRUBBED_BYTES = Buffer.from(SCRUBBED);

/** Every way `text` can appear base64-encoded (RFC 4648 §4 and §5, padded or not): whole, and,
 * for each of the three byte alignments it can have inside a longer encoded text (a JSON
 * document or a header quoted and then encoded), the run of characters that encodes its bytes
 * alone. Those are the same wherever the text sits, so an echo is caught at any offset. */
export function base64Forms(text: string): string[] {
  const bytes = Buffer.from(text, "utf8");
  const whole = bytes.toString("base64");
  const forms = [whole, whole.replace(/=+$/, "")];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // A character holds 6 bits: keep those whose bits all come from `text`.
    forms.push(encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6)));
  }
  return forms.flatMap((form) => [form, form.replace(/\+/g, "-").replace(/\//g, "_")]);
}

/** A credential's forms as the scrubber searches for them: longest first, so a form that
 * contains another is replaced whole. Prepared once per route. */
export function secretPatterns(forms: readonly string[]): readonly Buffer[] {
  return [...new Set(forms)].filter((form) => form.length > 0).sort((a, b) => b.length - a.length).map((form) => Buffer.from(form, "utf8"));
}

export class SecretScrubber {
  private readonly forms: readonly Buffer[];
  /** Times a secret form was found and replaced (a downstream echoing the credential). */
  found = 0;

  constructor(forms: readonly string[] | readonly Buffer[]) {
    this.forms = forms.every((form) => Buffer.isBuffer(form)) ? (forms as readonly Buffer[]) : secretPatterns(forms as readonly string[]);
  }

  get active(): boolean {
    return this.forms.length > 0;
  }

  text(value: string): string {
    if (!this.active) return value;
    const scrubbed = this.replaceAll(Buffer.from(value, "utf8"));
    return scrubbed === undefined ? value : scrubbed.toString("utf8");
  }

  /** The body with every secret form replaced, flowing as it arrives. */
  stream(body: Readable): Readable {
    if (!this.active) return body;
    let pending: Buffer = Buffer.alloc(0);
    const transform = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        const joined = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
        const data = this.replaceAll(joined) ?? joined;
        const held = this.heldTail(data);
        pending = data.subarray(data.length - held);
        done(null, data.subarray(0, data.length - held));
      },
      flush: (done) => done(null, pending),
    });
    // pipeline passes a body error on and destroys the body when the transform ends early.
    return pipeline(body, transform, () => undefined);
  }

  /** undefined when nothing was found. */
  private replaceAll(data: Buffer): Buffer | undefined {
    let current = data;
    let changed = false;
    for (const form of this.forms) {
      let at = current.indexOf(form);
      if (at === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at !== -1) {
        parts.push(current.subarray(from, at), SCRUBBED_BYTES);
        this.found++;
        from = at + form.length;
        at = current.indexOf(form, from);
      }
      parts.push(current.subarray(from));
      current = Buffer.concat(parts);
      changed = true;
    }
    return changed ? current : undefined;
  }

  /** Length of the longest tail of `data` that begins some secret form. */
  private heldTail(data: Buffer): number {
    let longest = 0;
    for (const form of this.forms) {
      for (let length = Math.min(form.length - 1, data.length); length > longest; length--) {
        // The first byte rules out almost every length before a comparison.
        if (data[data.length - length] === form[0] && data.subarray(data.length - length).equals(form.subarray(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
