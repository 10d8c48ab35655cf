// The thermostat example as the device suite runs it: unchanged, with its peak memory watched (../../app/memory).
import { watchMemory } from "gatehouse/test/device/app/memory";
import "gatehouse/examples/thermostat/main";

watchMemory();
