// Import this BEFORE "@endo/init" in every xsnap test file:
//
//   import "./ses-env";
//   import "@endo/init";
//
// @endo/init locks the process down with SES, whose default errorTaming ("safe") hides `error.stack`
// from ava: ava's TAP reporter (used by `npm test`) then crashes on the first failing test of the file
// ("YAMLException: unacceptable kind of an object to dump [object Undefined]"), and an error at load time
// is shown without its message. "unsafe-debug" also leaves V8's stack API alone, so tsx's source maps
// keep working and ava points at the right line. SES reads these variables when lockdown() runs, so they
// must be set before @endo/init is evaluated; ES modules run in import order, hence this separate
// module. An explicit setting in the environment wins.
process.env.LOCKDOWN_ERROR_TAMING ??= "unsafe-debug";
