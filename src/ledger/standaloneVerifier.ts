// `node verify.mjs [DIR] [--receipt <seq>:<base64 leaf hash>]... [--json]`: the verifier shipped
// in every evidence bundle. The exporter bundles this file with esbuild into one file that needs
// only Node (no packages), so an auditor can check a bundle offline with code they can read.
//
// Exit status: 0 every check valid, 1 anything INVALID, 2 usage error.
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import { verifyBundle, type Receipt } from "./bundleVerifier.js";

const USAGE = `usage: node verify.mjs [DIR] [--trusted-key <vkey>]... [--trusted-witness <vkey>]... [--witness-quorum <k>] [--max-age <seconds>] [--as-of <time>] [--receipt <seq>:<base64 leaf hash>]... [--json]

Verifies a Portcullis evidence bundle (portcullis-evidence/v1) in DIR (default: the current
directory): the manifest signature and file hashes, every checkpoint, the consistency proofs
between them, every entry against the signed roots, the payloads, and any receipts given.
A receipt is the value of a Portcullis-Audit-Receipt header, "<seq> <hash>" or "<seq>:<hash>".
--trusted-key pins the log's public key (name+keyid+key, as \`portcullis audit keys\` prints it):
without it the key history shipped in the bundle is trusted, so compare its key id with the
one your organisation published.
--trusted-witness pins a witness's cosignature key (repeatable): the newest checkpoint carrying
--witness-quorum of their cosignatures (default: all) must have been cosigned at most --max-age
seconds (default 300) before now, or before --as-of <ISO time> (when you asked for the export).
A log whose tail was dropped or rewritten, even with its own key, cannot show that.
`;

interface Invocation {
  dir: string;
  receipts: Receipt[];
  trustedKeys: string[];
  witnesses?: { vkeys: string[]; quorum: number; maxAgeMs: number };
  json: boolean;
}

/** Parses the arguments; a string is the usage error to print. */
export function parseInvocation(args: string[]): Invocation | { help: true } | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        receipt: { type: "string", multiple: true },
        "trusted-key": { type: "string", multiple: true },
        "trusted-witness": { type: "string", multiple: true },
        "witness-quorum": { type: "string" },
        "max-age": { type: "string" },
        "as-of": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (parsed.values.help) return { help: true };
  if (parsed.positionals.length > 1) return `expected one bundle directory, got ${parsed.positionals.length}`;
  const receipts: Receipt[] = [];
  for (const value of parsed.values.receipt ?? []) {
    const match = /^(0|[1-9][0-9]{0,15})[: ]([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
    if (!match) return `--receipt ${JSON.stringify(value)}: expected <seq>:<base64 leaf hash>`;
    receipts.push({ seq: Number(match[1]), leafHash: match[2] ?? "" });
  }
  const witnessKeys = parsed.values["trusted-witness"] ?? [];
  let witnesses: Invocation["witnesses"];
  if (witnessKeys.length > 0) {
    const quorum = parsed.values["witness-quorum"] === undefined ? witnessKeys.length : Number(parsed.values["witness-quorum"]);
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > witnessKeys.length) return `--witness-quorum: a whole number from 1 to ${witnessKeys.length}`;
    const seconds = Number(parsed.values["max-age"] ?? "300");
    if (!(seconds > 0)) return "--max-age: a positive number of seconds";
    const asOf = parsed.values["as-of"];
    const asOfMs = asOf === undefined ? undefined : Date.parse(asOf);
    if (asOfMs !== undefined && (Number.isNaN(asOfMs) || !/^\d{4}-\d{2}-\d{2}/.test(asOf!))) return "--as-of: an ISO 8601 time, e.g. 2026-05-01T12:00:00Z";
    witnesses = { vkeys: witnessKeys, quorum, maxAgeMs: seconds * 1000, ...(asOfMs !== undefined ? { asOfMs } : {}) };
  } else if (parsed.values["witness-quorum"] !== undefined || parsed.values["max-age"] !== undefined || parsed.values["as-of"] !== undefined) {
    return "--witness-quorum, --max-age and --as-of go with --trusted-witness";
  }
  return { dir: parsed.positionals[0] ?? ".", receipts, trustedKeys: parsed.values["trusted-key"] ?? [], ...(witnesses ? { witnesses } : {}), json: parsed.values.json === true };
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: Output = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

/** Runs the verifier and returns the exit status. */
export async function main(args: string[], io: Output = STDIO): Promise<number> {
  const invocation = parseInvocation(args);
  if (typeof invocation === "string") {
    io.err(`verify: ${invocation}\n${USAGE}`);
    return 2;
  }
  if ("help" in invocation) {
    io.out(USAGE);
    return 0;
  }
  const report = await verifyBundle(invocation.dir, { receipts: invocation.receipts, trustedKeys: invocation.trustedKeys, ...(invocation.witnesses ? { witnesses: invocation.witnesses } : {}) });
  if (invocation.json) io.out(`${JSON.stringify({ valid: report.valid, summary: report.summary(), results: report.results }, null, 2)}\n`);
  else io.out(report.format());
  return report.valid ? 0 : 1;
}

/** True when this module is the program Node was started with (not imported by a test or the CLI). */
function isMain(): boolean {
  // verify.mjs also runs as its own entry-integrity worker (entryIntegrity.ts).
  if (!isMainThread) return false;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // import.meta.url names the real path; argv[1] may go through a symbolic link.
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  void main(process.argv.slice(2)).then((code) => {
    // exitCode, not exit(): let a long report drain to a pipe.
    process.exitCode = code;
  });
}
