// The log's side of c2sp.org/tlog-witness: each signed checkpoint is sent to the configured
// witnesses with a consistency proof from the size each last cosigned, and their cosignatures are
// added to the stored checkpoint, so exports and `portcullis verify --trusted-witness` carry them.
import { consistencyProof, type NodeReader } from "./merkle.js";
import { openNote, parseVerifierKey, type NoteVerifier } from "./note.js";

export interface WitnessEndpoint {
  /** The witness's submission prefix (`<url>/add-checkpoint` is called). */
  url: string;
  /** Its verifier key (type 0x04 cosignatures). */
  vkey: string;
}

class WitnessError extends Error {
  override readonly name = "WitnessError";
}

/** One witness as the log sees it: the size it last cosigned, learned from a 409 when unknown. */
export class WitnessClient {
  readonly verifier: NoteVerifier;
  private lastSize = 0;

  constructor(
    readonly endpoint: WitnessEndpoint,
    private readonly timeoutMs: number,
  ) {
    this.verifier = parseVerifierKey(endpoint.vkey);
  }

  get name(): string {
    return this.verifier.name;
  }

  /** The witness's cosignature lines for `note` (a checkpoint of `size`), verified. */
  async cosign(note: string, size: number, nodes: NodeReader): Promise<string> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const old = this.lastSize <= size ? this.lastSize : 0;
      const proof = old > 0 && old < size ? await consistencyProof(old, size, nodes) : [];
      const body = `old ${old}\n${proof.map((hash) => `${hash.toString("base64")}\n`).join("")}\n${note}`;
      const res = await fetch(new URL("add-checkpoint", this.endpoint.url.endsWith("/") ? this.endpoint.url : `${this.endpoint.url}/`), {
        method: "POST",
        body,
        headers: { "content-type": "text/plain; charset=utf-8" },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text();
      if (res.status === 409 && res.headers.get("content-type")?.startsWith("text/x.tlog.size")) {
        // The witness has cosigned another size (a restart, another instance): prove from that one.
        const known = Number(text.trim());
        if (!Number.isSafeInteger(known) || known < 0) throw new WitnessError(`witness ${this.name} answered 409 with no size`);
        if (known > size) throw new WitnessError(`witness ${this.name} has cosigned size ${known}, larger than this checkpoint's ${size}: the log was truncated or forked`);
        this.lastSize = known;
        continue;
      }
      if (res.status !== 200) throw new WitnessError(`witness ${this.name} refused the checkpoint of size ${size}: ${res.status} ${text.trim().slice(0, 200)}`);
      // tlog-witness: the reply is signature lines. Only this witness's, verified, are kept: a line
      // claiming another key's name would otherwise be stored beside the log's checkpoint.
      const mine = text
        .split("\n")
        .filter((line) => line.startsWith(`\u2014 ${this.name} `))
        .map((line) => `${line}\n`)
        .filter((line) => {
          try {
            return openNote(`${note}${line}`, [this.verifier]).verified.some((sig) => sig.name === this.name && sig.timestamp !== undefined);
          } catch {
            return false;
          }
        });
      if (mine.length === 0) throw new WitnessError(`witness ${this.name} answered without a valid cosignature of its key`);
      this.lastSize = size;
      return mine.join("");
    }
    throw new WitnessError(`witness ${this.name} kept answering 409`);
  }
}
