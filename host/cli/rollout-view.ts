// How `gatehouse update push|status|abort` show a rollout (host/server/rollouts.ts, GET /api/rollouts/:id):
// a progress bar per device, redrawn in place on a terminal; on anything else (a pipe, a CI log) one
// plain line per device each time its state or progress changes; and a summary at the end.

import type { Rollout, RolloutDevice } from "../server/rollouts";
import { bold, dim, green, red, yellow } from "./util";

const BAR_WIDTH = 24;

function bar(progress: number): string {
  const filled = Math.round((Math.max(0, Math.min(100, progress)) / 100) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
}

function paintState(d: RolloutDevice, stream: NodeJS.WriteStream): string {
  const text = d.code ? `${d.state} (${d.code})` : d.state;
  if (d.state === "confirmed") return green(text, stream);
  if (d.state === "refused" || d.state === "rolled-back" || d.state === "failed") return red(text, stream);
  if (d.state === "aborted" || d.state === "pending") return dim(text, stream);
  return yellow(text, stream);
}

/** One device's line: id, wave, bar, percent, state (and code). */
export function deviceLine(d: RolloutDevice, width: number, stream: NodeJS.WriteStream = process.stdout): string {
  return `${d.device.padEnd(width)}  wave ${d.wave}  ${bar(d.progress)} ${String(d.progress).padStart(3)}%  ${paintState(d, stream)}`;
}

/** The rollout's head line. */
export function headLine(r: Rollout): string {
  return `rollout ${r.id}: manifest ${r.manifestSeq} (${r.imageSize} bytes) to ${r.devices.length} device(s), wave ${r.wave} of ${r.waves}, ${r.state}${r.reason ? `: ${r.reason}` : ""}`;
}

/** Draws a rollout again and again: in place on a TTY, as changed lines elsewhere. */
export class RolloutProgress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private drawn = 0;
  private readonly last = new Map<string, string>();
  private lastHead = "";

  constructor(stream: NodeJS.WriteStream = process.stdout) {
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  draw(r: Rollout): void {
    const width = Math.max(6, ...r.devices.map((d) => d.device.length));
    if (this.tty) {
      // Move up over what was drawn last time and draw every line again, each cleared first.
      let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
      const lines = [headLine(r), ...r.devices.map((d) => deviceLine(d, width, this.stream))];
      for (const line of lines) text += `\x1b[2K${line}\n`;
      this.stream.write(text);
      this.drawn = lines.length;
      return;
    }
    const head = headLine(r);
    if (head !== this.lastHead) this.stream.write(`${head}\n`);
    this.lastHead = head;
    for (const d of r.devices) {
      const key = `${d.state} ${d.progress} ${d.code}`;
      if (this.last.get(d.device) === key) continue;
      this.last.set(d.device, key);
      this.stream.write(`${deviceLine(d, width, this.stream)}\n`);
    }
  }
}

/** Whether a device's state counts as a failure. */
const failed = (d: RolloutDevice) => d.state === "refused" || d.state === "rolled-back" || d.state === "failed";

/** The summary lines: confirmed, refused with reasons, rolled back, failed, aborted, never started. */
export function summaryLines(r: Rollout, stream: NodeJS.WriteStream = process.stdout): string[] {
  const by = (state: RolloutDevice["state"]) => r.devices.filter((d) => d.state === state);
  const withCodes = (list: RolloutDevice[]) => (list.length === 0 ? "" : `: ${list.map((d) => `${d.device} ${d.code ?? "?"}`).join(", ")}`);
  const lines = [bold(`summary of rollout ${r.id} (${r.state})`, stream), `  confirmed    ${by("confirmed").length}`];
  for (const [label, state] of [
    ["refused", "refused"],
    ["rolled back", "rolled-back"],
    ["failed", "failed"],
  ] as const) {
    const list = by(state);
    const line = `  ${label.padEnd(12)} ${list.length}${withCodes(list)}`;
    lines.push(list.length > 0 ? red(line, stream) : line);
  }
  const aborted = by("aborted").length;
  if (aborted > 0) lines.push(`  aborted      ${aborted}`);
  const notStarted = by("pending").length;
  if (notStarted > 0) lines.push(`  not started  ${notStarted}${r.state === "halted" ? " (the rollout halted)" : ""}`);
  const inFlight = r.devices.length - r.devices.filter((d) => d.state === "pending" || d.state === "confirmed" || d.state === "aborted" || failed(d)).length;
  if (inFlight > 0) lines.push(`  in flight    ${inFlight}`);
  return lines;
}

/** 0 when every device confirmed; 1 when any failed, or the rollout did not reach every device. */
export function exitCodeOf(r: Rollout): number {
  return r.devices.every((d) => d.state === "confirmed") ? 0 : 1;
}
