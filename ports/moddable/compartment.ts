// The Compartment port on XS: the engine's native Compartment (documentation/xs/XS Compartment.md). On
// Moddable (XS 17) the intrinsics are frozen and a function constructor reached through a prototype throws
// "secure mode", so confine() (sdk/patch/compartment.ts) accepts it once it has removed the host's
// globals (`trace`, `Native`, `native`, `global`, `Compartment`). XS 13 in xsnap has neither property
// unless the intrinsics are tamed first: confine() refuses it (patch-unavailable).
//
// Evaluating source needs XS's parser in the firmware: an app that takes patches builds with
// `"strip": []` (docs/suit.md, "Patches on the ESP32", has the cost). Device code: no Node built-ins.

import { fail, type CompartmentHandle, type CompartmentPort } from "gatehouse/sdk";

interface XsCompartment {
  readonly globalThis: object;
  evaluate(source: string): unknown;
}
type XsCompartmentConstructor = new (options: { globals: Record<string, unknown> }) => XsCompartment;

export const xsCompartments: CompartmentPort = {
  create(endowments): CompartmentHandle {
    const Compartment = (globalThis as { Compartment?: XsCompartmentConstructor }).Compartment;
    if (typeof Compartment !== "function") fail("patch-unavailable", "this XS build has no Compartment");
    const compartment = new Compartment({ globals: { ...endowments } });
    return { globalThis: compartment.globalThis, evaluate: (source) => compartment.evaluate(source) };
  },
};
