// Debian's Chromium driven by playwright-core (browser downloads do not work here). The flags
// keep it off the network it would otherwise call at start-up.
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM_PATH = process.env.PORTCULLIS_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
