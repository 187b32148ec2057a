// Secrets the gateway holds (upstream and egress credentials, IdP client secrets, the ledger's
// database URL) are never written in the config file: the file names a source, and a provider
// reads it. Adding a secret store (Vault, a cloud secret manager) means adding a provider here
// and a variant to secretSource.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ConfigError } from "../errors.js";

export const secretSource = z
  .union([
    z.strictObject({ env: z.string().min(1).describe("Name of an environment variable holding the secret") }),
    z.strictObject({ file: z.string().min(1).describe("Path of a file holding the secret (trailing newline ignored)") }),
  ])
  .describe("Where a secret is read from. Secrets are never written in the config file itself.");

export type SecretSource = z.output<typeof secretSource>;

/** Reads one kind of secret source. `what` names the config field in errors; a provider never
 * puts the secret itself in an error. */
interface SecretProvider<S extends SecretSource = SecretSource> {
  handles(source: SecretSource): source is S;
  read(source: S, what: string): Promise<string>;
}

const environmentVariable: SecretProvider<{ env: string }> = {
  handles: (source): source is { env: string } => "env" in source,
  async read(source, what) {
    // A trailing newline (a Secret written with `echo`) is dropped, as for files.
    const value = process.env[source.env]?.replace(/\r?\n$/, "");
    if (!value) throw new ConfigError(`${what}: environment variable ${source.env} is not set`);
    return value;
  },
};

const file: SecretProvider<{ file: string }> = {
  handles: (source): source is { file: string } => "file" in source,
  async read(source, what) {
    let value: string;
    try {
      value = (await readFile(source.file, "utf8")).replace(/\r?\n$/, "");
    } catch (error) {
      throw new ConfigError(`${what}: cannot read ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (!value) throw new ConfigError(`${what}: file ${source.file} is empty`);
    return value;
  },
};

const PROVIDERS: SecretProvider[] = [environmentVariable as SecretProvider, file as SecretProvider];

function providerFor(source: SecretSource): SecretProvider {
  const provider = PROVIDERS.find((candidate) => candidate.handles(source));
  if (!provider) throw new ConfigError(`no secret provider reads ${JSON.stringify(Object.keys(source))}`);
  return provider;
}

export function readSecret(source: SecretSource, what: string): Promise<string> {
  return providerFor(source).read(source, what);
}
