// Stage boundaries (docs/architecture.md): src/ has one folder per stage, and a module reaches
// another folder only through that folder's index.ts. Checked here from the sources themselves,
// whatever eslint.config.js says, together with the direction of the imports between folders:
// there is no cycle among them, and no folder but the CLI imports a composition root.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Root modules that put the stages together: they import folders freely, so a folder that
 * imported one would close a cycle the folder graph below cannot see. Only the CLI starts them. */
const COMPOSITION_ROOTS = ["gateway.ts", "stateStores.ts"];

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

const imports = sourceFiles(SRC).flatMap(relativeImportsOf);

/** Imports of another folder, from a folder or from a root module. */
const crossing = imports.filter((i) => i.to !== null && i.from !== i.to);

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

test("no folder of src/ imports a composition root but the CLI", () => {
  const rootImports = imports
    .filter((i) => i.from !== null && i.from !== "cli" && COMPOSITION_ROOTS.some((root) => i.target === root.replace(/\.ts$/, ".js")))
    .map((i) => `src/${i.file}:${i.line} imports ${i.specifier}`);
  assert.deepEqual(rootImports, [], `composition roots imported by a folder (take what it needs as a parameter instead):\n${rootImports.join("\n")}`);
});

test("the imports between folders of src/ form no cycle", () => {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of crossing) if (from !== null) edges.set(from, (edges.get(from) ?? new Set()).add(to!));
  const where = (edge: string) => {
    const [from, to] = edge.split(" -> ");
    return [...new Set(crossing.filter((i) => i.from === from && i.to === to).map((i) => `src/${i.file}`))].join(", ");
  };
  const found = cycleEdges(edges).map((edge) => `${edge} (${where(edge)})`);
  assert.deepEqual(found, [], `edges between folders that lie on a cycle: invert one (the stage declares the interface or the facts it needs, and gateway.ts wires it):\n  ${found.join("\n  ")}`);
});
