// Two gateways on one real PostgreSQL, each with its own signing key, sharing one ledger schema
// and the approvals beside it, under a policy that holds agent runs for an approver: alice asks,
// bob approves. The sweep is slow, so a held request is released quickly only by a notification.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { startPostgres, type TestPostgres } from "./postgres.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "./stack.js";

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create]
  - id: agent-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers] }
`;

export const alice = { ...generateApiKey(), groups: ["analysts"] };
export const bob = { ...generateApiKey(), groups: ["approvers"] };

export interface ApprovalGateways {
  upstream: Upstream;
  postgres: TestPostgres;
  /** The ledger's (and the approvals') schema. */
  schema: string;
  gateways: [TestGateway, TestGateway];
  close(): Promise<void>;
}

export async function startApprovalGateways(): Promise<ApprovalGateways> {
  const [upstream, postgres] = await Promise.all([startLangGraph(), startPostgres()]);
  const secretEnv = `PORTCULLIS_TEST_PG_${randomBytes(4).toString("hex")}`;
  process.env[secretEnv] = postgres.url;
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-approval-gateways-"));
  await writeFile(path.join(dir, "policy.yaml"), POLICY);
  const schema = `t_${randomBytes(4).toString("hex")}`;
  const overrides = {
    policy: { file: path.join(dir, "policy.yaml"), watch: false },
    identity: {
      service_accounts: [
        { id: "alice", key_sha256: alice.sha256, groups: alice.groups },
        { id: "bob", key_sha256: bob.sha256, groups: bob.groups },
      ],
    },
    approvals: { sweep_ms: 10_000 },
  };
  const gateway = (key: string) => startTestGateway(upstream, { ...overrides, audit: { store: { kind: "postgres", url: { env: secretEnv }, schema }, signing_key_file: path.join(dir, key) } });
  const gateways: [TestGateway, TestGateway] = [await gateway("key-1.pem"), await gateway("key-2.pem")];
  return {
    upstream,
    postgres,
    schema,
    gateways,
    async close() {
      for (const one of gateways) await one.close();
      await upstream.stop();
      await postgres.stop();
      delete process.env[secretEnv];
      await rm(dir, { recursive: true, force: true });
    },
  };
}
