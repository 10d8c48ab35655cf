// The smart-lock example as the device suite runs it: unchanged, with its peak memory watched (../../app/memory).
import { watchMemory } from "gatehouse/test/device/app/memory";
import "gatehouse/examples/smart-lock/main";

watchMemory();
