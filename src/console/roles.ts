// Console roles from identity groups (console.roles): admin and auditor see every session, the
// audit page and the access review; approver gets the approvals inbox; everyone signed in is a
// user and sees their own sessions. Deciding an approval still needs the rule's approver group.
import type { PortcullisConfig } from "../config/index.js";
import type { Identity } from "../identify/index.js";

export type ConsoleRole = "admin" | "auditor" | "approver" | "user";

export interface Viewer {
  identity: Identity;
  roles: Set<ConsoleRole>;
  csrfToken: string;
}

export function rolesOf(identity: Identity, config: PortcullisConfig["console"]["roles"]): Set<ConsoleRole> {
  const roles = new Set<ConsoleRole>(["user"]);
  const has = (groups: string[]) => identity.groups.some((group) => groups.includes(group));
  if (has(config.admin)) roles.add("admin");
  if (has(config.auditor)) roles.add("auditor");
  if (has(config.approver)) roles.add("approver");
  return roles;
}

/** Every session, not only the viewer's own. */
export function seesAllSessions(viewer: Viewer): boolean {
  return viewer.roles.has("admin") || viewer.roles.has("auditor");
}

/** The audit page, evidence exports and the access review. */
export function seesAudit(viewer: Viewer): boolean {
  return viewer.roles.has("admin") || viewer.roles.has("auditor");
}
