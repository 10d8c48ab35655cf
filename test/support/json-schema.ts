// The part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that the API document (host/server/
// http-openapi.ts) uses, to check real answers against it: $ref within the document, type (one or a
// list, "integer" included), properties, required, additionalProperties, items, enum, const, pattern,
// minimum, maximum, minLength. A keyword it does not know is an error, so the document cannot drift into
// schema it does not check.

type Schema = Record<string, unknown>;

const KNOWN = new Set(["$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "const", "pattern", "minimum", "maximum", "minLength", "description"]);

function typeOf(value: unknown): string[] {
  if (value === null) return ["null"];
  if (Array.isArray(value)) return ["array"];
  if (typeof value === "number") return Number.isInteger(value) ? ["integer", "number"] : ["number"];
  return [typeof value];
}

/** Where `value` does not fit `schema` (empty: it fits). `root` resolves "#/..." references. */
export function schemaProblems(value: unknown, schema: Schema, root: Schema, at = "$"): string[] {
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) return [`${at}: the schema uses keywords this check does not know: ${unknown.join(", ")}`];
  if (typeof schema.$ref === "string") {
    const target = (schema.$ref as string)
      .replace(/^#\//, "")
      .split("/")
      .reduce<unknown>((node, key) => (node as Schema | undefined)?.[key], root);
    if (target === undefined) return [`${at}: unresolved $ref ${schema.$ref}`];
    return schemaProblems(value, target as Schema, root, at);
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!typeOf(value).some((t) => allowed.includes(t))) return [`${at}: ${JSON.stringify(value)?.slice(0, 80)} is not ${allowed.join(" or ")}`];
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((v) => v === value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.const !== undefined && schema.const !== value) problems.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern).test(value)) problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (typeof schema.minLength === "number" && value.length < schema.minLength) problems.push(`${at}: shorter than ${schema.minLength}`);
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) problems.push(`${at}: ${value} < ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) problems.push(`${at}: ${value} > ${schema.maximum}`);
  }
  if (Array.isArray(value) && schema.items !== undefined) value.forEach((item, i) => problems.push(...schemaProblems(item, schema.items as Schema, root, `${at}[${i}]`)));
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in object)) problems.push(`${at}: ${name} is missing`);
    for (const [name, v] of Object.entries(object)) {
      if (properties[name] !== undefined) problems.push(...schemaProblems(v, properties[name], root, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: ${name} is not in the schema`);
      else if (typeof schema.additionalProperties === "object") problems.push(...schemaProblems(v, schema.additionalProperties as Schema, root, `${at}.${name}`));
    }
  }
  return problems;
}
