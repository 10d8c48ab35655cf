// The Compartment port on Node: ses 1.15.0's Compartment. The port does not import `ses`: importing it adds
// globals (Compartment, lockdown, harden) to the whole process, and a Compartment is a sandbox only after
// lockdown() froze the intrinsics it shares with the host, which changes the whole process too. Whoever
// owns the process decides: `import "ses"; lockdown();` first (the patch tests do, in their own test files,
// as the xsnap tests do for @endo/init). Before that, ses 1.15.0 does construct Compartments, but their
// intrinsics are the host's, still mutable, so confine() (sdk/patch/compartment.ts) refuses them:
// patch-unavailable.

import { fail } from "../../sdk/errors";
import type { CompartmentHandle, CompartmentPort } from "../../sdk/patch/compartment";

interface SesCompartment {
  readonly globalThis: object;
  evaluate(source: string): unknown;
}
type SesCompartmentConstructor = new (options: { globals: Record<string, unknown>; __options__: true }) => SesCompartment;

export const nodeCompartments: CompartmentPort = {
  create(endowments): CompartmentHandle {
    const Compartment = (globalThis as { Compartment?: SesCompartmentConstructor }).Compartment;
    if (typeof Compartment !== "function") fail("patch-unavailable", 'no Compartment: import "ses" and call lockdown() before patches run');
    // __options__: ses 1.15.0 still reads a first argument without it as the legacy endowments object.
    const compartment = new Compartment({ globals: { ...endowments }, __options__: true });
    return { globalThis: compartment.globalThis, evaluate: (source) => compartment.evaluate(source) };
  },
};
