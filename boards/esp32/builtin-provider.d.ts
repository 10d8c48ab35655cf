// "embedded:provider/builtin" (Moddable's host provider for the target being built) as far as the ESP32 board
// modules use it, declared for THIS REPO's type check only (tsc -p tsconfig.json, without Moddable), the
// way ports/moddable/types declares the Moddable runtime modules. A Moddable build never lists this file:
// mcconfig types the specifier from $(MODDABLE)/typings/embedded_provider/builtin.d.ts, and
// test/device/typecheck.test.ts type-checks every ESP32 board against those typings, strictly.

declare module "embedded:provider/builtin" {
  const builtin: {
    readonly io: {
      readonly Digital: import("../provider").DigitalClass;
      readonly Analog: import("../provider").AnalogClass;
      readonly I2C: unknown;
    };
    readonly pin: { readonly [name: string]: number };
  };
  export default builtin;
}
