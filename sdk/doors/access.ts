// Access rules. Principals are identified by the kid of their key; each holds one role. Roles are
// ordered levels, as Matter's privileges are: a higher role can do everything a lower one can.

export const ROLES = ["view", "operate", "manage", "administer"] as const;
export type Role = (typeof ROLES)[number];

export function roleLevel(role: Role): number {
  return ROLES.indexOf(role) + 1;
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).indexOf(value) >= 0;
}

/** Who is asking. `id` is the kid in hex for remote principals, "local" for application code. */
export interface Principal {
  readonly id: string;
  readonly role: Role;
}

export function grants(principal: Principal, required: Role): boolean {
  return roleLevel(principal.role) >= roleLevel(required);
}
