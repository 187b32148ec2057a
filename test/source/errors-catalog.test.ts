// The error catalog (ERROR_CATALOG in src/errors.ts) against the code that throws and the page
// users read: every refusal in src/ is thrown with a status its code lists, every code and every
// status listed is thrown somewhere (no dead or undocumented codes), and docs/errors.md is the
// page the catalog renders.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { renderErrorsDoc } from "../../scripts/errorsDoc.js";
import { ERROR_CATALOG, type ErrorCode } from "../../src/errors.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Every `new GatewayError(<status>, "<code>"` in src/, however the call is wrapped. */
async function thrownInSource(): Promise<Array<{ file: string; status: number; code: string }>> {
  const found: Array<{ file: string; status: number; code: string }> = [];
  const files = (await readdir(path.join(root, "src"), { recursive: true })).filter((file) => file.endsWith(".ts"));
  for (const file of files) {
    const text = await readFile(path.join(root, "src", file), "utf8");
    for (const match of text.matchAll(/new GatewayError\(\s*(\d{3}),\s*"(PC_[A-Z_]+)"/g)) found.push({ file, status: Number(match[1]), code: match[2]! });
    // A GatewayError built any other way would escape this check (copying a caught one's status
    // and code, to add who was refused, is checked where that one was thrown).
    const unchecked = [...text.matchAll(/new GatewayError\((?!\s*\d{3},\s*"PC_|error\.status, error\.code,)/g)];
    assert.equal(unchecked.length, 0, `${file} builds a GatewayError without a literal status and code`);
  }
  return found;
}

test("every refusal in src/ uses a catalogued code with one of its statuses", async () => {
  const thrown = await thrownInSource();
  assert.ok(thrown.length > 100, `found only ${thrown.length} refusals: the scan is broken`);
  for (const { file, status, code } of thrown) {
    const entry = ERROR_CATALOG[code as ErrorCode];
    assert.ok(entry, `${file}: ${code} is not in ERROR_CATALOG`);
    assert.ok((entry.statuses as readonly number[]).includes(status), `${file}: ${code} is thrown with ${status}, the catalog lists ${entry.statuses.join(", ")}`);
  }
});

test("every catalogued code and status is thrown somewhere", async () => {
  const thrown = new Set((await thrownInSource()).map(({ status, code }) => `${code} ${status}`));
  for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
    for (const status of entry.statuses) assert.ok(thrown.has(`${code} ${status}`), `${code} ${status} is catalogued but never thrown`);
  }
});

test("docs/errors.md is the page the catalog renders (npm run docs:errors)", async () => {
  assert.equal(await readFile(path.join(root, "docs/errors.md"), "utf8"), renderErrorsDoc());
});
