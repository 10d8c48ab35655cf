// The Moddable runtime modules the Moddable port and the examples' device entries use, declared for THIS
// REPO'S type check only (tsc -p tsconfig.json and ports/moddable/tsconfig.json, which have no Moddable
// SDK). A Moddable build does not list this file: mcconfig types these specifiers from $(MODDABLE)/typings
// ($(MODDABLE)/documentation/tools/tools.md, TypeScript), "mc/config" and "mc/ffi" from the typings it generates per build. The
// shapes follow those typings (Moddable SDK 8.2.3), trimmed to what is used here; code written against
// them compiles in both.

declare module "crypt" {
  export class Digest {
    constructor(type: "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512");
    write(message: string | ArrayBuffer): void;
    close(): ArrayBuffer;
    reset(): void;
    readonly blockSize: number;
    readonly outputSize: number;
  }
}

declare module "timer" {
  class Timer {
    private constructor();
    static set(callback: (timer: Timer) => void, interval?: number, repeat?: number): Timer;
    static clear(timer: Timer | undefined | null): void;
    private brand: boolean;
  }
  export { Timer as default };
}

declare module "time" {
  const Time: {
    /** Milliseconds from an arbitrary origin: the device's boot on an ESP32, the Unix epoch on lin. */
    readonly ticks: number;
  };
  export { Time as default };
}

declare module "preference" {
  const Preference: {
    set(domain: string, key: string, value: string | boolean | number | ArrayBuffer): void;
    get(domain: string, key: string): string | boolean | number | ArrayBuffer | undefined;
    delete(domain: string, key: string): void;
    keys(domain: string): string[];
  };
  export { Preference as default };
}

declare module "text/encoder" {
  const TextEncoder: {
    new (): { encode(input: string): Uint8Array; encodeInto(source: string, destination: Uint8Array): { read: number; written: number } };
  };
  export { TextEncoder as default };
}

declare module "text/decoder" {
  const TextDecoder: {
    new (label?: "utf-8", options?: { fatal?: boolean; ignoreBOM?: boolean }): { decode(input?: Uint8Array | ArrayBufferLike): string };
  };
  export { TextDecoder as default };
}

declare module "mc/config" {
  const config: Readonly<Record<string, unknown>>;
  export default config;
}
