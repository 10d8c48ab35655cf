// TextEncoder and TextDecoder as globals, as the SDK's CBOR codec expects them (and as XS in xsnap and Node
// have them). Moddable ships both as modules ("text/encoder", "text/decoder"), not as globals: without
// this module the first text string the device encodes fails with "get TextEncoder: undefined variable".
//
// The root manifest.json PRELOADS this module, so the globals exist before any module of the app runs
// (sdk/command/envelope encodes a constant at load time). An app never imports it.

import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";

const global = globalThis as { TextEncoder?: unknown; TextDecoder?: unknown };
global.TextEncoder ??= TextEncoder;
global.TextDecoder ??= TextDecoder;
