// `npm run docs:errors`: writes docs/errors.md from ERROR_CATALOG (src/errors.ts) to standard
// output. test/source/errors-catalog.test.ts fails when the page and the catalog differ.
import { fileURLToPath } from "node:url";
import { ERROR_CATALOG } from "../src/errors.js";

export function renderErrorsDoc(): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const rows = Object.entries(ERROR_CATALOG).map(([code, entry]) => `| \`${code}\` | ${entry.statuses.join(", ")} | ${cell(entry.means)} | ${cell(entry.action)} |`);
  return [
    "# Error codes",
    "",
    "<!-- Generated from ERROR_CATALOG in src/errors.ts by `npm run docs:errors`; do not edit by hand. -->",
    "",
    "Every refusal the gateway answers carries a stable code: in the `x-portcullis-error` header",
    "always, in the JSON body's `error` field when the answer is the gateway's own (where LangGraph",
    "has an answer of its own, such as `Thread with ID … not found`, the body is LangGraph's), and in",
    "the request's audit record (`error`, and the rule `gateway:<code>` for refusals made before",
    "policy). A refusal after a stream has begun is sent in-band, as an `error` event or under",
    "`__error__`, with the same code.",
    "",
    "| Code | Status | What it means | What to do |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(renderErrorsDoc());
