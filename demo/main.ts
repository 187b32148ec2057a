// `npm start`: runs the demo from a clone of the repository. The demo's LangGraph server, graphs,
// stand-in model and development IdP are development dependencies, so the installed package has
// no demo; `portcullis demo` there says so.
import { Command, Option } from "commander";
import { runDemo } from "./run.js";

const program = new Command()
  .name("npm start --")
  .description("Run the gateway in front of the bundled demo LangGraph server, with demo users and a demo key")
  .addOption(new Option("-p, --port <port>", "gateway port (a free one is chosen if it is taken)").env("PORTCULLIS_PORT").default("8080"))
  .addOption(new Option("--data-dir <dir>", "where the demo keeps its ledger, state and LangGraph data").default(".portcullis/demo"))
  .action(async (options: { port: string; dataDir: string }) => {
    const demo = await runDemo({ port: Number(options.port), dataDir: options.dataDir });
    const stop = () => {
      demo.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`portcullis demo: shutdown failed: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`portcullis demo: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
