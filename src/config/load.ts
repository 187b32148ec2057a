import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.js";
import { configSchema, type PortcullisConfig } from "./schema.js";

export { readSecret } from "./secrets.js";

export async function loadConfigFile(path: string): Promise<PortcullisConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  return parseConfig(raw, path);
}

export function parseConfig(raw: unknown, source = "config"): PortcullisConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  - ${fieldName(issue.path)}: ${issue.message}`);
    throw new ConfigError(`${source} is invalid:\n${problems.join("\n")}`);
  }
  return result.data;
}

/** A zod issue path as a reader writes it: rules[0].actions[1]. */
export function fieldName(path: PropertyKey[]): string {
  return path.length === 0 ? "(top level)" : path.map((part) => (typeof part === "number" ? `[${part}]` : String(part))).join(".").replace(/\.\[/g, "[");
}
