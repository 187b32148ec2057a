// `portcullis access-review`: access-review campaigns (ISO 27001 A.9.2.5 / A.5.18, SOC 2 CC6.2).
// `start` records a campaign in the ledger, one line per identity; `attest` and `revoke` record a
// reviewer's decision on a line, as a tool appending to the ledger like `audit hold` and
// `vault erase`; the campaign completes when no line is pending, or with `complete`.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { loadPolicyFile, DEFAULT_POLICY_FILE } from "../authorize/index.js";
import { loadConfigFile } from "../config/index.js";
import { buildAccessReview, campaignLines, DirectoryError, parseDirectoryCsv } from "../console/index.js";
import { ConfigError } from "../errors.js";
import { AccessReviewError, completeCampaign, decideLine, readCampaign, readCampaigns, startCampaign, campaignReport, MAX_LISTED, type CampaignState } from "../ledger/index.js";
import type { AccessReviewLine } from "../record/index.js";
import { openStateStores } from "../stateStores.js";
import { ledgerOptions, openToolLedger, openToolStore, operator } from "./audit.js";

export function accessReviewCommand(): Command {
  const command = new Command("access-review").description("Access-review campaigns: every identity's access, attested or revoked by a reviewer, recorded in the ledger");
  command
    .command("start")
    .description("Start a campaign: one line per identity seen (groups, rules and their last use, console roles, approver rights), and per directory identity")
    .addOption(ledgerOptions.config())
    .option("--directory <csv>", "an IdP directory export: CSV with a header subject,name,groups,active; identities never seen and identities missing from it are flagged")
    .action(async (options: { config?: string; directory?: string }) => {
      const configFile = requireConfig(options.config);
      const config = await loadConfigFile(configFile);
      const directory = options.directory ? await readDirectory(options.directory) : null;
      const policy = await loadPolicyFile(config.policy.file ?? DEFAULT_POLICY_FILE);
      const state = await openStateStores(config);
      let storedAccounts;
      try {
        storedAccounts = await state.serviceAccounts.list();
      } finally {
        await state.close();
      }
      const ledger = await openToolLedger({ config: configFile });
      try {
        const entries = buildAccessReview({
          policy,
          configAccounts: config.identity.service_accounts,
          storedAccounts,
          identities: await ledger.store.identityUsage(ledger.origin),
          usage: await ledger.store.grantUsage(ledger.origin),
          consoleRoles: config.console.roles,
          // Approver rights come from the policy; their last decision is shown by the console only.
          votes: [],
          now: Date.now(),
          ...(directory ? { directory: directory.entries } : {}),
        });
        const lines = campaignLines(entries, directory?.entries ?? null);
        const id = await startCampaign(ledger, { actor: operator(), via: "cli", lines, policy: { source: policy.source, sha256: policy.sha256 }, directory: directory?.facts ?? null });
        const flagged = lines.filter((line) => line.flags.length > 0).length;
        process.stdout.write(`Campaign ${id} started: ${lines.length} line${lines.length === 1 ? "" : "s"}${directory ? `, ${flagged} flagged against the directory` : ""}.\n`);
      } finally {
        await ledger.close();
      }
    });
  command
    .command("list")
    .description("Campaigns in the ledger, oldest first")
    .addOption(ledgerOptions.config())
    .option("--json", "print JSON")
    .action(async (options: { config?: string; json?: boolean }) => {
      const { store, origin } = await openToolStore({ config: requireConfig(options.config) });
      try {
        const reports = (await readCampaigns(store, origin)).map((c) => campaignReport(c, MAX_LISTED));
        if (options.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
        else for (const r of reports) process.stdout.write(`${r.id}  started ${r.started} by ${r.started_by}  ${r.completed ? `completed ${r.completed}` : "open"}  ${r.attested} attested, ${r.revoked} revoked, ${r.pending} pending of ${r.lines}\n`);
      } finally {
        await store.close();
      }
    });
  command
    .command("show")
    .description("One campaign's lines and decisions")
    .argument("<campaign>", "campaign id, e.g. ar-2026-12-07-1a2b3c4d")
    .addOption(ledgerOptions.config())
    .option("--json", "print JSON")
    .action(async (id: string, options: { config?: string; json?: boolean }) => {
      const { store, origin } = await openToolStore({ config: requireConfig(options.config) });
      try {
        const campaign = await readCampaign(store, origin, id);
        if (!campaign) throw new AccessReviewError("PC_CAMPAIGN_NOT_FOUND", `no access-review campaign ${id} in the ledger`);
        if (options.json) process.stdout.write(`${JSON.stringify({ ...campaignReport(campaign, MAX_LISTED), lines: linesOf(campaign) }, null, 2)}\n`);
        else process.stdout.write(describe(campaign));
      } finally {
        await store.close();
      }
    });
  for (const verdict of ["attest", "revoke"] as const) {
    const sub = command
      .command(verdict)
      .description(verdict === "attest" ? "Attest that a line's access is still needed" : "Record that a line's access must be removed (the IdP is not changed; see docs/console.md)")
      .argument("<campaign>", "campaign id")
      .argument("<subject>", "the line's identity, e.g. oidc:corp:alice or sa:ci-bot")
      .addOption(ledgerOptions.config());
    if (verdict === "revoke") sub.requiredOption("--reason <text>", "why the access goes").option("--revoke-key", "for a service account made with `portcullis service-accounts create`: also revoke its key");
    else sub.option("--reason <text>", "optional note");
    sub.action(async (id: string, subject: string, options: { config?: string; reason?: string; revokeKey?: boolean }) => {
      const configFile = requireConfig(options.config);
      const ledger = await openToolLedger({ config: configFile });
      try {
        const actor = operator();
        const result = await decideLine(ledger, {
          campaign: id,
          subject,
          verdict: verdict === "attest" ? "attested" : "revoked",
          actor,
          via: "cli",
          reason: options.reason ?? null,
          ...(options.revokeKey ? { revokeKey: (line: AccessReviewLine) => revokeStoredKey(configFile, line, actor) } : {}),
        });
        process.stdout.write(`${subject}: ${verdict === "attest" ? "attested" : "revoked"} in ${id}${result.keyRevoked ? "; its service-account key is revoked" : ""}.\n`);
        if (result.completed) process.stdout.write(`Campaign ${id} completed: no line is pending.\n`);
      } finally {
        await ledger.close();
      }
    });
  }
  command
    .command("complete")
    .description("Close a campaign; lines still pending are reported as its exceptions")
    .argument("<campaign>", "campaign id")
    .addOption(ledgerOptions.config())
    .action(async (id: string, options: { config?: string }) => {
      const ledger = await openToolLedger({ config: requireConfig(options.config) });
      try {
        const campaign = await readCampaign(ledger.store, ledger.origin, id);
        if (!campaign) throw new AccessReviewError("PC_CAMPAIGN_NOT_FOUND", `no access-review campaign ${id} in the ledger`);
        await completeCampaign(ledger, campaign, operator(), "cli");
        const report = campaignReport(campaign, MAX_LISTED);
        process.stdout.write(`Campaign ${id} completed: ${report.attested} attested, ${report.revoked} revoked, ${report.pending} pending.\n`);
      } finally {
        await ledger.close();
      }
    });
  return command;
}

function requireConfig(config: string | undefined): string {
  if (!config) throw new ConfigError("say which gateway: --config <file> (or PORTCULLIS_CONFIG)");
  return config;
}

async function readDirectory(file: string) {
  const body = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`--directory ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  try {
    const entries = parseDirectoryCsv(body.toString("utf8"));
    return { entries, facts: { file: path.basename(file), sha256: createHash("sha256").update(body).digest("hex"), identities: entries.length } };
  } catch (error) {
    if (error instanceof DirectoryError) throw new ConfigError(`--directory ${file}: ${error.message}`);
    throw error;
  }
}

/** Only keys the CLI made (the state store) can be revoked here; config-file keys are removed from the config. */
async function revokeStoredKey(configFile: string, line: AccessReviewLine, actor: string): Promise<boolean> {
  if (line.kind !== "service-account" || line.source !== "cli") throw new ConfigError(`--revoke-key: ${line.subject} is not a service account made with \`portcullis service-accounts create\`${line.source === "config" ? "; remove its entry from identity.service_accounts in the config" : ""}`);
  const state = await openStateStores(await loadConfigFile(configFile));
  try {
    return await state.serviceAccounts.revoke(line.subject.slice("sa:".length), actor);
  } finally {
    await state.close();
  }
}

function linesOf(campaign: CampaignState) {
  return [...campaign.lines.values()].map(({ line, decision }) => ({ ...line, decision }));
}

function describe(campaign: CampaignState): string {
  const report = campaignReport(campaign, MAX_LISTED);
  const out = [
    `Campaign ${campaign.id}: started ${report.started} by ${report.started_by}; ${report.completed ? `completed ${report.completed} by ${report.completed_by}` : "open"}`,
    `${report.attested} attested, ${report.revoked} revoked, ${report.pending} pending of ${report.lines}${report.listing_complete ? "" : " (INCOMPLETE: fewer lines recorded than announced)"}`,
  ];
  for (const { line, decision } of campaign.lines.values()) {
    const state = decision ? `${decision.verdict} by ${decision.by}${decision.reason ? `: ${decision.reason}` : ""}` : "pending";
    out.push(`  ${line.subject.padEnd(32)} ${line.kind.padEnd(15)} ${(line.groups.join(" ") || "-").padEnd(24)} last used ${line.last_used ?? "never"}  ${line.flags.join(",")}  ${state}`);
  }
  return `${out.join("\n")}\n`;
}
