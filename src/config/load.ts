import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.js";
import { configSchema, type PortcullisConfig, type SecretSource } from "./schema.js";

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

export async function readSecret(source: SecretSource, what: string): Promise<string> {
  if ("env" in source) {
    const value = process.env[source.env];
    if (!value) throw new ConfigError(`${what}: environment variable ${source.env} is not set`);
    return value;
  }
  try {
    const value = (await readFile(source.file, "utf8")).replace(/\r?\n$/, "");
    if (!value) throw new ConfigError(`${what}: file ${source.file} is empty`);
    return value;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${what}: cannot read ${source.file}: ${(error as Error).message}`);
  }
}

