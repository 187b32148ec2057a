import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Stage boundaries (docs/architecture.md): a module reaches another folder of src/ only through
// that folder's index.ts. A module n folders below src/ leaves its folder with n "../", so each
// depth has its own pattern. test/source/architecture.test.ts checks the same rule.
const stageBoundaries = [0, 1, 2, 3].map((depth) => {
  const up = depth === 0 ? "./" : "../".repeat(depth);
  // Another folder's module other than its index.js: ../ledger/store.js, ../mask/detect/types.js.
  const regex = `^${up.replaceAll(".", "\\.")}[^./][^/]*/(?!index\\.js$)`;
  const message = `Import another stage through its index: ${up}<stage>/index.js (export what you need there).`;
  return {
    files: [`src/${"*/".repeat(depth)}*.ts`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ regex, message }] }],
      // import() too; a regular expression in a selector cannot hold "/".
      "no-restricted-syntax": ["error", { selector: `ImportExpression[source.value=/${regex.replaceAll("/", "\\x2F")}/]`, message }],
    },
  };
});

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "demo/langgraph/.data/", ".portcullis/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-control-regex": "off",
    },
  },
  ...stageBoundaries,
  {
    // The console's own script runs in the browser.
    files: ["src/console/assets/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: Object.fromEntries(
        ["document", "window", "Node", "fetch", "FormData", "URLSearchParams", "performance", "setTimeout", "clearTimeout", "setInterval", "clearInterval"].map((name) => [name, "readonly"]),
      ),
    },
  },
);
