// Compile-time checks of the typed door API. This file is never run: `tsc` checks it (test/architecture.test.ts),
// and every `@ts-expect-error` below must be an error, or tsc fails with "Unused '@ts-expect-error' directive".

import { defineDoor, t, type Infer } from "../../sdk/index";
import { DeviceRuntime } from "../../sdk/doors/runtime";
import { SecurityEventLog } from "../../sdk/events";

const relay = defineDoor({
  name: "relay",
  properties: {
    on: { type: t.bool(), read: "view", write: "operate" },
    cycles: { type: t.int({ min: 0 }), read: "view" },
  },
  actions: {
    pulse: { input: t.record({ ms: t.int({ min: 10, max: 5000 }), note: t.optional(t.string()) }), output: t.int(), role: "operate" },
    stop: { input: t.none(), output: t.none(), role: "operate" },
  },
  events: { switched: { data: t.enum(["on", "off"]), role: "view" } },
});

const clock = { wallTime: () => undefined, monotonic: () => 0 };
const runtime = new DeviceRuntime({ events: new SecurityEventLog({ clock, sink: () => {} }) });

const door = runtime.register(relay, {
  read: { on: () => true, cycles: () => 3 },
  write: { on: () => {} },
  invoke: { pulse: (input) => input.ms, stop: () => {} },
});

const on: boolean = door.read("on");
const cycles: number = door.read("cycles");
door.write("on", false);
const pulses: number = door.invoke("pulse", { ms: 100 });
door.invoke("pulse", { ms: 100, note: "test" });
door.invoke("stop");
door.emit("switched", "on");
void [on, cycles, pulses];

// @ts-expect-error: no such property
door.read("voltage");
// @ts-expect-error: a read-only property cannot be written
door.write("cycles", 4);
// @ts-expect-error: wrong value type
door.write("on", "yes");
// @ts-expect-error: wrong field type
door.invoke("pulse", { ms: "100" });
// @ts-expect-error: missing required field
door.invoke("pulse", {});
// @ts-expect-error: no such action
door.invoke("explode");
// @ts-expect-error: an action that takes input needs it
door.invoke("pulse");
// @ts-expect-error: event data outside the enum
door.emit("switched", "maybe");

runtime.register(relay, {
  read: { on: () => true, cycles: () => 3 },
  write: { on: () => {} },
  // @ts-expect-error: an implementation must return the declared output type
  invoke: { pulse: () => "ok", stop: () => {} },
});

// @ts-expect-error: an implementation must provide every getter
runtime.register(relay, { read: { on: () => true }, write: { on: () => {} }, invoke: { pulse: () => 1, stop: () => {} } });

type PulseInput = Infer<typeof relay.actions.pulse.input>;
const input: PulseInput = { ms: 5 };
// @ts-expect-error: extra fields are not part of the type
const extra: PulseInput = { ms: 5, volts: 3 };
void [input, extra];

// Sections a door does not use are left out, in the schema and in the implementation.
const gauge = defineDoor({ name: "gauge", properties: { level: { type: t.int(), read: "view" } } });
runtime.register(gauge, { read: { level: () => 1 } });
// Empty sections are still accepted.
runtime.register(gauge, { read: { level: () => 1 }, write: {}, invoke: {} });
// @ts-expect-error: a door with properties needs its getters
runtime.register(gauge, {});
// @ts-expect-error: a read-only door takes no setters
runtime.register(gauge, { read: { level: () => 1 }, write: { level: () => {} } });
const bell = defineDoor({ name: "bell", actions: { ring: { input: t.none(), output: t.none(), role: "operate" } } });
const bellDoor = runtime.register(bell, { invoke: { ring: () => {} } });
bellDoor.invoke("ring");
// @ts-expect-error: a door with actions needs its functions
runtime.register(bell, { read: {} });
// @ts-expect-error: a door without properties has nothing to read
bellDoor.read("ring");
