/**
 * Request and reply types derived from the command table (commands.ts): nothing here names a verb or
 * a key. `RequestOf<"PULSE">` is what a host passes, `ParsedRequest<"PULSE">` what a board's handler
 * receives (defaults applied, packed arrays decoded), `ReplyOf<"PULSE">` what a host gets back and
 * `ReplyInput<"PULSE">` what a handler returns.
 */
import type { COMMAND_TABLE, Verb } from "./commands.ts";
import type { PACKED_TYPES, PackedType, PackedValue } from "./packed.ts";

type Table = typeof COMMAND_TABLE;
type ParamsOf<V extends Verb> = Table[V]["params"];
type FieldsOf<V extends Verb> = Table[V]["fields"];

/** The typed array a packed type decodes to. */
export type TypedOf<T extends PackedType | undefined> = T extends PackedType
  ? InstanceType<(typeof PACKED_TYPES)[T]>
  : never;

type TokenOf<P> = P extends { readonly oneOf: readonly (infer U)[] } ? U : string;

/** What a sender passes for a parameter. */
type ValueIn<P> = P extends { readonly type: "int" | "number" }
  ? number
  : P extends { readonly type: "token" }
    ? TokenOf<P>
    : P extends { readonly type: "packed" }
      ? ArrayLike<number> | PackedValue | Held<P>
      : number | ArrayLike<number> | PackedValue;

/** A parameter the board may hold (protocol 1.1): the token `last` stands for the held vector. */
type Held<P> = P extends { readonly held: true } ? "last" : never;

/** What a receiver gets for a parameter once decoded. */
type ValueOut<P> = P extends { readonly type: "int" | "number" }
  ? number
  : P extends { readonly type: "token" }
    ? TokenOf<P>
    : P extends { readonly type: "packed"; readonly packed: infer T extends PackedType }
      ? TypedOf<T> | Held<P>
      : P extends { readonly packed: infer T extends PackedType }
        ? number | TypedOf<T>
        : never;

type FieldOut<F> = F extends { readonly type: "int" | "number" }
  ? number
  : F extends { readonly type: "token" }
    ? string
    : F extends { readonly packed: infer T extends PackedType }
      ? TypedOf<T>
      : never;

type FieldIn<F> = F extends { readonly type: "int" | "number" }
  ? number
  : F extends { readonly type: "token" }
    ? string
    : ArrayLike<number>;

type OptionalKeys<T> = { [K in keyof T]: T[K] extends { readonly optional: true } ? K : never }[keyof T];
type DefaultedKeys<T> = { [K in keyof T]: T[K] extends { readonly default: unknown } ? K : never }[keyof T];
type Flat<T> = { [K in keyof T]: T[K] };

/** The arguments of a request as a host writes them; optional ones may be left out or undefined. */
export type RequestOf<V extends Verb> = Flat<
  { -readonly [K in Exclude<keyof ParamsOf<V>, OptionalKeys<ParamsOf<V>>>]: ValueIn<ParamsOf<V>[K]> } & {
    -readonly [K in OptionalKeys<ParamsOf<V>>]?: ValueIn<ParamsOf<V>[K]> | undefined;
  }
>;

/** The arguments of a request as a board's handler sees them: defaults applied, packed arrays decoded. */
export type ParsedRequest<V extends Verb> = Flat<
  {
    -readonly [K in Exclude<
      keyof ParamsOf<V>,
      Exclude<OptionalKeys<ParamsOf<V>>, DefaultedKeys<ParamsOf<V>>>
    >]: ValueOut<ParamsOf<V>[K]>;
  } & {
    -readonly [K in Exclude<OptionalKeys<ParamsOf<V>>, DefaultedKeys<ParamsOf<V>>>]?: ValueOut<
      ParamsOf<V>[K]
    >;
  }
>;

/** An OK reply as the host decodes it; optional fields are undefined when the board left them out. */
export type ReplyOf<V extends Verb> = Flat<
  { -readonly [K in Exclude<keyof FieldsOf<V>, OptionalKeys<FieldsOf<V>>>]: FieldOut<FieldsOf<V>[K]> } & {
    -readonly [K in OptionalKeys<FieldsOf<V>>]?: FieldOut<FieldsOf<V>[K]>;
  }
>;

/** An OK reply as a board's handler returns it (encoded in table order). */
export type ReplyInput<V extends Verb> = Flat<
  { -readonly [K in Exclude<keyof FieldsOf<V>, OptionalKeys<FieldsOf<V>>>]: FieldIn<FieldsOf<V>[K]> } & {
    -readonly [K in OptionalKeys<FieldsOf<V>>]?: FieldIn<FieldsOf<V>[K]>;
  }
>;
