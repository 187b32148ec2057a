// The route table and the risk of each operation, including the approval-bypass sequences of
// langgraph-api.md §8, which must be told apart from ordinary runs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { classifyOperation, matchRoute } from "../../src/classify/index.js";
import { ROUTES } from "../../src/classify/routes.js";
import { GatewayError } from "../../src/errors.js";
import { parseRequestTarget } from "../../src/receive/target.js";

function classify(method: string, url: string, body?: unknown) {
  const target = parseRequestTarget(url);
  return classifyOperation(matchRoute(method, target), target, body);
}

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof GatewayError, `expected a GatewayError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a refusal");
}

const TID = "01a200ec-78e1-727d-931b-2889c2c332a9";
const RID = "01a200ec-7976-76eb-a512-c64cae77c90e";

describe("route table", () => {
  const cases: Array<[string, string, string, string, string]> = [
    ["GET", "/info", "server.info", "read", "server:read"],
    ["POST", "/assistants/search", "assistants.search", "read", "assistants:read"],
    ["GET", "/assistants/agent/graph?xray=true", "assistants.graph", "read", "assistants:read"],
    ["PATCH", "/assistants/agent", "assistants.update", "write", "assistants:update"],
    ["POST", "/threads/search", "threads.search", "read", "threads:read"],
    ["GET", `/threads/${TID}`, "threads.get", "read", "threads:read"],
    ["POST", `/threads/${TID}/copy`, "threads.copy", "steer-state", "threads:copy"],
    ["POST", `/threads/${TID}/state`, "state.update", "steer-state", "state:write"],
    ["GET", `/threads/${TID}/state/dddddddd-dddd-4ddd-8ddd-dddddddddddd`, "state.get", "read", "state:read"],
    ["POST", `/threads/${TID}/history`, "state.history", "read", "state:read"],
    ["GET", `/threads/${TID}/runs/${RID}/join`, "runs.join", "read", "runs:read"],
    ["POST", "/ui/agent", "ui.components", "read", "assistants:read"],
    ["GET", "/ui/agent/entrypoint.js", "ui.asset", "read", "assistants:read"],
    ["GET", `/threads/${TID}/runs/${RID}/stream`, "runs.join_stream", "read", "runs:read"],
    ["POST", `/threads/${TID}/runs/${RID}/cancel?wait=1`, "runs.cancel", "write", "runs:cancel"],
    ["GET", `/runs/${RID}/stream`, "runs.join_stream", "read", "runs:read"],
    ["POST", "/runs/crons/search", "crons.search", "read", "crons:read"],
    ["DELETE", "/runs/crons/cccccccc-cccc-4ccc-8ccc-cccccccccccc", "crons.delete", "write", "crons:delete"],
    ["PUT", "/store/items", "store.put", "write", "store:put"],
    ["POST", "/store/namespaces", "store.list_namespaces", "read", "store:read"],
    ["POST", `/threads/${TID}/stream/events`, "protocol.events", "read", "threads:read"],
  ];
  for (const [method, url, route, risk, action] of cases) {
    test(`${method} ${url} is ${route} (${risk}, ${action})`, () => {
      const body = method === "GET" || method === "DELETE" ? undefined : method === "PUT" ? { namespace: ["a"], key: "k", value: {} } : {};
      const operation = classify(method, url, body);
      assert.equal(operation.route, route);
      assert.equal(operation.risk, risk);
      assert.equal(operation.action, action);
    });
  }

  test("a UI route names its graph, and the graph's system assistant for graph-scoped rules", () => {
    const operation = classify("GET", "/ui/echo/entrypoint.css");
    assert.equal(operation.ids.graph_id, "echo");
    assert.equal(operation.ids.assistant_id, "echo");
    assert.equal(operation.resource, "ui");
    assert.equal(refusal(() => classify("PUT", "/ui/echo")).status, 405);
  });

  test("captures ids from the path", () => {
    const operation = classify("GET", `/threads/${TID}/runs/${RID}/stream`);
    assert.deepEqual(operation.ids, { thread_id: TID, run_id: RID });
  });

  test("literal segments win over ids: /threads/search is not a thread called 'search'", () => {
    assert.equal(classify("POST", "/threads/search", {}).route, "threads.search");
    assert.equal(classify("POST", "/runs/batch", []).route, "runs.batch");
    assert.equal(classify("POST", "/runs/crons", { assistant_id: "agent" }).route, "crons.create");
  });

  test("every route has a unique method and pattern", () => {
    const keys = ROUTES.map((r) => `${r.method} ${r.pattern}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  test("refuses /internal/* with 403 and unknown routes with 404", () => {
    assert.equal(refusal(() => classify("POST", "/internal/truncate", {})).status, 403);
    assert.equal(refusal(() => classify("GET", "/openapi.json")).status, 404);
    const wrongMethod = refusal(() => classify("GET", "/threads"));
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.code, "PC_METHOD_NOT_ALLOWED");
    assert.deepEqual(wrongMethod.allow, ["POST"]);
  });
});

describe("run bodies", () => {
  test("an ordinary run is execute, with its assistant and on_disconnect", () => {
    const operation = classify("POST", `/threads/${TID}/runs/stream`, { assistant_id: "agent", input: {}, on_disconnect: "cancel" });
    assert.equal(operation.risk, "execute");
    assert.deepEqual(operation.assistant_ids, ["agent"]);
    assert.equal(operation.on_disconnect, "cancel");
    assert.equal(operation.response, "sse");
  });

  test("bypass 2: command.update with command.goto is steer-state", () => {
    const operation = classify("POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", command: { update: { decision: "yes" }, goto: "execute" } });
    assert.equal(operation.risk, "steer-state");
    assert.equal(operation.action, "state:write");
    assert.deepEqual(operation.risk_reasons, ["command.update", "command.goto"]);
  });

  test("bypass 3: a thread created with supersteps is steer-state", () => {
    const operation = classify("POST", "/threads", { supersteps: [{ updates: [{ values: { decision: "yes" }, as_node: "approve" }] }] });
    assert.equal(operation.risk, "steer-state");
  });

  test("bypass 1: a state write is steer-state and the following input:null run is flagged", () => {
    assert.equal(classify("POST", `/threads/${TID}/state`, { values: { decision: "yes" }, as_node: "approve" }).risk, "steer-state");
    assert.ok(classify("POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", input: null }).risk_reasons.includes("input:null"));
  });

  test("a run from an old checkpoint is steer-state, however the checkpoint is named", () => {
    assert.equal(classify("POST", `/threads/${TID}/runs`, { assistant_id: "hitl", checkpoint_id: "c-1" }).risk, "steer-state");
    assert.equal(classify("POST", `/threads/${TID}/runs`, { assistant_id: "hitl", checkpoint: { checkpoint_id: "c-1" } }).risk, "steer-state");
    for (const key of ["checkpoint_id", "checkpoint_ns", "checkpoint_map"]) {
      const body = { assistant_id: "hitl", config: { configurable: { [key]: "c-1" } } };
      assert.equal(classify("POST", `/threads/${TID}/runs/stream`, body).risk, "steer-state", key);
    }
  });

  test("run-creating operations are marked, including steering ones", () => {
    assert.equal(classify("POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", command: { goto: "x" } }).creates_run, true);
    assert.equal(classify("POST", `/threads/${TID}/state`, { values: {} }).creates_run, false);
  });

  test("destructive query flags are recorded as risk reasons", () => {
    assert.deepEqual(classify("DELETE", "/assistants/a-1?delete_threads=true").risk_reasons, ["delete_threads"]);
    assert.deepEqual(classify("POST", `/threads/${TID}/runs/${RID}/cancel?action=rollback`, {}).risk_reasons, ["rollback"]);
  });

  test("a resume stays execute but is marked, and a webhook is marked", () => {
    const operation = classify("POST", `/threads/${TID}/runs`, { assistant_id: "hitl", command: { resume: "yes" }, webhook: "https://x" });
    assert.equal(operation.risk, "execute");
    assert.deepEqual(operation.risk_reasons, ["command.resume", "webhook"]);
  });

  test("a batch lists every assistant it runs", () => {
    const operation = classify("POST", "/runs/batch", [{ assistant_id: "a" }, { assistant_id: "b", command: { goto: "x" } }]);
    assert.deepEqual(operation.assistant_ids, ["a", "b"]);
    assert.equal(operation.risk, "steer-state");
  });

  test("a join stream with cancel_on_disconnect is a write, even when the parameter is repeated", () => {
    assert.equal(classify("GET", `/threads/${TID}/runs/${RID}/stream?cancel_on_disconnect=false&cancel_on_disconnect=true`).risk, "write");
    assert.equal(classify("GET", `/threads/${TID}/runs/${RID}/stream?cancel_on_disconnect=0`).risk, "read");
  });

  test("a run body that is not an object is refused", () => {
    assert.equal(refusal(() => classify("POST", "/runs/wait", [1, 2])).status, 400);
    assert.equal(refusal(() => classify("POST", "/runs/wait", undefined)).status, 400);
  });
});

describe("protocol v2 commands", () => {
  const command = (method: string, params: object = {}) => classify("POST", `/threads/${TID}/commands`, { id: 1, method, params });
  test("run.start is execute, and steer-state when it forks from a checkpoint, continues with no input, or carries update/goto", () => {
    assert.equal(command("run.start", { assistant_id: "agent", input: { messages: [] } }).risk, "execute");
    assert.deepEqual(command("run.start", { assistant_id: "agent", input: { messages: [] } }).actions, ["runs:create"]);
    assert.equal(command("run.start", { assistant_id: "agent", input: {}, config: { configurable: { checkpoint_id: "c-1" } } }).risk, "steer-state");
    // No input continues from the checkpoint, past a static breakpoint, like input: null.
    assert.deepEqual(command("run.start", { assistant_id: "agent" }).actions, ["runs:create", "runs:continue"]);
    assert.ok(command("run.start", { assistant_id: "agent", input: "yes", goto: "execute" }).actions.includes("state:write"));
    assert.ok(command("run.start", { assistant_id: "agent", input: "yes", update: { decision: "yes" } }).actions.includes("state:write"));
  });
  test("input.respond is execute; with goto or update it is steer-state", () => {
    assert.equal(command("input.respond", { interrupt_id: "i", response: "yes" }).risk, "execute");
    assert.equal(command("input.respond", { interrupt_id: "i", response: "yes", goto: "execute" }).risk, "steer-state");
  });
  test("state.get and subscriptions are reads", () => {
    assert.equal(command("state.get").risk, "read");
    assert.equal(command("subscription.subscribe").risk, "read");
  });
  test("an unknown command method is refused", () => {
    assert.equal(refusal(() => command("run.delete")).status, 400);
  });
});

describe("request-target canonicalisation", () => {
  test("decodes unreserved percent-encoding and re-encodes one canonical form", () => {
    assert.equal(parseRequestTarget("/threads/%61bc/state?x=%2F").path, "/threads/abc/state");
    assert.equal(parseRequestTarget("/store/items?namespace=a.b").search, "?namespace=a.b");
  });
  for (const url of ["/a/../b", "/a/%2e%2E/b", "//a", "/a%2fb", "/a\\b", "/a%00", "/%zz", "*", "http://x/a"]) {
    test(`refuses ${JSON.stringify(url)}`, () => {
      assert.equal(refusal(() => parseRequestTarget(url)).code, "PC_BAD_PATH");
    });
  }
});
