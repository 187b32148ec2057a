// `portcullis vault`: the originals behind reversible tokens (src/mask/vault.ts). Erasure per
// subject answers a GDPR Art. 17 request: the subject's originals are deleted from the vault, so
// their tokens are never restored again, and the erasure is a ledger record.
import { Command } from "commander";
import { loadConfigFile, readSecret, type PortcullisConfig } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { PostgresVaultStore, SqliteVaultStore, type VaultStore } from "../mask/index.js";
import { openStateFile } from "../stateStores.js";
import { storageTarget } from "../storage/index.js";
import { ledgerOptions, openToolLedger, operator } from "./audit.js";
import { ledgerEventRecord } from "../record/index.js";

export function vaultCommand(): Command {
  const command = new Command("vault").description("The token vault: originals of values LangGraph received as tokens");
  command
    .command("erase")
    .description("Delete every original a subject sent (their tokens are no longer restored); recorded in the ledger")
    .requiredOption("--subject <subject>", "identity whose values are erased, e.g. oidc:corp:alice")
    .addOption(ledgerOptions.config())
    .action(async (options: { subject: string; config?: string }) => {
      if (!options.config) throw new ConfigError("say which gateway: --config <file> (or PORTCULLIS_CONFIG)");
      const config = await loadConfigFile(options.config);
      const store = await openVaultStore(config);
      let erased: number;
      try {
        erased = await store.eraseSubject(options.subject);
      } finally {
        await store.close();
      }
      const ledger = await openToolLedger({ config: options.config });
      try {
        await ledger.append(ledgerEventRecord("vault.erased", operator(), { subject: options.subject, erased }));
      } finally {
        await ledger.close();
      }
      process.stdout.write(`Erased ${erased} value${erased === 1 ? "" : "s"} of ${options.subject} from the vault.\n`);
    });
  return command;
}

async function openVaultStore(config: PortcullisConfig): Promise<VaultStore> {
  const target = storageTarget(config);
  if (target.kind === "postgres") return PostgresVaultStore.open({ url: await readSecret(target.url, target.urlField), schema: target.schema });
  return new SqliteVaultStore(openStateFile(target.file), true);
}
