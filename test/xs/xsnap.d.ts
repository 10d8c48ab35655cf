// Type shape of the parts of @agoric/xsnap 0.15.0 that test/support/xs.ts uses (the package ships
// JSDoc-typed JavaScript without declaration files). Written from its src/xsnap.js; not exhaustive.

declare module "@agoric/xsnap" {
  export interface XsnapMeterUsage {
    meterType: string;
    compute: number | null;
    allocate: number | null;
    currentHeapCount: number | null;
    timestamps: number[] | null;
  }
  export interface XsnapRunResult<T> {
    reply: T;
    meterUsage: XsnapMeterUsage;
  }
  export interface XsnapOptions {
    os: string;
    spawn: typeof import("node:child_process").spawn;
    fs: Pick<typeof import("node:fs/promises"), "open" | "stat" | "unlink"> &
      Pick<typeof import("node:fs"), "createReadStream"> & {
        tmpName: (options: { template?: string } | undefined, callback: (err: Error | null, name: string) => void) => void;
      };
    handleCommand?: (request: Uint8Array) => Promise<Uint8Array>;
    name?: string;
    debug?: boolean;
    netstringMaxChunkSize?: number;
    parserBufferSize?: number;
    stdout?: "ignore" | "inherit" | "pipe";
    stderr?: "ignore" | "inherit" | "pipe";
    /** Computrons per crank; 0 = unlimited. Default 1e8. */
    meteringLimit?: number;
    env?: Record<string, string | undefined>;
  }
  export interface XsnapWorker {
    readonly name: string;
    evaluate(code: string): Promise<XsnapRunResult<Uint8Array>>;
    execute(fileName: string): Promise<void>;
    import(fileName: string): Promise<void>;
    issueCommand(message: Uint8Array): Promise<XsnapRunResult<Uint8Array>>;
    issueStringCommand(message: string): Promise<XsnapRunResult<string>>;
    isReady(): Promise<void>;
    close(): Promise<void>;
    terminate(): Promise<void>;
  }
  export function xsnap(options: XsnapOptions): Promise<XsnapWorker>;
}
