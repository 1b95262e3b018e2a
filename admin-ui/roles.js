// Roles, as the admin API enforces them: owner > operator > viewer. The dashboard hides what the
// signed-in role may not do; the gateway refuses it anyway (403 forbidden).
import { session } from "./api.js";

const RANK = { viewer: 0, operator: 1, owner: 2 };

/** Whether the signed-in admin's role is at least `needed`. */
export function can(needed) {
  return (RANK[session.who.role] ?? 0) >= RANK[needed];
}
