// Stage boundaries (docs/architecture.md): src/ has one folder per stage, and a module reaches
// another folder only through that folder's index.ts. Checked here from the sources themselves,
// whatever eslint.config.js says, together with the cycles between folders: exactly the known
// ones below, so that a new cycle fails and so does a listed one that is gone.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Every edge between folders that lies on a cycle, and why it is there. Most are one tangle,
 * held together by three things: storage opens every stage's store (and the stores use its
 * migration runner), the audit record names what each stage decided, and identify and
 * authenticate need each other (a session cookie is a credential; a sign-in yields an Identity). */
const KNOWN_CYCLE_EDGES: Record<string, string> = {
  "approve -> authorize": "the gate holds a request for its policy Decision",
  "approve -> forward": "approval details read the thread's checkpoint from LangGraph",
  "approve -> identify": "approvals belong to identities; a deferred request carries identify's execution header",
  "approve -> mask": "approval details and deferred results are masked",
  "approve -> record": "approvals are ledger records",
  "approve -> respond": "a held request is kept open with respond's SSE writer; a deferred result loses its ownership stamps",
  "approve -> storage": "the approval store's tables are a migration component",
  "authenticate -> identify": "a sign-in yields an Identity through identify's claim mapping",
  "authenticate -> respond": "the sign-in endpoints are local answers",
  "authenticate -> storage": "the session and sign-in stores' tables are migration components",
  "authorize -> forward": "lookups ask LangGraph for an assistant's graph and a thread's owner",
  "authorize -> identify": "a decision is about an Identity",
  "authorize -> record": "a policy load is a ledger record",
  "authorize -> storage": "the rate-limit buckets' tables are a migration component",
  "egress -> authorize": "egress calls take tokens from the same rate limiter",
  "egress -> forward": "egress calls go out through the one HTTP client",
  "egress -> identify": "an egress call is made by an Identity",
  "egress -> record": "an egress call is recorded with its facts",
  "forward -> identify": "the identity assertion and the gateway's own calls carry an Identity",
  "identify -> authenticate": "a browser session cookie is a credential, resolved by the sign-in with its CSRF check",
  "identify -> storage": "service-account keys live in the state store",
  "mask -> storage": "the token vault's tables are a migration component",
  "record -> authenticate": "a sign-in request is recorded without its secrets",
  "record -> authorize": "a request record holds its Decision",
  "record -> egress": "the recorder records egress calls",
  "record -> forward": "the run follower asks LangGraph how a run ended",
  "record -> identify": "records hold the identity and the credentials presented",
  "record -> mask": "the recorder masks what it keeps",
  "record -> respond": "a refusal is recorded with the status respond answers it with",
  "respond -> authorize": "answers lose the ownership stamps authorize adds",
  "respond -> forward": "response headers come from forward's allow-list; /readyz asks LangGraph",
  "respond -> identify": "a local answer is for an Identity",
  "respond -> mask": "answers are masked as they flow, and tokens restored",
  "respond -> record": "/readyz checks the audit sink",
  "storage -> approve": "storage opens the approval store and migrates its tables",
  "storage -> authenticate": "storage opens the session and sign-in stores and migrates their tables",
  "storage -> authorize": "storage opens the rate-limit buckets and migrates their tables",
  "storage -> mask": "storage opens the vault's store and migrates its tables",
};

interface ModuleImport {
  /** The importing file and the folder it is in, relative to src/; null for a root module. */
  file: string;
  from: string | null;
  specifier: string;
  line: number;
  /** The imported file relative to src/, and its folder (null: a root module such as errors.ts). */
  target: string;
  to: string | null;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

const folderOf = (relative: string): string | null => (relative.includes("/") ? relative.split("/")[0]! : null);

/** Static imports and re-exports, `import type`, `typeof import("…")` and import() with a literal
 * path. import() counts like the rest: it defers loading a folder, not depending on it. */
function relativeImportsOf(file: string): ModuleImport[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const relative = path.relative(SRC, file);
  const found: ModuleImport[] = [];
  const add = (literal: ts.StringLiteralLike) => {
    if (!literal.text.startsWith(".")) return;
    const target = path.relative(SRC, path.resolve(path.dirname(file), literal.text));
    if (target.startsWith("..")) return;
    const line = source.getLineAndCharacterOfPosition(literal.getStart()).line + 1;
    found.push({ file: relative, from: folderOf(relative), specifier: literal.text, line, target, to: folderOf(target) });
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Imports of another folder, from a folder or from a root module. */
const crossing = sourceFiles(SRC)
  .flatMap(relativeImportsOf)
  .filter((i) => i.to !== null && i.from !== i.to);

/** Edges between folders that lie on a cycle: both ends in one strongly connected component
 * (Tarjan). Root modules are not folders: shared leaves (errors.ts, jsonText.ts) and the wiring
 * (gateway.ts, pipeline.ts), imported directly. */
function cycleEdges(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const component = new Map<string, number>();
  const stack: string[] = [];
  let next = 0;
  let components = 0;
  const connect = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    for (const to of edges.get(node) ?? []) {
      if (!index.has(to)) {
        connect(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (!component.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    let member: string;
    do {
      member = stack.pop()!;
      component.set(member, components);
    } while (member !== node);
    components++;
  };
  for (const node of edges.keys()) if (!index.has(node)) connect(node);
  return [...edges].flatMap(([from, tos]) => [...tos].filter((to) => component.get(from) === component.get(to)).map((to) => `${from} -> ${to}`)).sort();
}

test("every folder of src/ has an index.ts", () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  assert.deepEqual(folders.filter((folder) => !existsSync(path.join(SRC, folder.name, "index.ts"))).map((folder) => folder.name), []);
});

test("a module reaches another folder of src/ only through that folder's index.ts", () => {
  assert.ok(crossing.length > 100, "the imports between folders were found");
  const bypasses = crossing
    .filter((i) => i.target !== `${i.to}/index.js`)
    .map((i) => `src/${i.file}:${i.line} imports ${i.specifier}: import ${path.relative(path.dirname(i.file), `${i.to}/index.js`).replace(/^(?!\.)/, "./")} instead`);
  assert.deepEqual(bypasses, [], `imports that bypass a folder's index.ts:\n${bypasses.join("\n")}`);
});

test("the cycles between folders are the known ones, no more and no fewer", () => {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of crossing) if (from !== null) edges.set(from, (edges.get(from) ?? new Set()).add(to!));
  const found = cycleEdges(edges);
  const known = Object.keys(KNOWN_CYCLE_EDGES).sort();
  const where = (edge: string) => {
    const [from, to] = edge.split(" -> ");
    return [...new Set(crossing.filter((i) => i.from === from && i.to === to).map((i) => `src/${i.file}`))].join(", ");
  };
  const added = found.filter((edge) => !known.includes(edge)).map((edge) => `${edge} (${where(edge)})`);
  const gone = known.filter((edge) => !found.includes(edge));
  assert.deepEqual(
    { added, gone },
    { added: [], gone: [] },
    [
      added.length > 0 ? `new edges on a cycle between folders: break the cycle, or list the edge in KNOWN_CYCLE_EDGES with its reason:\n  ${added.join("\n  ")}` : "",
      gone.length > 0 ? `edges no longer on a cycle: take them out of KNOWN_CYCLE_EDGES:\n  ${gone.join("\n  ")}` : "",
    ].join("\n"),
  );
});
