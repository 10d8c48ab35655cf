// The smart lock (examples/smart-lock) on a real Device and the simulated board, driven by signed commands
// from operator keys of each role: its door rules, every attempt as a signed security event, the lockout
// (an event itself, escalating, bounded, surviving a reboot) and admin-only code rotation with the codes
// kept only as hashes in bounded storage.
import test from "ava";
import type { CborMap } from "../sdk/cbor/types";
import { GatehouseError } from "../sdk/errors";
import { MemoryStorage } from "../ports/node/storage";
import { installSmartLock, SMART_LOCK_DEVICE_OPTIONS, type SmartLockOptions } from "../examples/smart-lock/app";
import { AppBench } from "./support/app-bench";

const MINUTE = 60_000;

function lockBench(options: Partial<SmartLockOptions> & { appStorage?: MemoryStorage } = {}) {
  const bench = new AppBench({ id: "lock-1", device: { events: { ...SMART_LOCK_DEVICE_OPTIONS.events, burst: 100 } }, appStorage: options.appStorage });
  const errors: unknown[] = [];
  const lock = installSmartLock({
    device: bench.device,
    provider: bench.provider,
    clock: bench.clock,
    timers: bench.timers,
    crypto: bench.crypto,
    storage: bench.appStorage,
    onError: (e) => errors.push(e),
    ...options,
  });
  bench.online();
  return { bench, lock, errors, world: bench.provider.simulation };
}

test("a fresh lock is locked and holds no codes; only an administrator rotates them in; an operator then unlocks with one", (t) => {
  const { bench, world } = lockBench();
  t.deepEqual(bench.command("viewer", "lock", "read.state").value, new Map<string, unknown>([["locked", true], ["doorClosed", true], ["lockedOutSeconds", 0]]));
  t.false(world.door.open(), "the bolt is thrown: the door does not open");

  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: false, code: "no-codes" });
  t.like(bench.command("operator", "lock", "invoke.rotateCodes", new Map([["codes", ["2468"]]])), { ok: false, code: "not-allowed" });
  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["2468", "13579"]]])), { ok: true, value: 2 });
  t.is(bench.command("viewer", "lock", "read.codes").value, 2);
  t.like(bench.command("viewer", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: false, code: "not-allowed" });

  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "13579"]])), { ok: true });
  t.false((bench.command("viewer", "lock", "read.state").value as CborMap).get("locked"));
  bench.advance(300); // the bolt's travel (200 ms)
  t.true(world.door.open(), "the bolt is retracted: the door opens");

  // Every attempt is a signed security event, allowed ones too, naming who tried what.
  const attempts = bench.events().filter((e) => e.op === "invoke.unlock" || e.op === "invoke.rotateCodes");
  t.deepEqual(
    attempts.map((e) => [e.code, e.allowed, e.principal, e.op]),
    [
      ["no-codes", false, bench.principal("operator"), "invoke.unlock"],
      ["not-allowed", false, bench.principal("operator"), "invoke.rotateCodes"],
      ["allowed", true, bench.principal("admin"), "invoke.rotateCodes"],
      ["not-allowed", false, bench.principal("viewer"), "invoke.unlock"],
      ["allowed", true, bench.principal("operator"), "invoke.unlock"],
    ],
  );
});

test("locking is refused while the door is open; the relock waits until the door is closed, then throws the bolt", (t) => {
  const { bench, world } = lockBench({ relockAfterMs: 2000, pollMs: 100 });
  bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["2468"]]]));
  bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]]));
  bench.advance(300);
  t.true(world.door.open());
  bench.advance(200); // the poll loop sees the door open
  t.like(bench.command("operator", "lock", "invoke.lock"), { ok: false, code: "door-open" });

  bench.advance(5000); // long past relockAfterMs, but the door is still open: no relock
  t.false((bench.command("viewer", "lock", "read.state").value as CborMap).get("locked"));
  t.true(world.door.close());
  bench.advance(200);
  t.true((bench.command("viewer", "lock", "read.state").value as CborMap).get("locked"), "relocked once the door closed");
  bench.advance(300);
  t.is(world.door.bolt(), 1);
  t.false(world.door.open(), "and the bolt holds the door");

  // The relock went through the door like any attempt: an allowed event by the local principal.
  t.true(bench.events().some((e) => e.principal === "local" && e.op === "invoke.lock" && e.allowed));
  // The bolt and the door were reported as telemetry, in order.
  const changes = bench
    .published("telemetry")
    .filter(({ body }) => body.get("event") === "changed")
    .map(({ body }) => Object.fromEntries(body.get("data") as CborMap));
  t.deepEqual(changes, [
    { locked: false, doorClosed: true },
    { locked: false, doorClosed: false },
    { locked: false, doorClosed: true },
    { locked: true, doorClosed: true },
  ]);
});

test("five wrong codes start a lockout: the fifth is refused as `lockout`, then every code is `locked-out` until it ends", (t) => {
  const { bench, world } = lockBench({ maxAttempts: 5, lockoutMs: MINUTE, maxLockoutMs: 4 * MINUTE });
  bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["2468"]]]));
  const wrong = () => bench.command("operator", "lock", "invoke.unlock", new Map([["code", "0000"]]));
  const right = () => bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]]));

  for (let i = 4; i >= 1; i--) t.like(wrong(), { ok: false, code: "wrong-code", message: `wrong code (${i} more before a lockout)` });
  t.like(wrong(), { ok: false, code: "lockout", message: "wrong code, 5 in a row: unlocking is locked out for 60 s" });
  t.like(right(), { ok: false, code: "locked-out" }, "during a lockout the right code does not open either");
  t.is((bench.command("viewer", "lock", "read.state").value as CborMap).get("lockedOutSeconds"), 60);
  t.false(world.door.open());

  // The lockout is a security event (the refusal that started it) and telemetry the rate limit cannot hold back.
  const codes = bench.events().filter((e) => e.op === "invoke.unlock").map((e) => e.code);
  t.deepEqual(codes, ["wrong-code", "wrong-code", "wrong-code", "wrong-code", "lockout", "locked-out"]);
  const lockouts = bench.published("telemetry").filter(({ body }) => body.get("event") === "lockout");
  t.deepEqual(lockouts.map(({ body }) => Object.fromEntries(body.get("data") as CborMap)), [{ seconds: 60, level: 1 }]);

  bench.advance(59_000);
  t.like(right(), { ok: false, code: "locked-out" });
  bench.advance(1_000);
  // Escalation: the next streak locks out twice as long, then four times, then no longer (bounded).
  for (const seconds of [120, 240, 240]) {
    for (let i = 0; i < 4; i++) wrong();
    t.like(wrong(), { ok: false, code: "lockout", message: `wrong code, 5 in a row: unlocking is locked out for ${seconds} s` });
    bench.advance(seconds * 1000);
  }
  t.like(right(), { ok: true }, "after the lockout the right code opens");
  // A right code ends the escalation: the next lockout is the first one again.
  for (let i = 0; i < 5; i++) wrong();
  t.is((bench.command("viewer", "lock", "read.state").value as CborMap).get("lockedOutSeconds"), 60);
});

test("a reboot neither resets the wrong-code count nor ends a lockout early", (t) => {
  const storage = new MemoryStorage();
  const first = lockBench({ appStorage: storage, maxAttempts: 3 });
  first.bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["2468"]]]));
  first.bench.command("operator", "lock", "invoke.unlock", new Map([["code", "1111"]]));
  first.bench.command("operator", "lock", "invoke.unlock", new Map([["code", "1111"]]));

  const second = lockBench({ appStorage: storage, maxAttempts: 3 }); // same storage, new device and clock
  t.is(second.bench.command("viewer", "lock", "read.codes").value, 1, "the code hashes survived");
  t.like(second.bench.command("operator", "lock", "invoke.unlock", new Map([["code", "1111"]])), { ok: false, code: "lockout" }, "the third wrong code in a row, across the reboot");

  const third = lockBench({ appStorage: storage, maxAttempts: 3 });
  t.like(third.bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: false, code: "locked-out" }, "a reboot during a lockout starts it over");
  third.bench.advance(MINUTE);
  t.like(third.bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: true });
});

test("codes are kept only as salted hashes within the storage limits; a rotation replaces every old code", (t) => {
  const { bench } = lockBench();
  const codes = ["24681357", "11112222", "90909090", "31415926", "27182818", "16180339", "14142135", "17320508"];
  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", codes]])), { ok: true, value: 8 });
  const stored = bench.appStorage.read("lock.codes") as Uint8Array;
  t.is(stored.length, 2 + 8 * 32, "format, count and eight SHA-256 hashes: far below the 4,000-byte limit");
  const text = Buffer.from(stored).toString("latin1");
  for (const code of codes) t.false(text.includes(code), "no code in the clear");
  const expected = bench.crypto.sha256(Buffer.from(`gatehouse lock code v1\u0000lock-1\u0000${codes[0]}`, "ascii"));
  t.deepEqual(stored.subarray(2, 34), expected, "salted with the device id");

  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["5555"]]])), { ok: true, value: 1 });
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", codes[0]]])), { ok: false, code: "wrong-code" }, "the old codes are gone");
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "5555"]])), { ok: true });

  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["5555", "5555"]]])), { ok: false, code: "invalid-codes" });
  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", []]])), { ok: false, code: "invalid-codes" });
  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", [...codes, "12345"]]])), { ok: false, code: "invalid-args" }, "at most 8, by schema");
  t.like(bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["12a4"]]])), { ok: false, code: "invalid-args" }, "digits only, by schema");
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "5555"]])), { ok: true }, "a refused rotation changed nothing");
});

test("stored codes that do not parse are reported and the lock then holds none (it stays shut)", (t) => {
  const storage = new MemoryStorage();
  storage.write("lock.codes", Uint8Array.of(1, 2, 0xaa));
  const { bench, errors } = lockBench({ appStorage: storage });
  t.is(errors.length, 1);
  t.is((errors[0] as GatehouseError).code, "codes-corrupt");
  t.is(bench.command("viewer", "lock", "read.codes").value, 0);
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: false, code: "no-codes" });
});

test("stored lockout counters that do not parse are reported and read as a running lockout, never as a reset", (t) => {
  const storage = new MemoryStorage();
  storage.write("lock.guard", Uint8Array.of(0, 0, 7, 7));
  const { bench, errors } = lockBench({ appStorage: storage });
  t.is((errors[0] as GatehouseError).code, "guard-corrupt");
  bench.command("admin", "lock", "invoke.rotateCodes", new Map([["codes", ["2468"]]]));
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: false, code: "locked-out" });
  bench.advance(MINUTE);
  t.like(bench.command("operator", "lock", "invoke.unlock", new Map([["code", "2468"]])), { ok: true });
});

test("options out of bounds are refused with invalid-options", (t) => {
  for (const options of [{ maxAttempts: 0 }, { maxAttempts: 21 }, { lockoutMs: 500 }, { lockoutMs: 2 * MINUTE, maxLockoutMs: MINUTE }, { maxLockoutMs: 2 * 86_400_000 }, { pollMs: 1 }, { relockAfterMs: -1 }]) {
    const error = t.throws(() => lockBench(options), { instanceOf: GatehouseError });
    t.is(error?.code, "invalid-options", JSON.stringify(options));
  }
});
