// Command sequence numbers for this process (docs/protocol.md section 3): max(last + 1, now in µs).
// Unix time in microseconds needs no state across runs: a new process starts above anything an earlier
// one used (unless the clock went back), and within one process the numbers strictly increase, however
// fast commands are signed. Values stay below 2^53 until the year 2255.

let last = 0;

export function nextSequence(): number {
  last = Math.max(last + 1, Date.now() * 1000);
  return last;
}
