// The `portcullis` command line.
import { Command, Option } from "commander";
import { stringify as toYaml } from "yaml";
import { loadConfigFile } from "../config/load.js";
import { configJsonSchema } from "../config/schema.js";
import { ConfigError, PolicyError } from "../errors.js";
import { startGateway } from "../gateway.js";
import { generateApiKey } from "../identify/serviceAccounts.js";
import { approvalsCommand } from "./approvals.js";
import { auditCommand, exportCommand, verifyCommand } from "./audit.js";
import { policyCommand } from "./policy.js";
import { replayCommand, sessionsCommand } from "./replay.js";
import { serviceAccountsCommand } from "./serviceAccounts.js";

const program = new Command()
  .name("portcullis")
  .description("Compliance gateway for LangGraph: the only path to your LangGraph server, with identity, policy and an audit record of every request.");

program
  .command("start")
  .description("Run the gateway from a configuration file")
  .addOption(new Option("-c, --config <file>", "configuration file (YAML)").env("PORTCULLIS_CONFIG").makeOptionMandatory())
  .action(async (options: { config: string }) => {
    const config = await loadConfigFile(options.config);
    const gateway = await startGateway(config);
    stopOnSignals(() => gateway.close());
  });

program
  .command("demo")
  .description("Run the gateway in front of the bundled demo LangGraph server, with a demo key")
  .addOption(new Option("-p, --port <port>", "gateway port (a free one is chosen if it is taken)").env("PORTCULLIS_PORT").default("8080"))
  .addOption(new Option("--data-dir <dir>", "where the demo keeps its audit file and LangGraph data").default(".portcullis/demo"))
  .action(async (options: { port: string; dataDir: string }) => {
    // Loaded on demand: the demo pulls in the development IdP, which other commands do not need.
    const { runDemo } = await import("./demo.js");
    const demo = await runDemo({ port: Number(options.port), dataDir: options.dataDir });
    stopOnSignals(() => demo.stop());
  });

program.addCommand(serviceAccountsCommand());
program.addCommand(policyCommand());
program.addCommand(verifyCommand());
program.addCommand(exportCommand());
program.addCommand(auditCommand());
program.addCommand(approvalsCommand());
program.addCommand(sessionsCommand());
program.addCommand(replayCommand());

const keys = program.command("keys").description("Service-account API keys kept in the config file");
keys
  .command("create")
  .description("Create a key; prints it once, with the config entry that stores only its hash")
  .requiredOption("--id <id>", "service account id, e.g. ci-bot")
  .option("--owner <owner>", "person or team responsible")
  .option("--groups <groups>", "comma-separated groups", "")
  .option("--expires-at <iso>", "expiry instant, e.g. 2027-01-01T00:00:00Z")
  .action((options: { id: string; owner?: string; groups: string; expiresAt?: string }) => {
    const { key, sha256 } = generateApiKey();
    const entry = {
      id: options.id,
      key_sha256: sha256,
      ...(options.owner ? { owner: options.owner } : {}),
      groups: options.groups.split(",").map((g) => g.trim()).filter(Boolean),
      ...(options.expiresAt ? { expires_at: options.expiresAt } : {}),
    };
    process.stdout.write(
      `API key (shown once; give it to the client, do not store it in the config):\n  ${key}\n\n` +
        `Add to identity.service_accounts in your config:\n${toYaml([entry]).replace(/^/gm, "  ")}`,
    );
  });

const config = program.command("config").description("Configuration file tools");
config
  .command("check")
  .description("Validate a configuration file")
  .addOption(new Option("-c, --config <file>", "configuration file (YAML)").env("PORTCULLIS_CONFIG").makeOptionMandatory())
  .action(async (options: { config: string }) => {
    await loadConfigFile(options.config);
    process.stdout.write(`${options.config} is valid\n`);
  });
config
  .command("schema")
  .description("Print the configuration's JSON Schema")
  .action(() => {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  });

function stopOnSignals(stop: () => Promise<void>): void {
  const onSignal = () => {
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`portcullis: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const known = error instanceof ConfigError || error instanceof PolicyError || (error instanceof Error && ["ExportError", "LedgerStoreError", "LedgerIntegrityError", "ApprovalsApiError", "SessionNotFoundError"].includes(error.name));
  const message = known ? (error as Error).message : (error as Error).stack ?? String(error);
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(known ? 2 : 1);
}
