// Globals that exist only inside an xsnap worker (Moddable's XS via @agoric/xsnap). Device-side test
// entries in test/xs/ use them; Node code must not.

/** Sends bytes to the Node side's handleCommand (synchronously) and returns its reply. */
declare function issueCommand(message: ArrayBufferLike): ArrayBuffer;
