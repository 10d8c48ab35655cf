// Who may publish and subscribe where at the broker: ONE table, from which everything else is made —
// mosquitto's ACL file (mosquitto.ts), the embedded aedes broker's hooks (access.ts) and the EMQX and
// HiveMQ rules in docs/broker.md (a test holds the document to this table). Adding a service's topics is
// one line in TOPIC_RULES. Host side only (Node).
//
// Three roles hold broker identities (docs/broker.md):
//   device    one per device; may publish only under <prefix>/<its id>/ and read only its own inbound topics
//   server    the fleet server: reads every device publication, writes commands and update transfers
//   operator  a person or script: writes commands, reads results (and births, deaths and security
//             events, which `gatehouse send` and `gatehouse events --broker` follow)
//
// Signatures already stop forged messages from being believed (docs/protocol.md); these rules keep
// anyone from publishing where they have no business — above all a forged retained birth or death, which
// the broker would otherwise serve to every later subscriber in place of the device's own — and keep a
// device from reading another's commands.
//
// Topics are written below <prefix>/<device>/ (prefix "gh" by default). A device's rows apply to its own
// id only; the server's and an operator's to every device ("+").

import { fail } from "../../sdk/errors";

export const BROKER_ROLES = ["device", "server", "operator"] as const;
export type BrokerRole = (typeof BROKER_ROLES)[number];

/** What a role may do with a topic: publish it, or subscribe to it (and so receive it). */
export type Access = "publish" | "subscribe";

export interface TopicRule {
  /** The topic below <prefix>/<device>/; "+" stands for one level (a door name, say). */
  readonly topic: string;
  /** What each role may do with it; a role not named may do nothing. */
  readonly device?: Access;
  readonly server?: Access;
  readonly operator?: Access;
}

/** The rules: one line per topic. */
export const TOPIC_RULES: readonly TopicRule[] = [
  // Device publications (protocol §4): signed by the device.
  { topic: "birth", device: "publish", server: "subscribe", operator: "subscribe" },
  { topic: "death", device: "publish", server: "subscribe", operator: "subscribe" },
  { topic: "result", device: "publish", server: "subscribe", operator: "subscribe" },
  { topic: "telemetry", device: "publish", server: "subscribe" },
  { topic: "events", device: "publish", server: "subscribe", operator: "subscribe" },
  // Commands (protocol §3): signed by an operator; the server relays them.
  { topic: "cmd/+", device: "subscribe", server: "publish", operator: "publish" },
  // Update transfer (the OTA service, docs/suit.md): offers, blocks and trust updates from the server;
  // block requests and signed status from the device. Blocks are not signed, so only the server may write them.
  { topic: "update/offer", device: "subscribe", server: "publish" },
  { topic: "update/block", device: "subscribe", server: "publish" },
  { topic: "update/trust", device: "subscribe", server: "publish" },
  { topic: "update/get", device: "publish", server: "subscribe" },
  { topic: "update/status", device: "publish", server: "subscribe" },
];

export const DEFAULT_TOPIC_PREFIX = "gh";

/** A topic prefix as the rules take it: 1 to 64 characters, no "/", "+", "#", spaces or control characters. */
export function checkTopicPrefix(prefix: string): string {
  // eslint-disable-next-line no-control-regex
  if (prefix.length === 0 || prefix.length > 64 || /[/+#\s\u0000-\u001f\u007f]/.test(prefix) || prefix.startsWith("$")) {
    fail("usage", `topic prefix ${JSON.stringify(prefix)} must be 1 to 64 characters without "/", "+", "#", "$" first, spaces or control characters`);
  }
  return prefix;
}

export interface Permissions {
  /** Topic patterns (MQTT filters) it may publish on. */
  readonly publish: readonly string[];
  /** Topic filters it may subscribe to, and the topics it may receive. */
  readonly subscribe: readonly string[];
}

/**
 * The topic patterns `role` may use: a device (named by `id`) under its own <prefix>/<id>/, the server and
 * operators under every device's. In `TOPIC_RULES` order.
 */
export function permissions(role: BrokerRole, id: string, prefix = DEFAULT_TOPIC_PREFIX): Permissions {
  const device = role === "device" ? id : "+";
  const publish: string[] = [];
  const subscribe: string[] = [];
  for (const rule of TOPIC_RULES) {
    const access = rule[role];
    if (access === undefined) continue;
    (access === "publish" ? publish : subscribe).push(`${prefix}/${device}/${rule.topic}`);
  }
  return { publish, subscribe };
}

/** Whether `topic` (no wildcards) matches the MQTT filter `filter`. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") !== filter.startsWith("$")) return false; // MQTT 4.7.2: wildcards never match $ topics
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Whether every topic the subscription filter `requested` can match is also matched by `allowed`: a
 * subscription is granted only when it cannot reach past the rules (`gh/+/birth` is covered by
 * `gh/+/birth`; `gh/#` and `gh/+/+` are not).
 */
export function filterCovers(allowed: string, requested: string): boolean {
  if (requested.startsWith("$") !== allowed.startsWith("$")) return false;
  const a = allowed.split("/");
  const r = requested.split("/");
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "#") return true;
    if (i >= r.length) return false;
    if (r[i] === "#") return false; // reaches deeper than a level-by-level rule
    if (a[i] === "+") continue; // any one level, including a requested "+"
    if (r[i] !== a[i]) return false; // a literal rule covers only the same literal
  }
  return a.length === r.length;
}

export function mayPublish(p: Permissions, topic: string): boolean {
  return p.publish.some((filter) => topicMatches(filter, topic));
}

export function maySubscribe(p: Permissions, filter: string): boolean {
  return p.subscribe.some((allowed) => filterCovers(allowed, filter));
}

/** Whether a message on `topic` may be delivered to a holder of `p` (the read check at delivery). */
export function mayReceive(p: Permissions, topic: string): boolean {
  return p.subscribe.some((filter) => topicMatches(filter, topic));
}
