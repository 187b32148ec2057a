// `portcullis service-accounts create|list|revoke`: accounts kept in the gateway's state store
// (storage: the SQLite state file, or PostgreSQL shared by several gateways), so they can be made
// and revoked without editing the config file or restarting any gateway.
import { userInfo } from "node:os";
import { Command, Option } from "commander";
import { loadConfigFile } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { generateApiKey, keyExpiry } from "../identify/index.js";
import { openStateFile, openStateStores, sqliteStores, type StateStores } from "../stateStores.js";
import { ServiceAccountExists, type NewServiceAccount, type ServiceAccountStore, type StoredServiceAccount } from "../storage/index.js";

const ACCOUNT_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function serviceAccountsCommand(): Command {
  const command = new Command("service-accounts").description("Service accounts kept in the state database (API keys stored only as hashes)");
  command
    .command("create")
    .description("Create an account and print its API key once")
    .requiredOption("--id <id>", "account id, e.g. ci-bot")
    .option("--owner <owner>", "person or team responsible")
    .option("--groups <groups>", "comma-separated groups", "")
    .option("--expires-at <iso>", "expiry instant, e.g. 2027-01-01T00:00:00Z")
    .option("--expires-in-days <days>", "expiry as a number of days from now")
    .addOption(stateOptions.config())
    .addOption(stateOptions.database())
    .action(async (options: StateOptions & { id: string; owner?: string; groups: string; expiresAt?: string; expiresInDays?: string }) => {
      if (!ACCOUNT_ID.test(options.id)) throw new ConfigError("--id: lowercase letters, digits, '.', '_' or '-', at most 63");
      const expiresAt = expiryFrom(options);
      if (options.config && (await loadConfigFile(options.config)).identity.service_accounts.some((account) => account.id === options.id)) {
        throw new ConfigError(`service account '${options.id}' is already defined in ${options.config}; ids must be unique`);
      }
      const { key, sha256 } = generateApiKey();
      const account = await withStore(options, (store) => createOrExplain(store, {
        id: options.id,
        key_sha256: sha256,
        groups: options.groups.split(",").map((group) => group.trim()).filter(Boolean),
        created_by: operator(),
        ...(options.owner ? { owner: options.owner } : {}),
        ...(expiresAt ? { expires_at: expiresAt } : {}),
      }));
      process.stdout.write(
        `Service account '${account.id}' created${account.expires_at ? `, expires ${account.expires_at}` : ""}.\n` +
          `API key (shown once; only its hash is stored):\n  ${key}\n`,
      );
    });
  command
    .command("list")
    .description("List accounts with their status and when each was last used")
    .option("--json", "print JSON")
    .addOption(stateOptions.config())
    .addOption(stateOptions.database())
    .action(async (options: StateOptions & { json?: boolean }) => {
      const accounts = await withStore(options, (store) => store.list());
      if (options.json) {
        process.stdout.write(`${JSON.stringify(accounts.map(({ key_sha256: _hash, ...account }) => ({ ...account, status: status(account) })), null, 2)}\n`);
        return;
      }
      process.stdout.write(table(accounts));
    });
  command
    .command("revoke")
    .description("Revoke an account's key; the gateway refuses it from the next request")
    .requiredOption("--id <id>", "account id")
    .addOption(stateOptions.config())
    .addOption(stateOptions.database())
    .action(async (options: StateOptions & { id: string }) => {
      await withStore(options, async (store) => {
        const account = await store.get(options.id);
        if (!account) throw new ConfigError(`no service account '${options.id}' in the state database`);
        if (!(await store.revoke(options.id, operator()))) throw new ConfigError(`service account '${options.id}' was already revoked at ${account.revoked_at}`);
      });
      process.stdout.write(`Service account '${options.id}' revoked.\n`);
    });
  return command;
}

interface StateOptions {
  config?: string;
  stateDb?: string;
}

const stateOptions = {
  config: () => new Option("-c, --config <file>", "configuration file; its storage (SQLite file or PostgreSQL) is used").env("PORTCULLIS_CONFIG"),
  database: () => new Option("--state-db <file>", "SQLite state database file, instead of the config's storage"),
};

async function createOrExplain(store: ServiceAccountStore, account: NewServiceAccount): Promise<StoredServiceAccount> {
  try {
    return await store.create(account);
  } catch (error) {
    if (error instanceof ServiceAccountExists) throw new ConfigError(error.message);
    throw error;
  }
}

/** Runs `work` on the chosen store and closes it afterwards. */
async function withStore<T>(options: StateOptions, work: (store: ServiceAccountStore) => Promise<T>): Promise<T> {
  let stores: StateStores;
  if (options.stateDb) stores = sqliteStores(openStateFile(options.stateDb));
  else if (options.config) stores = await openStateStores(await loadConfigFile(options.config));
  else throw new ConfigError("say which state store to use: --config <file> (or PORTCULLIS_CONFIG) or --state-db <file>");
  try {
    return await work(stores.serviceAccounts);
  } finally {
    await stores.close();
  }
}

function expiryFrom(options: { expiresAt?: string; expiresInDays?: string }): string | undefined {
  if (options.expiresAt && options.expiresInDays) throw new ConfigError("give --expires-at or --expires-in-days, not both");
  if (options.expiresInDays) {
    const days = Number(options.expiresInDays);
    if (!Number.isInteger(days) || days <= 0) throw new ConfigError("--expires-in-days: a whole number of days, at least 1");
    return new Date(Date.now() + days * 86_400_000).toISOString();
  }
  return options.expiresAt ? keyExpiry(options.expiresAt) : undefined;
}

function status(account: Omit<StoredServiceAccount, "key_sha256">): "active" | "revoked" | "expired" {
  if (account.revoked_at) return "revoked";
  if (account.expires_at && Date.parse(account.expires_at) <= Date.now()) return "expired";
  return "active";
}

function table(accounts: StoredServiceAccount[]): string {
  if (accounts.length === 0) return "No service accounts in the state database.\n";
  const rows = [
    ["ID", "STATUS", "OWNER", "GROUPS", "CREATED", "EXPIRES", "LAST USED"],
    ...accounts.map((a) => [a.id, status(a), a.owner ?? "-", a.groups.join(",") || "-", a.created_at, a.expires_at ?? "never", a.last_used_at ?? "never"]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n") + "\n";
}

// Who ran the command, for the account's created_by / revoked_by.
function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}
