#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` writes dist/; the published package ships it).
await import("../dist/src/cli/main.js");
