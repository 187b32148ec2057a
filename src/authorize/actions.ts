// Action patterns in policy rules: an action from the vocabulary (src/classify/actions.ts), a
// resource wildcard ("threads:*") or "*".
import { ACTIONS, type Action } from "../classify/index.js";

const KNOWN = new Set<string>(ACTIONS);
const RESOURCES = new Set(ACTIONS.map((action) => action.split(":")[0]!));

/** A rule's action pattern: an action, "resource:*", or "*". */
export function isActionPattern(pattern: string): boolean {
  if (pattern === "*" || KNOWN.has(pattern)) return true;
  const [resource, verb] = pattern.split(":");
  return verb === "*" && RESOURCES.has(resource!);
}

/** Actions an allow rule must name (or "egress:*"): an existing "*" allow rule does not start
 * letting its subjects spend the credentials the gateway holds for outside services. A "*" deny
 * or require-approval rule does cover them. */
const EXPLICIT_ONLY = new Set<string>(["egress:call"]);

/** The actions a pattern stands for in a rule with this effect. */
export function expandActionPattern(pattern: string, effect: "allow" | "deny" | "require-approval" = "allow"): Action[] {
  if (pattern === "*") return effect === "allow" ? ACTIONS.filter((action) => !EXPLICIT_ONLY.has(action)) : [...ACTIONS];
  if (pattern.endsWith(":*")) {
    const resource = pattern.slice(0, -2);
    return ACTIONS.filter((action) => action.startsWith(`${resource}:`));
  }
  return ACTIONS.filter((action) => action === pattern);
}
