// `portcullis verify`, `portcullis export` and `portcullis audit …`: checking the live ledger,
// producing evidence bundles, and the ledger's housekeeping (legal holds, retention, key rotation).
// Each command opens the ledger beside a running gateway; what it changes is itself recorded.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { Command, Option } from "commander";
import { loadConfigFile, parseConfig, type PortcullisConfig } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { exportEvidence, Ledger, openLedgerStore, writeNewKeyFile, parseVerifierKey, SIG_COSIGNATURE_V1, purgeExpiredPayloads, verifyStore, type LedgerStore } from "../ledger/index.js";
import { pino } from "pino";
import { ledgerEventRecord } from "../record/index.js";

export interface LedgerOptions {
  config?: string;
  ledger?: string;
  keyFile?: string;
}

export const ledgerOptions = {
  config: () => new Option("-c, --config <file>", "gateway configuration file (its audit section)").env("PORTCULLIS_CONFIG"),
  ledger: () => new Option("--ledger <file>", "a SQLite ledger file, instead of --config (e.g. .portcullis/demo/ledger.db)"),
  keyFile: () => new Option("--key-file <file>", "with --ledger: the signing key (default: ledger-signing-key.pem beside it)"),
};

export function verifyCommand(): Command {
  return new Command("verify")
    .description("Check the live ledger: every leaf, every checkpoint, consistency between checkpoints, the tail; exit 1 if anything is INVALID")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .option("--receipt <seq:hash>", "also check a Portcullis-Audit-Receipt (index and base64 leaf hash); repeatable", collect, [])
    .option("--strict", "also parse every leaf and require byte-exact canonical JSON (slower)")
    .option("--trusted-key <vkey>", "trust only this log key (as `portcullis audit keys` prints it), not the key history in the database; repeatable", collect, [])
    .option("--checkpoint <file>", "a signed checkpoint saved earlier (portcullis audit checkpoint): the log must still hold its entries with the same root, so a dropped tail is caught; repeatable", collect, [])
    .option("--trusted-witness <vkey>", "require cosignatures from this witness (portcullis witness key); repeatable", collect, [])
    .option("--witness-quorum <k>", "with --trusted-witness: how many of them must cosign the newest checkpoint (default: all)")
    .option("--max-age <seconds>", "with --trusted-witness: the newest cosignature may be at most this old", "300")
    .option("--json", "print the results as JSON")
    .action(async (options: LedgerOptions & { receipt: string[]; json?: boolean; strict?: boolean; trustedKey: string[]; checkpoint: string[]; trustedWitness: string[]; witnessQuorum?: string; maxAge: string }) => {
      const audit = await auditConfig(options);
      const savedCheckpoints = await Promise.all(
        options.checkpoint.map(async (file) => ({ source: file, note: await readFile(file, "utf8").catch((error: Error) => Promise.reject(new ConfigError(`--checkpoint ${file}: ${error.message}`))) })),
      );
      const store = await openLedgerStore(audit);
      try {
        const report = await verifyStore(store, await originOf(store, audit), {
          receipts: options.receipt.map(parseReceipt),
          strict: options.strict === true,
          trustedKeys: options.trustedKey,
          savedCheckpoints,
          ...(options.trustedWitness.length > 0 ? { witnesses: witnessPolicy(options.trustedWitness, options.witnessQuorum, options.maxAge) } : {}),
        });
        process.stdout.write(options.json ? `${JSON.stringify(report.results, null, 2)}\n` : report.format());
        process.exitCode = report.valid ? 0 : 1;
      } finally {
        await store.close();
      }
    });
}

export function exportCommand(): Command {
  return new Command("export")
    .description("Write an evidence bundle an auditor verifies offline (records, proofs, checkpoints, keys, payloads, summary, verify.mjs)")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .requiredOption("-o, --out <dir>", "new directory for the bundle")
    .option("--from <time>", "first instant included (ISO 8601)")
    .option("--to <time>", "first instant excluded (ISO 8601)")
    .option("--user <subject>", "only this identity's sessions, e.g. oidc:corp:alice: its records and every record of its sessions (approvals, completions, runs, who looked at them), each with an inclusion proof")
    .option("--graph <graph>", "only the sessions touching this graph, whole, each record with an inclusion proof")
    .action(async (options: LedgerOptions & { out: string; from?: string; to?: string; user?: string; graph?: string }) => {
      const ledger = await openToolLedger(options);
      try {
        const result = await exportEvidence(ledger, {
          outDir: options.out,
          ...(options.from ? { fromMs: instant(options.from, "--from") } : {}),
          ...(options.to ? { toMs: instant(options.to, "--to") } : {}),
          ...(options.user ? { user: options.user } : {}),
          ...(options.graph ? { graph: options.graph } : {}),
          exportedBy: operator(),
        });
        process.stdout.write(
          `Evidence bundle written to ${result.dir}: ${result.entries} records (${result.filtered ? "filtered, each with an inclusion proof" : `entries ${result.start}..${result.end - 1}`}), ` +
            `checkpoint at size ${result.checkpointSize}, ${result.payloads} payloads, a control report (report.html, report.json) with ${result.sampled} sampled records.\n` +
            `Verify it anywhere with Node.js: node ${path.join(result.dir, "verify.mjs")} ${result.dir}\n`,
        );
      } finally {
        await ledger.close();
      }
    });
}

export function auditCommand(): Command {
  const command = new Command("audit").description("Ledger housekeeping: legal holds, payload retention, signing-key rotation");
  const hold = command.command("hold").description("Legal holds: payloads they cover are never purged");
  hold
    .command("place")
    .description("Place a hold on an identity's payloads, a time range, or both")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .option("--user <subject>", "identity, e.g. oidc:corp:alice")
    .option("--from <time>", "start of the held period (ISO 8601)")
    .option("--to <time>", "end of the held period (ISO 8601, excluded)")
    .requiredOption("--reason <text>", "why, e.g. a case number")
    .action(async (options: LedgerOptions & { user?: string; from?: string; to?: string; reason: string }) => {
      if (!options.user && !options.from && !options.to) throw new ConfigError("a hold needs --user, --from/--to, or both");
      const ledger = await openToolLedger(options);
      try {
        const placed = {
          id: randomUUID(),
          subject: options.user ?? null,
          fromMs: options.from ? instant(options.from, "--from") : null,
          toMs: options.to ? instant(options.to, "--to") : null,
          reason: options.reason,
          createdBy: operator(),
          createdAtMs: Date.now(),
          releasedAtMs: null,
        };
        await ledger.store.addHold(placed);
        await ledger.append(ledgerEventRecord("hold.placed", placed.createdBy, { id: placed.id, user: placed.subject, from: options.from ?? null, to: options.to ?? null, reason: placed.reason }));
        process.stdout.write(`Legal hold ${placed.id} placed.\n`);
      } finally {
        await ledger.close();
      }
    });
  hold
    .command("release <id>")
    .description("Release a hold (recorded; payloads become subject to retention again)")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .action(async (id: string, options: LedgerOptions) => {
      const ledger = await openToolLedger(options);
      try {
        if (!(await ledger.store.releaseHold(id, Date.now()))) throw new ConfigError(`no active legal hold ${id}`);
        await ledger.append(ledgerEventRecord("hold.released", operator(), { id }));
        process.stdout.write(`Legal hold ${id} released.\n`);
      } finally {
        await ledger.close();
      }
    });
  hold
    .command("list")
    .description("List legal holds")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .action(async (options: LedgerOptions) => {
      const store = await openLedgerStore(await auditConfig(options));
      try {
        process.stdout.write(`${JSON.stringify(await store.holds(), null, 2)}\n`);
      } finally {
        await store.close();
      }
    });
  command
    .command("keys")
    .description("Print the key history: every key that signed checkpoints, with its validity window (publish the active vkey for auditors' --trusted-key)")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .action(async (options: LedgerOptions) => {
      const store = await openLedgerStore(await auditConfig(options));
      try {
        for (const key of await store.keys()) {
          const window = `${new Date(key.validFromMs).toISOString()} .. ${key.validToMs === null ? "active" : new Date(key.validToMs).toISOString()}`;
          process.stdout.write(`${key.role.padEnd(8)} ${window.padEnd(52)} ${key.vkey}\n`);
        }
      } finally {
        await store.close();
      }
    });
  command
    .command("checkpoint")
    .description("Print the newest signed checkpoint; keep copies elsewhere (a WORM bucket, another team's system) and pass them to verify --checkpoint, which then catches a dropped tail")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .action(async (options: LedgerOptions) => {
      const audit = await auditConfig(options);
      const store = await openLedgerStore(audit);
      try {
        const checkpoint = await store.latestCheckpoint(await originOf(store, audit));
        if (!checkpoint) throw new ConfigError("the ledger has no signed checkpoint yet");
        process.stdout.write(checkpoint.note);
      } finally {
        await store.close();
      }
    });
  command
    .command("purge")
    .description("Delete masked payloads older than the retention period (audit.payload_retention_days or --older-than-days), except those under a hold")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .option("--older-than-days <days>", "retention period in days")
    .action(async (options: LedgerOptions & { olderThanDays?: string }) => {
      const audit = await auditConfig(options);
      const days = options.olderThanDays !== undefined ? Number(options.olderThanDays) : audit.payload_retention_days;
      if (!Number.isInteger(days) || days < 0) throw new ConfigError("--older-than-days: a whole number of days");
      if (days === 0 && options.olderThanDays === undefined) throw new ConfigError("audit.payload_retention_days is 0 (keep forever); pass --older-than-days to purge anyway");
      const ledger = await openToolLedger(options);
      try {
        const result = await purgeExpiredPayloads(ledger, days, operator());
        process.stdout.write(`Purged ${result.purged} payloads stored before ${result.before}; leaves and proofs are unchanged.\n`);
      } finally {
        await ledger.close();
      }
    });
  command
    .command("rotate-key")
    .description("Replace the checkpoint signing key; the old public key stays in the key history with its validity window")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .option("--compromised-at <time>", "the old key is compromised: end its validity at this instant (ISO 8601) instead of now")
    .action(async (options: LedgerOptions & { compromisedAt?: string }) => {
      const audit = await auditConfig(options);
      const before = await openToolLedger(options);
      const oldKeyId = before.keyId;
      await before.close();
      await writeNewKeyFile(audit.signing_key_file);
      const ledger = await openToolLedger(options, { registerKey: true });
      try {
        const endsMs = options.compromisedAt ? instant(options.compromisedAt, "--compromised-at") : Date.now();
        await ledger.store.retireKey(oldKeyId, endsMs);
        await ledger.append(ledgerEventRecord("key.rotated", operator(), { retired: oldKeyId, valid_to: new Date(endsMs).toISOString(), new_key: ledger.keyId, vkey: ledger.verifierKey, compromised: options.compromisedAt !== undefined }));
        await ledger.checkpoint();
        process.stdout.write(`New signing key ${ledger.keyId} (${ledger.verifierKey}); ${oldKeyId} retired. A running gateway signs with the new key from its next checkpoint.\n`);
      } finally {
        await ledger.close();
      }
    });
  return command;
}

async function auditConfig(options: LedgerOptions): Promise<PortcullisConfig["audit"]> {
  if (options.config && options.ledger) throw new ConfigError("use either --config or --ledger, not both");
  if (options.config) return (await loadConfigFile(options.config)).audit;
  if (options.ledger) {
    return parseConfig({
      upstream: { url: "http://unused.invalid" },
      audit: { store: { kind: "sqlite", file: options.ledger }, signing_key_file: options.keyFile ?? path.join(path.dirname(options.ledger), "ledger-signing-key.pem") },
    }).audit;
  }
  throw new ConfigError("say which ledger: --config <file> (or PORTCULLIS_CONFIG) or --ledger <sqlite file>");
}

/** With --ledger, the origin is the one log the file holds. */
async function originOf(store: { logs(): Promise<string[]> }, audit: PortcullisConfig["audit"]): Promise<string> {
  const logs = await store.logs();
  if (logs.length === 1 && !logs.includes(audit.origin)) return logs[0]!;
  return audit.origin;
}

/** The store alone, for commands that only read it (no signing key is needed or made). */
export async function openToolStore(options: LedgerOptions): Promise<{ store: LedgerStore; origin: string }> {
  const audit = await auditConfig(options);
  const store = await openLedgerStore(audit);
  return { store, origin: await originOf(store, audit) };
}

export async function openToolLedger(options: LedgerOptions, opening: { registerKey?: boolean } = {}): Promise<Ledger> {
  const audit = await auditConfig(options);
  const store = await openLedgerStore(audit);
  try {
    return await Ledger.open({
      origin: await originOf(store, audit),
      store,
      keyFile: audit.signing_key_file,
      log: pino({ level: "warn" }),
      checkpointIntervalMs: audit.checkpoint_interval_ms,
      heartbeatIntervalMs: audit.heartbeat_interval_ms,
      maxBatch: audit.max_batch,
      role: "tool",
      witnesses: audit.witnesses,
      witnessTimeoutMs: audit.witness_timeout_ms,
      ...(opening.registerKey ? { registerKey: true } : {}),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
}

function instant(text: string, option: string): number {
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) throw new ConfigError(`${option}: an ISO 8601 instant such as 2026-05-01T00:00:00Z`);
  return ms;
}

function witnessPolicy(vkeys: string[], quorum: string | undefined, maxAge: string): { vkeys: string[]; quorum: number; maxAgeMs: number } {
  const k = quorum === undefined ? vkeys.length : Number(quorum);
  if (!Number.isInteger(k) || k < 1 || k > vkeys.length) throw new ConfigError(`--witness-quorum: a whole number from 1 to ${vkeys.length} (the trusted witnesses given)`);
  const seconds = Number(maxAge);
  if (!(seconds > 0)) throw new ConfigError("--max-age: a positive number of seconds");
  for (const vkey of vkeys) {
    try {
      if (parseVerifierKey(vkey).type !== SIG_COSIGNATURE_V1) throw new Error("not a cosignature key (type 0x04)");
    } catch (error) {
      throw new ConfigError(`--trusted-witness ${vkey}: ${(error as Error).message}`);
    }
  }
  return { vkeys, quorum: k, maxAgeMs: seconds * 1000 };
}

function parseReceipt(text: string): { seq: number; leafHash: string } {
  const match = /^(\d+)[: ]([A-Za-z0-9+/]{43}=)$/.exec(text.trim());
  if (!match) throw new ConfigError("--receipt: <index>:<base64 leaf hash>, as in the Portcullis-Audit-Receipt header");
  return { seq: Number(match[1]), leafHash: match[2]! };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli:unknown";
  }
}
