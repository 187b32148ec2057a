// `portcullis approvals list|show|approve|deny`: a client of the gateway's approvals API, so an
// approver acts with their own credential (an OIDC access token or a service-account key) and
// the gateway checks and records who decided, exactly as for the console.
import { Command, Option } from "commander";
import { request } from "undici";
import type { ApprovalView } from "../approve/index.js";
import { ConfigError, OperatorError } from "../errors.js";

interface ApiOptions {
  gateway: string;
  token?: string;
  json?: boolean;
}

class ApprovalsApiError extends OperatorError {
  constructor(message: string) {
    super(message);
    this.name = "ApprovalsApiError";
  }
}

export function approvalsCommand(): Command {
  const command = new Command("approvals").description("Decide requests held for approval, through the gateway's approvals API");
  command
    .command("list")
    .description("Approvals you may decide, and those you asked for")
    .addOption(new Option("--state <state>", "pending, approving (approved, being recorded), approved, denied, expired, used or all").default("pending"))
    .option("--limit <n>", "most to list", "50")
    .addOption(apiOptions.gateway())
    .addOption(apiOptions.token())
    .option("--json", "print JSON")
    .action(async (options: ApiOptions & { state: string; limit: string }) => {
      const answer = (await call(options, "GET", `/portcullis/approvals?state=${encodeURIComponent(options.state)}&limit=${encodeURIComponent(options.limit)}`)) as { approvals: ApprovalView[] };
      if (options.json) return print(answer);
      if (answer.approvals.length === 0) {
        process.stdout.write(`no ${options.state === "all" ? "" : `${options.state} `}approvals\n`);
        return;
      }
      for (const approval of answer.approvals) {
        process.stdout.write(
          `${approval.approval_id}  ${approval.state.padEnd(8)}  ${approval.request.method} ${approval.request.path}  by ${approval.requester.subject}  graphs ${approval.request.graphs.join(",") || "-"}  ` +
            `${approval.approvals_given}/${approval.approvals_required}  expires ${approval.expires_at}\n`,
        );
      }
    });
  command
    .command("show")
    .description("One approval: the request, its masked details, the votes and the result")
    .argument("<id>", "approval id")
    .addOption(apiOptions.gateway())
    .addOption(apiOptions.token())
    .action(async (id: string, options: ApiOptions) => print(await call(options, "GET", `/portcullis/approvals/${encodeURIComponent(id)}`)));
  command
    .command("approve")
    .description("Approve once, or for a window (the requester may repeat such requests until it ends)")
    .argument("<id>", "approval id")
    .option("--for <duration>", "approve for a window, e.g. 30m, 2h, 900s (within the rule's max_window_s)")
    .option("--reason <text>", "why (recorded)")
    .addOption(apiOptions.gateway())
    .addOption(apiOptions.token())
    .option("--json", "print JSON")
    .action(async (id: string, options: ApiOptions & { for?: string; reason?: string }) => {
      const body = { ...(options.reason ? { reason: options.reason } : {}), ...(options.for ? { window_s: seconds(options.for) } : {}) };
      report(options, (await call(options, "POST", `/portcullis/approvals/${encodeURIComponent(id)}/approve`, body)) as ApprovalView);
    });
  command
    .command("deny")
    .description("Deny, with a reason the requester is told")
    .argument("<id>", "approval id")
    .requiredOption("--reason <text>", "why (recorded and sent to the requester)")
    .addOption(apiOptions.gateway())
    .addOption(apiOptions.token())
    .option("--json", "print JSON")
    .action(async (id: string, options: ApiOptions & { reason: string }) => {
      report(options, (await call(options, "POST", `/portcullis/approvals/${encodeURIComponent(id)}/deny`, { reason: options.reason })) as ApprovalView);
    });
  return command;
}

const apiOptions = {
  gateway: () => new Option("--gateway <url>", "the gateway's base URL").env("PORTCULLIS_URL").default("http://127.0.0.1:8080"),
  token: () => new Option("--token <token>", "your credential: an OIDC access token or a service-account key (pcsk_…)").env("PORTCULLIS_TOKEN"),
};

async function call(options: ApiOptions, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  if (!options.token) throw new ConfigError("approvals: give your credential with --token or PORTCULLIS_TOKEN (an OIDC access token or a service-account key)");
  let answer;
  try {
    answer = await request(new URL(path, options.gateway), {
      method,
      headers: { authorization: `Bearer ${options.token}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    throw new ApprovalsApiError(`cannot reach the gateway at ${options.gateway}: ${(error as Error).message}`);
  }
  const text = await answer.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApprovalsApiError(`the gateway answered ${answer.statusCode} with a body that is not JSON`);
  }
  if (answer.statusCode >= 400) {
    const error = json as { error?: string; message?: string };
    throw new ApprovalsApiError(`${answer.statusCode} ${error.error ?? ""}: ${error.message ?? text}`);
  }
  return json;
}

function report(options: ApiOptions, approval: ApprovalView): void {
  if (options.json) return print(approval);
  const grant = approval.grant ? `; grant ${approval.grant.grant_id} until ${approval.grant.expires_at}` : "";
  process.stdout.write(`approval ${approval.approval_id}: ${approval.state} (${approval.approvals_given}/${approval.approvals_required} approvals)${grant}\n`);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** 30m, 2h, 900s or a bare number of seconds. */
function seconds(duration: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(duration.trim());
  if (!match) throw new ConfigError(`--for: a duration like 30m, 2h or 900s, not '${duration}'`);
  const unit = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
