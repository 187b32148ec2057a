// config: the configuration file, read (load.ts, secrets.ts) and validated against one zod schema
// (schema.ts, with the egress and approvals.notify sections beside it).
export { fieldName, loadConfigFile, parseConfig } from "./load.js";
export type { EgressConfig, EgressCredentialConfig, EgressRouteConfig } from "./egress.js";
export type { NotifyConfig } from "./notify.js";
export { configJsonSchema, type BrowserLoginConfig, type OidcIssuerConfig, type OidcLoginConfig, type PortcullisConfig, type SamlLoginConfig, type ServiceAccountConfig } from "./schema.js";
export { readSecret, type SecretSource } from "./secrets.js";
