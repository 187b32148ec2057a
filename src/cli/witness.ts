// `portcullis witness`: a transparency-log witness (c2sp.org/tlog-witness) for Portcullis ledgers,
// or any C2SP log. Run it outside the gateway's trust domain, with its own key and storage.
import { Command, Option } from "commander";
import { ConfigError } from "../errors.js";
import { startWitness, witnessSigner } from "../witness/index.js";

interface WitnessOptions {
  name: string;
  keyFile: string;
  store: string;
  log: string[];
  listen: string;
}

export function witnessCommand(): Command {
  const command = new Command("witness").description("A transparency-log witness: cosigns a log's checkpoints only when each is consistent with the last (C2SP tlog-witness)");
  const name = () => new Option("--name <name>", "the witness's key name, e.g. witness.example.com/portcullis").makeOptionMandatory();
  const keyFile = () => new Option("--key-file <file>", "its Ed25519 private key (created, mode 0600, when absent)").makeOptionMandatory();
  command
    .command("serve")
    .description("Serve POST /add-checkpoint; prints the witness's verifier key and URL as JSON")
    .addOption(name())
    .addOption(keyFile())
    .requiredOption("--store <file>", "SQLite file holding the latest cosigned checkpoint of each log")
    .option("--log <origin vkey>", "a log to cosign: its origin and its verifier key (portcullis audit keys); repeatable", (value: string, previous: string[]) => [...previous, value], [])
    .option("--listen <host:port>", "where to listen", "127.0.0.1:7380")
    .action(async (options: WitnessOptions) => {
      const logs = options.log.map((entry) => {
        const [origin, ...vkeys] = entry.trim().split(/\s+/);
        if (!origin || vkeys.length === 0) throw new ConfigError(`--log "${entry}": the log's origin, a space, and its verifier key`);
        return { origin, vkeys };
      });
      const match = /^(.*):(\d+)$/.exec(options.listen);
      if (!match) throw new ConfigError(`--listen ${options.listen}: host:port`);
      const witness = await startWitness({ name: options.name, keyFile: options.keyFile, storeFile: options.store, logs, host: match[1]!.replace(/^\[|\]$/g, ""), port: Number(match[2]) });
      process.stdout.write(`${JSON.stringify({ ready: true, url: witness.url, vkey: witness.vkey })}\n`);
      const stop = () => void witness.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
  command
    .command("key")
    .description("Print the witness's verifier key (for audit.witnesses and verify --trusted-witness), creating the key when absent")
    .addOption(name())
    .addOption(keyFile())
    .action(async (options: { name: string; keyFile: string }) => {
      process.stdout.write(`${(await witnessSigner(options.name, options.keyFile)).verifierKey()}\n`);
    });
  return command;
}
