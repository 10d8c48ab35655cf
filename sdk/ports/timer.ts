// The timer port: device code never calls setTimeout (XS has none); it asks the platform for timers.
export type TimerHandle = unknown;

export interface TimerPort {
  set(callback: () => void, ms: number): TimerHandle;
  clear(handle: TimerHandle): void;
}
