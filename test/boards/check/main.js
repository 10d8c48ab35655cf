// Smoke check of a Gatehouse board on Moddable: opens every named pin through the drivers the examples use.
// On lin (the simulated board) it runs and exits through libc exit(); for the ESP32 boards the same manifest
// is only configured, so that test/device/typecheck.test.ts can type-check the board modules with the
// tsconfig mcconfig generates. JavaScript on purpose: the Node type check never sees Moddable specifiers.

import board from "gatehouse/boards/board";
import { Relay } from "gatehouse/boards/drivers/relay";
import { Thermometer } from "gatehouse/boards/drivers/thermometer";
import { DoorContact, LockActuator } from "gatehouse/boards/drivers/lock";
import { LightSensor } from "gatehouse/boards/drivers/light";
import FFI from "mc/ffi"; // lin only (the manifest's ffi block): the ESP32 builds are configured, never linked

let status = 1;
try {
	const heater = new Relay({ io: board.io.Digital, pin: board.pin.heater });
	const thermometer = new Thermometer({ io: board.io.Analog, pin: board.pin.temperature });
	const lock = new LockActuator({ io: board.io.Digital, pin: board.pin.lock });
	const contact = new DoorContact({ io: board.io.Digital, pin: board.pin.doorContact });
	const light = new LightSensor({ io: board.io.Analog, pin: board.pin.light });
	heater.set(true);
	trace(`board-check: heater ${heater.on} temperature ${thermometer.read().toFixed(2)} locked ${lock.locked} closed ${contact.closed()} light ${light.read().toFixed(1)}\n`);
	heater.close();
	thermometer.close();
	lock.close();
	contact.close();
	light.close();
	trace("board-check: ok\n");
	status = 0;
} catch (e) {
	trace(`board-check: FAILED ${e}\n`);
}
new FFI().exit(status);
