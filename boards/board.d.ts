// The module every board manifest maps: "gatehouse/boards/board", the board an app was built for. A Moddable
// entry (examples/*/main.ts) imports it and hands it to its app:
//
//   import board from "gatehouse/boards/board";
//   installThermostat({ device, provider: board, timers });
//
// In a Moddable build, boards/manifest.json picks the board by platform (`-p`) and the module's own types
// apply; this declaration gives every other type check (tsc -p tsconfig.json, without Moddable) the
// contract instead, so an entry type-checks the same against any board.

declare module "gatehouse/boards/board" {
  const board: import("./provider").BoardProvider;
  export default board;
}
