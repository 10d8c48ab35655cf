// XS-side entry of test/xs/patch.test.ts: what the native Compartment of XS 13.3 (xsnap) gives a patch,
// and what the patch runner makes of it. Sends one {kind: "patch", ...} message.

import { confine } from "../../sdk/patch/compartment";
import { xsCompartments } from "../../ports/moddable/compartment";
import { errorCode } from "../../sdk/errors";

function send(message: unknown): void {
  issueCommand(new TextEncoder().encode(JSON.stringify(message)).buffer as ArrayBuffer);
}

function probe(): void {
  (globalThis as { hostSecret?: number }).hostSecret = 42;
  // What a bare compartment lets through, without the runner's checks.
  const bare = xsCompartments.create({});
  const escaped = bare.evaluate("(() => { try { return (function () {}).constructor('return globalThis.hostSecret')(); } catch (e) { return 'refused'; } })()");
  let code = "accepted";
  try {
    confine(xsCompartments, {});
  } catch (e) {
    code = errorCode(e);
  }
  send({ kind: "patch", escaped, frozen: Object.isFrozen(Array.prototype), code });
}

(globalThis as { gatehousePatch?: unknown }).gatehousePatch = { probe };
