// The board on Moddable's lin simulator (`mcconfig -p lin`): the simulated board of boards/simulated, its
// time from Moddable's clock. Lin has no ECMA-419 IO, so the simulated provider IS the hardware there, and
// the apps run on it unchanged. Device code.
//
// Why this file sits in boards/ and not in boards/lin/: Moddable loads it as "gatehouse/boards/board" and
// resolves its relative imports against that specifier, so "./simulated/provider" must mean the same on
// disk (for tsc and Node) and in the build: it does only from this folder (boards/README.md).
//
// Build options (mcconfig key=value, optional): simseed=N (sensor noise), simtimescale=N (simulated
// seconds per real second, e.g. 300 for a quick thermostat run).

import config from "mc/config";
import { moddableClock } from "../ports/moddable/platform";
import { createSimulatedProvider } from "./simulated/provider";

function option(name: string, fallback: number): number {
  const value = Number(config[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const board = createSimulatedProvider({
  clock: moddableClock,
  seed: option("simseed", 1),
  timeScale: option("simtimescale", 1),
});

export default board;
