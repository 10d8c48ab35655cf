// The few Moddable runtime modules the Moddable ports and the examples' device entries use, declared for THIS REPO'S type
// check only (tsc -p tsconfig.json, which has no Moddable SDK). A Moddable build does not list this file:
// mcconfig types these specifiers from $(MODDABLE)/typings (docs/moddable.md section 1), and "mc/config"
// from the typing it generates per build. The shapes follow those typings, trimmed to what is used here.

declare module "timer" {
  const Timer: {
    set(callback: (timer: object) => void, ms?: number, repeat?: number): object;
    clear(timer: object | undefined): void;
  };
  export default Timer;
}

declare module "time" {
  const Time: {
    /** Milliseconds from an arbitrary origin (the device's boot). */
    readonly ticks: number;
  };
  export default Time;
}

declare module "preference" {
  const Preference: {
    set(domain: string, key: string, value: boolean | number | string | ArrayBuffer): void;
    get(domain: string, key: string): boolean | number | string | ArrayBuffer | undefined;
    delete(domain: string, key: string): void;
    keys(domain: string): string[];
  };
  export default Preference;
}

declare module "mc/config" {
  const config: Readonly<Record<string, unknown>>;
  export default config;
}
