// The simulated board (boards/simulated) and the drivers (boards/drivers): the physics behind the pins
// checked against independent computations, the ECMA-419 behaviour of its IO classes, the drivers'
// conversions, and that an app does not care which pin numbers a board uses.
import test from "ava";
import { createSimulatedProvider, SIMULATED_PINS } from "../boards/simulated/provider";
import { World } from "../boards/simulated/world";
import { ntcCelsius, Thermometer, tmp36Celsius, tmp36Volts } from "../boards/drivers/thermometer";
import { Relay } from "../boards/drivers/relay";
import { DoorContact, LockActuator } from "../boards/drivers/lock";
import { LightSensor } from "../boards/drivers/light";
import { PIN_NAMES, type BoardPins } from "../boards/provider";
import { GatehouseError } from "../sdk/errors";
import { installThermostat } from "../examples/thermostat/app";
import { AppBench, ManualClock } from "./support/app-bench";

test("the room follows its equation: the exact solution agrees with a fine numerical integration, whatever the steps", (t) => {
  // Outside 10 °C ± 5 °C over the day, the heater on: integrate dT/dt = -k (T - A(t)) + H independently.
  const room = { ambient: 10, swing: 5, initial: 12, loss: 0.001, heat: 0.02, noise: 0 };
  const clock = new ManualClock();
  const world = new World({ clock, startHour: 0, room });
  world.room.setHeater(true);
  const coarse = new World({ clock, startHour: 0, room });
  coarse.room.setHeater(true);

  const dt = 0.5; // seconds, Euler: error O(dt) << the tolerance below
  let temperature = room.initial;
  for (let step = 1; step <= (6 * 3600) / dt; step++) {
    const time = (step - 1) * dt;
    const outside = room.ambient + room.swing * Math.sin(((2 * Math.PI) / 86400) * (time - 9 * 3600));
    temperature += dt * (-room.loss * (temperature - outside) + room.heat);
    if (step % 1200 === 0) {
      clock.now = step * dt * 1000;
      const exact = world.room.celsius(); // read every 10 minutes
      t.true(Math.abs(exact - temperature) < 0.01, `after ${step * dt} s: exact ${exact.toFixed(4)} vs numeric ${temperature.toFixed(4)}`);
    }
  }
  t.true(Math.abs(coarse.room.celsius() - world.room.celsius()) < 1e-9, "one 6-hour step gives what 36 steps gave");
  t.true(world.room.celsius() > 25, "the heater warms the room well above outside");
});

test("heater off, the room drifts to the outside temperature (default model: 16 °C, k = 0.01/s)", (t) => {
  const clock = new ManualClock();
  const world = new World({ clock, room: { initial: 26, noise: 0 } });
  clock.now = 100_000;
  t.true(Math.abs(world.room.celsius() - (16 + 10 * Math.exp(-1))) < 1e-9);
  world.room.setHeater(true);
  clock.now = 10_000_000;
  t.true(Math.abs(world.room.celsius() - 26) < 1e-6, "the heater alone holds it 10 °C above outside");
  t.is(world.room.switches, 1);
});

test("the bolt takes its travel time; a thrown bolt holds the door shut and stops an open door from closing", (t) => {
  const clock = new ManualClock();
  const world = new World({ clock, door: { boltTravelMs: 200 } });
  t.is(world.door.bolt(), 1, "unpowered, the spring has thrown the bolt");
  t.true(world.door.secured());
  t.false(world.door.open());
  world.door.setActuator(true);
  clock.now = 100;
  t.true(Math.abs(world.door.bolt() - 0.5) < 1e-9, "half way after half the travel time");
  t.false(world.door.open(), "half retracted still holds the door");
  clock.now = 200;
  t.true(world.door.open());
  world.door.setActuator(false);
  clock.now = 400;
  t.is(world.door.bolt(), 1);
  t.false(world.door.close(), "a thrown bolt hits the frame");
  t.false(world.door.closed);
});

test("daylight: dark from 18:00 to 06:00, full at noon; time scaled by timeScale", (t) => {
  const clock = new ManualClock();
  const world = new World({ clock, startHour: 0, timeScale: 3600 }); // an hour per second
  const levels = [0, 3, 6, 9, 12, 15, 18, 21].map((hour) => {
    clock.now = hour * 1000;
    return Math.round(world.daylight.level() * 10) / 10;
  });
  t.deepEqual(levels, [0, 0, 0, 70.7, 100, 70.7, 0, 0]);
  clock.now = 25_500;
  t.is(Math.round(world.hour() * 10) / 10, 1.5, "the day wraps");
});

test("the simulated IO classes behave as ECMA-419 IO on the ESP32: in use, wrong kind, bad mode, closed", (t) => {
  const provider = createSimulatedProvider({ clock: new ManualClock() });
  const { Digital, Analog } = provider.io;
  const heater = new Digital({ pin: provider.pin.heater, mode: Digital.Output });
  t.throws(() => new Digital({ pin: provider.pin.heater, mode: Digital.Output }), { instanceOf: RangeError, message: "in use" });
  t.throws(() => new Digital({ pin: provider.pin.doorContact, mode: 42 }), { instanceOf: RangeError, message: "invalid mode" });
  t.throws(() => new Digital({ pin: provider.pin.doorContact, mode: Digital.Output }), { instanceOf: RangeError, message: /digital input/ });
  t.throws(() => new Digital({ pin: provider.pin.temperature, mode: Digital.Input }), { instanceOf: RangeError, message: /analog sensor/ });
  t.throws(() => new Analog({ pin: provider.pin.lock }), { instanceOf: RangeError, message: /digital output/ });
  t.throws(() => new Analog({ pin: 99 }), { instanceOf: RangeError, message: "invalid pin 99" });
  t.throws(() => new Analog({ pin: provider.pin.light, resolution: 10 }), { instanceOf: RangeError });
  heater.write(1);
  t.true(provider.simulation.room.heaterOn);
  t.is(heater.read(), 1, "an output reads back its level");
  t.throws(() => heater.write(2 as 0 | 1), { instanceOf: RangeError });
  heater.close();
  t.throws(() => heater.write(0), { message: "closed" });
  t.notThrows(() => new Digital({ pin: provider.pin.heater, mode: Digital.Output }).close(), "a closed pin can be opened again");
  const contact = new Digital({ pin: provider.pin.doorContact, mode: Digital.InputPullUp });
  t.throws(() => contact.write(1), { instanceOf: RangeError, message: "not an output" });
  const light = new Analog({ pin: provider.pin.light });
  t.is(light.resolution, 12);
  t.true(light.read() >= 0 && light.read() <= 4095);
});

test("the door contact reads as a reed switch to ground: low while closed; open, only the pull-up gives a clean high", (t) => {
  const clock = new ManualClock();
  const provider = createSimulatedProvider({ clock, door: { boltTravelMs: 0 } });
  const { Digital } = provider.io;
  const pullUp = new Digital({ pin: provider.pin.doorContact, mode: Digital.InputPullUp });
  t.is(pullUp.read(), 0);
  provider.simulation.door.setActuator(true);
  clock.now = 1;
  t.true(provider.simulation.door.open());
  t.is(pullUp.read(), 1);
  pullUp.close();
  const floating = new Digital({ pin: provider.pin.doorContact, mode: Digital.Input });
  const reads = new Set(Array.from({ length: 64 }, () => floating.read()));
  t.deepEqual([...reads].sort(), [0, 1], "without a bias the open contact floats");
  floating.close();
  const pullDown = new Digital({ pin: provider.pin.doorContact, mode: Digital.InputPullDown });
  t.is(pullDown.read(), 0, "a pull-down cannot tell open from closed");
});

test("drivers: TMP36 and NTC conversions, the thermometer within one ADC step of the room, the light level", (t) => {
  t.true(Math.abs(tmp36Celsius(tmp36Volts(21.5)) - 21.5) < 1e-9);
  t.true(Math.abs(tmp36Celsius(0.75) - 25) < 1e-9, "750 mV is 25 °C");
  t.true(Math.abs(ntcCelsius(1.65, { kind: "ntc" }) - 25) < 1e-9, "half the supply: R = R25");
  const cold = ntcCelsius(2.2, { kind: "ntc" }); // NTC to ground: a higher voltage is a higher resistance: colder
  t.true(cold < 25 && cold > 0, `${cold}`);
  t.true(Number.isNaN(ntcCelsius(0, { kind: "ntc" })), "shorted");
  t.true(Number.isNaN(ntcCelsius(3.3, { kind: "ntc" })), "open");

  const clock = new ManualClock();
  const provider = createSimulatedProvider({ clock, room: { initial: 23.4, noise: 0 } });
  const thermometer = new Thermometer({ io: provider.io.Analog, pin: provider.pin.temperature, samples: 4 });
  t.true(Math.abs(thermometer.read() - 23.4) <= 0.06, `one 12-bit step over 2.45 V is 0.06 °C: ${thermometer.read()}`);
  t.throws(() => new Thermometer({ io: provider.io.Analog, pin: provider.pin.light, samples: 0 }), { instanceOf: GatehouseError, message: /samples/ });
  const light = new LightSensor({ io: provider.io.Analog, pin: provider.pin.light });
  t.true(Math.abs(light.read() - 70.7) < 1, "9 am");
});

test("drivers: the relay and the fail-secure lock actuator drive the right levels, active-low too", (t) => {
  const clock = new ManualClock();
  const provider = createSimulatedProvider({ clock, door: { boltTravelMs: 0 } });
  // The simulated heater runs on a high level; an active-low relay module would invert that.
  const relay = new Relay({ io: provider.io.Digital, pin: provider.pin.heater, activeLow: true });
  t.false(relay.on);
  t.true(provider.simulation.room.heaterOn, "active-low: off is driven as a high level");
  relay.set(true);
  t.false(provider.simulation.room.heaterOn, "and on as a low one");
  relay.close();

  const actuator = new LockActuator({ io: provider.io.Digital, pin: provider.pin.lock });
  t.true(actuator.locked);
  t.false(provider.simulation.door.actuatorEnergised, "fail-secure: locked is unpowered");
  actuator.unlock();
  t.true(provider.simulation.door.actuatorEnergised);
  clock.now = 1;
  const contact = new DoorContact({ io: provider.io.Digital, pin: provider.pin.doorContact });
  t.true(contact.closed());
  t.true(provider.simulation.door.open());
  t.false(contact.closed());
  actuator.close();
  t.false(provider.simulation.door.actuatorEnergised, "closing the driver locks");
});

test("an app does not care about pin numbers: the thermostat behaves the same on two boards numbered differently", (t) => {
  const numbered: BoardPins[] = [SIMULATED_PINS, { heater: 26, temperature: 34, lock: 25, doorContact: 27, light: 35 }];
  const runs = numbered.map((pins) => {
    const bench = new AppBench({ world: { pins, seed: 5, room: { initial: 17 } } });
    installThermostat({ device: bench.device, provider: bench.provider, timers: bench.timers, tickMs: 1000, readingEvery: 60 });
    bench.online();
    const trace: number[] = [];
    for (let minute = 0; minute < 30; minute++) {
      bench.advance(60_000);
      trace.push(Math.round(bench.provider.simulation.room.celsius() * 1000));
    }
    return { trace, switches: bench.provider.simulation.room.switches, readings: bench.published("telemetry").length };
  });
  t.deepEqual(runs[0], runs[1]);
  t.true(runs[0].switches >= 2, "the loop did switch the heater");
  t.true(Math.abs(runs[0].trace.at(-1)! / 1000 - 20) < 1, "and holds the room near its 20 °C target");
  t.throws(() => createSimulatedProvider({ clock: new ManualClock(), pins: { ...SIMULATED_PINS, light: SIMULATED_PINS.heater } }), { instanceOf: GatehouseError });
  t.deepEqual(Object.keys(SIMULATED_PINS).sort(), [...PIN_NAMES].sort(), "the simulated board names every pin of the contract");
});
