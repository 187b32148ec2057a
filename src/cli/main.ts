// The `portcullis` command line.
import { Command, Option } from "commander";
import { stringify as toYaml } from "yaml";
import { packageVersion } from "../packageFiles.js";
import { ConfigError, OperatorError } from "../errors.js";

const program = new Command()
  .name("portcullis")
  .description("Compliance gateway for LangGraph: the only path to your LangGraph server, with identity, policy and an audit record of every request.")
  .version(packageVersion(), "-V, --version", "print the version");

program
  .command("start")
  .description("Run the gateway from a configuration file")
  .addOption(new Option("-c, --config <file>", "configuration file (YAML)").env("PORTCULLIS_CONFIG").makeOptionMandatory())
  .action(async (options: { config: string }) => {
    const { loadConfigFile } = await import("../config/index.js");
    const { checkStartPrerequisites } = await import("./prerequisites.js");
    const config = await loadConfigFile(options.config);
    await checkStartPrerequisites(config);
    const { startGateway } = await import("../gateway.js");
    const gateway = await startGateway(config);
    stopOnSignals(() => gateway.close());
  });

// The demo's LangGraph server, graphs and development IdP are development dependencies: the
// installed package is the gateway alone.
program
  .command("demo")
  .description("The demo runs from a clone of the repository: npm install && npm start")
  .allowUnknownOption()
  .action(() => {
    throw new ConfigError("the demo is not part of the installed package. From a clone of the repository, run `npm install && npm start`; to run the gateway, `portcullis start --config portcullis.yaml`.");
  });

// Command groups are loaded when they are run, so that `portcullis --help` and `start` do not
// load the code of every other command (SAML, SMTP, PostgreSQL clients, the ledger verifier).
const commandGroups: Record<string, { description: string; load: () => Promise<Command> }> = {
  "service-accounts": { description: "Service accounts kept in the state database (API keys stored only as hashes)", load: async () => (await import("./serviceAccounts.js")).serviceAccountsCommand() },
  policy: { description: "Policy tools: validate, explain a decision, run policy test cases", load: async () => (await import("./policy.js")).policyCommand() },
  verify: { description: "Check the live ledger: every leaf, every checkpoint, consistency between checkpoints, the tail", load: async () => (await import("./audit.js")).verifyCommand() },
  export: { description: "Write an evidence bundle an auditor verifies offline", load: async () => (await import("./audit.js")).exportCommand() },
  audit: { description: "Ledger housekeeping: legal holds, payload retention, signing-key rotation", load: async () => (await import("./audit.js")).auditCommand() },
  approvals: { description: "Decide requests held for approval, through the gateway's approvals API", load: async () => (await import("./approvals.js")).approvalsCommand() },
  sessions: { description: "List recorded sessions, newest first, from the ledger's session index", load: async () => (await import("./replay.js")).sessionsCommand() },
  replay: { description: "Replay a recorded session's stream, or re-run it and compare execution paths", load: async () => (await import("./replay.js")).replayCommand() },
  vault: { description: "The token vault: erase a subject's originals (GDPR), recorded in the ledger", load: async () => (await import("./vault.js")).vaultCommand() },
  "access-review": { description: "Access-review campaigns: reviewers attest or revoke each identity's access, recorded in the ledger", load: async () => (await import("./accessReview.js")).accessReviewCommand() },
  witness: { description: "A transparency-log witness that cosigns consistent checkpoints (C2SP tlog-witness)", load: async () => (await import("./witness.js")).witnessCommand() },
};
const invoked = process.argv[2];
for (const [name, group] of Object.entries(commandGroups)) {
  if (name === invoked) program.addCommand(await group.load());
  else program.command(name).description(group.description);
}

const keys = program.command("keys").description("Service-account API keys kept in the config file");
keys
  .command("create")
  .description("Create a key; prints it once, with the config entry that stores only its hash")
  .requiredOption("--id <id>", "service account id, e.g. ci-bot")
  .option("--owner <owner>", "person or team responsible")
  .option("--groups <groups>", "comma-separated groups", "")
  .option("--expires-at <iso>", "expiry instant, e.g. 2027-01-01T00:00:00Z")
  .action(async (options: { id: string; owner?: string; groups: string; expiresAt?: string }) => {
    // Loaded here: the identify stage's index brings sign-in and policy code --help does not need.
    const { generateApiKey, keyExpiry } = await import("../identify/index.js");
    const expiresAt = options.expiresAt === undefined ? undefined : keyExpiry(options.expiresAt);
    const { key, sha256 } = generateApiKey();
    const entry = {
      id: options.id,
      key_sha256: sha256,
      ...(options.owner ? { owner: options.owner } : {}),
      groups: options.groups.split(",").map((g) => g.trim()).filter(Boolean),
      ...(expiresAt ? { expires_at: expiresAt } : {}),
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
    const { loadConfigFile } = await import("../config/index.js");
    const { checkStartPrerequisites } = await import("./prerequisites.js");
    const config = await loadConfigFile(options.config);
    const checked = await checkStartPrerequisites(config);
    process.stdout.write(`${options.config} is valid; checked: ${checked.join(", ")}\n`);
  });
config
  .command("schema")
  .description("Print the configuration's JSON Schema")
  .action(async () => {
    const { configJsonSchema } = await import("../config/index.js");
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
  const known = error instanceof OperatorError;
  const message = known ? (error as Error).message : (error as Error).stack ?? String(error);
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(known ? 2 : 1);
}
