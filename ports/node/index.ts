// The Node platform for the Gatehouse SDK, as one module: `gatehouse/ports/node` (package.json "exports").
// The host simulator and tests build Devices from these ports.
export { nodeCrypto } from "./crypto";
export { nodeClock, nodeTimers } from "./platform";
export { FileStorage, MemoryStorage } from "./storage";
export { NodeMqttTransport, type NodeMqttTransportOptions } from "./transport";
export { nodeUpdatePort, NodeSlotFiles, type NodeUpdatePortOptions } from "./update";
export { nodeCompartments } from "./compartment";
