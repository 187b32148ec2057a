// The `portcullis` command as tests run it: the checkout's source through tsx, so a test sees
// the code it sits beside without a build. The packed, compiled package is tested on its own
// (test/package/package.test.ts).
import { fileURLToPath } from "node:url";

/** Arguments for `process.execPath` that run the CLI; append the command's own arguments. */
export const CLI_ARGS: readonly string[] = ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))];
