// bench/update-lin.ts's device side on Moddable's lin: SHA-256 (Digest, through the Moddable crypto port's
// createSha256) plus a write through the lin update port (update-lin/port.ts: FileUpdatePort over slot
// files), block by block as the update agent stores a download, against SHA-256 alone on the same bytes,
// in the same run. Reported as {kind: "bench", ...}. Not a test: nothing is asserted. Device code.
import { moddableCrypto } from "gatehouse/ports/moddable";
import { createUpdatePort } from "gatehouse/ports/moddable/update-port";
import { describe, env, exit, report } from "gatehouse/test/device/app/report";

const BLOCK = 4096;

function run(): void {
  const kib = Number(env("GATEHOUSE_RUN")) || 2048;
  const size = kib * 1024;
  const block = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) block[i] = (i * 31) & 0xff;
  const port = createUpdatePort((name, fallback) => (name === "updatedir" ? "./gh-bench/" : fallback));

  const hashOnly = (): Uint8Array => {
    const hash = moddableCrypto.createSha256();
    for (let offset = 0; offset < size; offset += BLOCK) {
      block[0] = offset >> 12;
      hash.update(block);
    }
    return hash.digest();
  };
  const hashAndWrite = (): Uint8Array => {
    port.open(size, false);
    const hash = moddableCrypto.createSha256();
    for (let offset = 0; offset < size; offset += BLOCK) {
      block[0] = offset >> 12;
      hash.update(block);
      port.write(offset, block);
    }
    port.sync();
    return hash.digest();
  };
  hashOnly(); // warm-up
  let started = Date.now();
  const a = hashOnly();
  const hashMs = Date.now() - started;
  started = Date.now();
  const b = hashAndWrite();
  const writeMs = Date.now() - started;
  // The slot holds what was hashed: read it back and hash it.
  const check = moddableCrypto.createSha256();
  for (let offset = 0; offset < size; offset += BLOCK) check.update(port.read("inactive", offset, BLOCK));
  const same = check.digest().every((byte, i) => byte === a[i]) && b.every((byte, i) => byte === a[i]);
  port.discard();
  report({ kind: "bench", kib, block: BLOCK, hashMs, writeMs, same });
  exit(same ? 0 : 1);
}

try {
  run();
} catch (e) {
  report({ kind: "crash", error: describe(e) });
  exit(70);
}
