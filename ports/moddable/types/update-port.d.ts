// For THIS REPO'S type check only (as moddable-runtime.d.ts): the modules the lin update port uses and the
// platform's update port module. A Moddable build does not list this file: mcconfig types "file" from
// $(MODDABLE)/typings/file.d.ts, "mc/ffi" from the typings it generates per build, and
// "gatehouse/ports/moddable/update-port" from the module the platform's manifest maps
// (ports/moddable/manifest_update.json: update-lin/port.ts on lin, update-esp32/create.ts on an ESP32).

declare module "file" {
  export class File {
    constructor(path: string, write?: boolean);
    read(type: typeof ArrayBuffer, count?: number): ArrayBuffer;
    write(...items: (ArrayBuffer | string)[]): void;
    close(): void;
    readonly length: number;
    position: number;
    static delete(path: string): boolean;
    static exists(path: string): boolean;
    static rename(from: string, to: string): boolean;
  }
  export class Directory {
    static create(path: string): void;
  }
}

declare module "mc/ffi" {
  export default class FFI {
    exit(status: number): void;
  }
}

declare module "gatehouse/ports/moddable/update-port" {
  import type { UpdatePort } from "gatehouse/sdk";
  export function createUpdatePort(option: (name: string, fallback?: string) => string | undefined): UpdatePort;
}
