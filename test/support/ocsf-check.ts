// Checks an object against OCSF's published facts for the API Activity class (test/fixtures/ocsf/
// api-activity-1.6.0.json, extracted from the OCSF schema repository: see test/fixtures/PROVENANCE.md).
// Independent of the mapping in host/server/export/ocsf.ts: it knows only the schema.
//
// What it checks, at every level it can resolve:
//   - every "required" attribute is present (class and objects);
//   - constraints: at_least_one and just_one;
//   - no attribute the class or object does not define (unmapped's content is free, as OCSF says);
//   - types: strings, integers (integer_t, long_t, timestamp_t in ms), booleans, arrays, objects;
//   - enum attributes hold a listed value, and a sibling caption (activity_name, severity, status,
//     class_name, category_name, type_name, type) equals the enum's caption unless the id is 99 (Other);
//   - type_uid = class_uid * 100 + activity_id, class_uid and category_uid are the class's, and
//     metadata.version is the schema version and metadata.profiles lists the profiles in use.

import { readFileSync } from "node:fs";
import { join } from "node:path";

interface Attribute {
  type: string;
  is_array?: boolean;
  requirement: string;
  enum?: Record<string, string>;
  sibling?: string;
}

interface ObjectFacts {
  caption: string;
  attributes: Record<string, Attribute>;
  constraints: { at_least_one?: string[]; just_one?: string[] };
}

interface Facts {
  version: string;
  class: { name: string; caption: string; uid: number; category_uid: number; category_caption: string; profiles: string[]; attributes: Record<string, Attribute> };
  objects: Record<string, ObjectFacts>;
  types: Record<string, string>;
}

export const OCSF_FACTS: Facts = JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", "ocsf", "api-activity-1.6.0.json"), "utf8"));

/** The base type of a dictionary type (timestamp_t -> long_t, port_t -> integer_t, ...). */
function baseType(type: string): string {
  let t = type;
  for (let i = 0; i < 5 && OCSF_FACTS.types[t] && OCSF_FACTS.types[t] !== t; i++) t = OCSF_FACTS.types[t];
  return t;
}

function checkValue(path: string, value: unknown, attribute: Attribute, problems: string[]): void {
  if (attribute.is_array) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: expected an array of ${attribute.type}`);
      return;
    }
    value.forEach((v, i) => checkValue(`${path}[${i}]`, v, { ...attribute, is_array: false }, problems));
    return;
  }
  if (value === null || value === undefined) {
    problems.push(`${path}: null (absent values are omitted in OCSF)`);
    return;
  }
  const type = attribute.type;
  if (type === "object" || type === "json_t") {
    if (type === "object" && (typeof value !== "object" || Array.isArray(value))) problems.push(`${path}: expected an object`);
    return;
  }
  if (OCSF_FACTS.objects[type]) {
    checkObject(path, value, OCSF_FACTS.objects[type].attributes, OCSF_FACTS.objects[type].constraints, problems);
    return;
  }
  if (!OCSF_FACTS.types[type]) {
    problems.push(`${path}: type ${type} is an object the facts do not cover (add it to extract-facts.ts)`);
    return;
  }
  switch (baseType(type)) {
    case "string_t":
      if (typeof value !== "string") problems.push(`${path}: expected a string (${type})`);
      break;
    case "integer_t":
    case "long_t":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) problems.push(`${path}: expected an integer (${type})`);
      break;
    case "float_t":
      if (typeof value !== "number" || !Number.isFinite(value)) problems.push(`${path}: expected a number (${type})`);
      break;
    case "boolean_t":
      if (typeof value !== "boolean") problems.push(`${path}: expected a boolean`);
      break;
    default:
      problems.push(`${path}: unhandled type ${type}`);
  }
  if (attribute.enum && !Object.hasOwn(attribute.enum, String(value))) problems.push(`${path}: ${String(value)} is not one of ${Object.keys(attribute.enum).join(", ")}`);
}

function checkObject(path: string, value: unknown, attributes: Record<string, Attribute>, constraints: ObjectFacts["constraints"], problems: string[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    problems.push(`${path}: expected an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [name, attribute] of Object.entries(attributes)) {
    if (attribute.requirement === "required" && !(name in record)) problems.push(`${path}.${name}: required, missing`);
  }
  for (const [name, v] of Object.entries(record)) {
    const attribute = attributes[name];
    if (!attribute) {
      problems.push(`${path}.${name}: not an attribute of this object`);
      continue;
    }
    checkValue(`${path}.${name}`, v, attribute, problems);
    // A sibling caption must match its id's caption (except for Other, where the source names it).
    if (attribute.enum && attribute.sibling && attribute.sibling in record && String(v) !== "99") {
      const caption = attribute.enum[String(v)];
      if (caption !== undefined && record[attribute.sibling] !== caption) problems.push(`${path}.${attribute.sibling}: ${JSON.stringify(record[attribute.sibling])} is not the caption of ${name} ${String(v)} (${caption})`);
    }
  }
  if (constraints.at_least_one && !constraints.at_least_one.some((n) => n in record)) problems.push(`${path}: needs at least one of ${constraints.at_least_one.join(", ")}`);
  if (constraints.just_one && constraints.just_one.filter((n) => n in record).length !== 1) problems.push(`${path}: needs exactly one of ${constraints.just_one.join(", ")}`);
}

/** Every way `event` departs from the class; empty when it conforms. */
export function ocsfProblems(event: unknown): string[] {
  const problems: string[] = [];
  const cls = OCSF_FACTS.class;
  checkObject("event", event, cls.attributes, {}, problems);
  if (event === null || typeof event !== "object") return problems;
  const e = event as Record<string, any>;
  if (e.class_uid !== cls.uid) problems.push(`event.class_uid: ${e.class_uid}, not ${cls.uid} (${cls.caption})`);
  if (e.category_uid !== cls.category_uid) problems.push(`event.category_uid: ${e.category_uid}, not ${cls.category_uid}`);
  if (e.type_uid !== cls.uid * 100 + e.activity_id) problems.push(`event.type_uid: ${e.type_uid}, not class_uid * 100 + activity_id`);
  if (e.metadata?.version !== OCSF_FACTS.version) problems.push(`event.metadata.version: ${e.metadata?.version}, not ${OCSF_FACTS.version}`);
  const profiles: string[] = Array.isArray(e.metadata?.profiles) ? e.metadata.profiles : [];
  // The host profile's attributes (device, actor's extras) are allowed only when it is declared.
  if ("device" in e && !profiles.includes("host")) problems.push("event.device: the host profile is not in metadata.profiles");
  for (const p of profiles) if (!cls.profiles.includes(p)) problems.push(`event.metadata.profiles: ${p} is not a profile these facts cover`);
  return problems;
}
