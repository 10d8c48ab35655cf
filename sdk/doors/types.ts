// Value types for door schemas. One declaration gives three things:
//   - the TypeScript type (Infer<T>), so application code gets compile-time errors;
//   - the run-time check (validate.ts), applied to local calls and remote commands alike;
//   - a plain-data description that a birth message carries (the types are plain objects).

export interface IntType {
  readonly kind: "int";
  readonly min: number;
  readonly max: number;
}
export interface NumberType {
  readonly kind: "number";
  readonly min: number;
  readonly max: number;
}
export interface BoolType {
  readonly kind: "bool";
}
export interface StringType<E extends string = string> {
  readonly kind: "string";
  readonly maxLength: number;
  readonly minLength?: number;
  readonly pattern?: string;
  readonly enum?: readonly E[];
}
export interface BytesType {
  readonly kind: "bytes";
  readonly maxLength: number;
  readonly minLength?: number;
}
export interface ArrayType<I extends ValueType = ValueType> {
  readonly kind: "array";
  readonly items: I;
  readonly maxItems: number;
}
export interface RecordType<F extends Record<string, FieldType> = Record<string, FieldType>> {
  readonly kind: "record";
  readonly fields: F;
}
/** "No value": the input of an action that takes none, the output of one that returns none. */
export interface NoneType {
  readonly kind: "none";
}
export interface OptionalType<T extends ValueType = ValueType> {
  readonly kind: "optional";
  readonly type: T;
}

export type ValueType = IntType | NumberType | BoolType | StringType<string> | BytesType | ArrayType<any> | RecordType<any> | NoneType;
export type FieldType = ValueType | OptionalType<any>;

type OptionalKeys<F> = { [K in keyof F]: F[K] extends OptionalType<any> ? K : never }[keyof F];
type RequiredKeys<F> = Exclude<keyof F, OptionalKeys<F>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript type of the values a ValueType admits. */
export type Infer<T> = T extends IntType | NumberType
  ? number
  : T extends BoolType
    ? boolean
    : T extends StringType<infer E>
      ? E
      : T extends BytesType
        ? Uint8Array
        : T extends ArrayType<infer I>
          ? Infer<I>[]
          : T extends RecordType<infer F>
            ? Simplify<{ [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: F[K] extends OptionalType<infer O> ? Infer<O> : never }>
            : T extends NoneType
              ? undefined
              : never;

const DEFAULT_STRING_LENGTH = 256;
const DEFAULT_BYTES_LENGTH = 1024;
const DEFAULT_ARRAY_ITEMS = 64;

/** Builders for value types. Every bound has a default, so no type admits unbounded data. */
export const t = {
  int(range: { min?: number; max?: number } = {}): IntType {
    return { kind: "int", min: range.min ?? Number.MIN_SAFE_INTEGER, max: range.max ?? Number.MAX_SAFE_INTEGER };
  },
  number(range: { min?: number; max?: number } = {}): NumberType {
    return { kind: "number", min: range.min ?? -Number.MAX_VALUE, max: range.max ?? Number.MAX_VALUE };
  },
  bool(): BoolType {
    return { kind: "bool" };
  },
  string(options: { maxLength?: number; minLength?: number; pattern?: string } = {}): StringType<string> {
    return { kind: "string", maxLength: options.maxLength ?? DEFAULT_STRING_LENGTH, minLength: options.minLength, pattern: options.pattern };
  },
  enum<const E extends string>(values: readonly E[]): StringType<E> {
    let longest = 0;
    for (const v of values) longest = Math.max(longest, v.length);
    return { kind: "string", maxLength: longest, enum: values };
  },
  bytes(options: { maxLength?: number; minLength?: number } = {}): BytesType {
    return { kind: "bytes", maxLength: options.maxLength ?? DEFAULT_BYTES_LENGTH, minLength: options.minLength };
  },
  array<I extends ValueType>(items: I, options: { maxItems?: number } = {}): ArrayType<I> {
    return { kind: "array", items, maxItems: options.maxItems ?? DEFAULT_ARRAY_ITEMS };
  },
  record<F extends Record<string, FieldType>>(fields: F): RecordType<F> {
    return { kind: "record", fields };
  },
  optional<T extends ValueType>(type: T): OptionalType<T> {
    return { kind: "optional", type };
  },
  none(): NoneType {
    return { kind: "none" };
  },
};
