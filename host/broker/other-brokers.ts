// The rules table (rules.ts) in the formats of the clustered brokers a fleet moves to when it outgrows one
// mosquitto: EMQX's file authorization (acl.conf, Erlang terms) and HiveMQ's File RBAC extension
// (credentials.xml roles). docs/broker.md shows exactly these texts (a test compares them), so the
// documentation cannot drift from the rules. Usernames follow identities.ts: a device's is its id,
// servers' and operators' are server.<name> and operator.<name>, told apart by a pattern (EMQX) or by the
// role each user is given (HiveMQ). Host side only.

import { BROKER_ROLES, DEFAULT_TOPIC_PREFIX, TOPIC_RULES, type BrokerRole } from "./rules";

/** The username pattern of each role, as a regular expression (EMQX's {username, {re, ...}}). */
const USERNAME_PATTERNS: Record<BrokerRole, string> = {
  device: "^[a-z0-9-]{1,32}$",
  server: "^server\\\\.[a-z0-9-]{1,32}$",
  operator: "^operator\\\\.[a-z0-9-]{1,32}$",
};

/** EMQX acl.conf: one allow per rule, anything else denied (set authorization.no_match = deny too). */
export function emqxAcl(prefix = DEFAULT_TOPIC_PREFIX): string {
  const lines = [
    "%% Gatehouse broker rules (host/broker/rules.ts) for EMQX file authorization (acl.conf).",
    "%% A device's username is its id; a device's rules name its own topics through ${username}.",
  ];
  for (const role of BROKER_ROLES) {
    lines.push(`%% ${role}`);
    for (const rule of TOPIC_RULES) {
      const access = rule[role];
      if (!access) continue;
      const topic = `${prefix}/${role === "device" ? "${username}" : "+"}/${rule.topic}`;
      lines.push(`{allow, {username, {re, "${USERNAME_PATTERNS[role]}"}}, ${access}, ["${topic}"]}.`);
    }
  }
  lines.push("%% Nothing else, for anyone.", "{deny, all}.");
  return lines.join("\n") + "\n";
}

/** HiveMQ File RBAC roles (credentials.xml <roles>): gatehouse-device, gatehouse-server, gatehouse-operator. */
export function hivemqRoles(prefix = DEFAULT_TOPIC_PREFIX): string {
  const lines = ["<roles>"];
  for (const role of BROKER_ROLES) {
    lines.push("    <role>", `        <id>gatehouse-${role}</id>`, "        <permissions>");
    for (const rule of TOPIC_RULES) {
      const access = rule[role];
      if (!access) continue;
      const topic = `${prefix}/${role === "device" ? "${{username}}" : "+"}/${rule.topic}`;
      lines.push("            <permission>", `                <topic>${topic}</topic>`, `                <activity>${access.toUpperCase()}</activity>`, "            </permission>");
    }
    lines.push("        </permissions>", "    </role>");
  }
  lines.push("</roles>");
  return lines.join("\n") + "\n";
}
