// Import this FIRST in a patch test file: it locks this test worker down with ses 1.15.0, which a
// Compartment needs to be a sandbox (ports/node/compartment.ts says why), and which changes the whole
// process: ava runs each test file in its own worker, so only files that import this are locked down.
// "unsafe-debug" keeps error stacks for ava's reporter, as test/xs/ses-env.ts does for @endo/init.
import "ses";

lockdown({ errorTaming: "unsafe-debug", overrideTaming: "severe", consoleTaming: "unsafe", stackFiltering: "verbose" });
