// What `portcullis start` needs before it opens anything, checked by `config check` and again by
// `start` before any file is created: the policy loads, every secret can be read (secret files
// not writable or readable by others), the listener's certificate loads, every file the gateway
// writes can be created, and a PostgreSQL store answers. A problem is a ConfigError naming the
// field, so the operator learns it from `config check`, not from a half-started gateway.
import { constants, existsSync, statSync } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { DEFAULT_POLICY_FILE, loadPolicyFile } from "../authorize/index.js";
import { TRACING_PACKAGES } from "../observe/index.js";
import { loadListenerCertificate } from "../receive/index.js";
import { storageTarget } from "../storage/index.js";
import { readSecret, type SecretSource, type PortcullisConfig } from "../config/index.js";

/** Config fields whose value is a secret source ({ env } or { file }). */
const SECRET_FIELDS = new Set(["client_secret", "secret", "signing_key", "url", "webhook_url", "password", "key"]);
const STORE_TIMEOUT_MS = 5_000;

/** Checks everything; returns what was checked, for `config check` to print. */
export async function checkStartPrerequisites(config: PortcullisConfig): Promise<string[]> {
  const checked: string[] = [];
  const policyFile = config.policy.file ?? DEFAULT_POLICY_FILE;
  await loadPolicyFile(policyFile);
  checked.push(`policy ${config.policy.file ?? "(built-in default)"}`);

  const secrets = secretSources(config);
  for (const { field, source } of secrets) {
    if ("file" in source) assertPrivateFile(source.file, field);
    await readSecret(source, field);
  }
  checked.push(`${secrets.length} secret${secrets.length === 1 ? "" : "s"} readable`);

  if (config.listen.tls) {
    assertPrivateFile(config.listen.tls.key_file, "listen.tls.key_file");
    loadListenerCertificate(config.listen.tls);
    checked.push("TLS certificate and key");
  }

  const keyFiles: Array<[string, string | undefined]> = [
    ["audit.signing_key_file", config.audit.signing_key_file],
    ["masking.pseudonym_key_file", config.masking.pseudonym_key_file],
  ];
  for (const [field, file] of keyFiles) if (file && existsSync(file)) assertPrivateFile(file, field);

  const written: Array<[string, string | undefined]> = [
    ["storage.sqlite_file", config.storage.sqlite_file],
    ["audit.store.file", config.audit.store.kind === "sqlite" ? config.audit.store.file : undefined],
    ["audit.stream.file", config.audit.stream && config.audit.stream.file !== "-" ? config.audit.stream.file : undefined],
  ];
  for (const [field, file] of written) if (file) await assertWritable(file, field);
  // Keys are created on the first start and only read after that, so an existing key may be
  // mounted read-only (a Kubernetes Secret).
  for (const [field, file] of keyFiles) if (file && !existsSync(file)) await assertWritable(file, field);
  checked.push("data files writable");

  if (config.observability.tracing.enabled) {
    const missing = TRACING_PACKAGES.filter((name) => {
      try {
        import.meta.resolve(name);
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) throw new ConfigError(`observability.tracing is enabled, but these OpenTelemetry packages are not installed: ${missing.join(", ")} (npm install ${TRACING_PACKAGES.join(" ")})`);
    checked.push("OpenTelemetry packages");
  }

  if (config.audit.store.kind === "postgres") {
    await assertPostgresAnswers(await readSecret(config.audit.store.url, "audit.store.url"));
    checked.push("PostgreSQL store reachable");
  }
  // storage.kind: postgres without a URL of its own (and no PostgreSQL ledger) is refused here.
  const state = storageTarget(config);
  if (state.kind === "postgres" && state.urlField === "storage.url") {
    await assertPostgresAnswers(await readSecret(state.url, "storage.url"), "storage.url");
    checked.push("PostgreSQL state store reachable");
  }
  return checked;
}

function secretSources(config: PortcullisConfig): Array<{ field: string; source: SecretSource }> {
  const found: Array<{ field: string; source: SecretSource }> = [];
  const visit = (value: unknown, field: string, key: string) => {
    if (typeof value !== "object" || value === null) return;
    if (Array.isArray(value)) return value.forEach((item, i) => visit(item, `${field}[${i}]`, key));
    const entries = Object.entries(value);
    const single = entries.length === 1 ? entries[0]! : undefined;
    if (SECRET_FIELDS.has(key) && single && (single[0] === "env" || single[0] === "file") && typeof single[1] === "string") {
      found.push({ field, source: value as SecretSource });
      return;
    }
    for (const [name, child] of entries) visit(child, field ? `${field}.${name}` : name, name);
  };
  visit(config, "", "");
  return found;
}

/** A secret or key file must not be writable by anyone else nor readable by every user. */
function assertPrivateFile(file: string, field: string): void {
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats) throw new ConfigError(`${field}: ${file} does not exist`);
  if ((stats.mode & 0o022) !== 0 || (stats.mode & 0o004) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
    throw new ConfigError(`${field}: ${file} has mode ${mode}, which lets other users read or change it; run chmod 600 ${file} (or 640 for a group the gateway runs in)`);
  }
}

/** The file can be written, or created in the nearest existing folder above it. */
async function assertWritable(file: string, field: string): Promise<void> {
  let target = path.resolve(file);
  if (!existsSync(target)) {
    do target = path.dirname(target);
    while (!existsSync(target) && path.dirname(target) !== target);
  }
  try {
    await access(target, constants.W_OK);
  } catch {
    throw new ConfigError(`${field}: ${file} cannot be ${target === path.resolve(file) ? "written" : `created (${target} is not writable)`}`);
  }
}

async function assertPostgresAnswers(url: string, field = "audit.store.url"): Promise<void> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: STORE_TIMEOUT_MS, query_timeout: STORE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new ConfigError(`${field}: PostgreSQL does not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
