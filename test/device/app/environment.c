// The device suite's test app reads its parameters from the environment (test/device/app/report.ts).
// libc's getenv itself cannot be bound through XS FFI as is: its prototype (const char* argument) clashes
// with the one FFI declares, and it returns NULL for an unset variable. This returns "" instead.
#include <stdlib.h>

const char* gatehouse_env(char* name)
{
	const char* value = getenv(name);
	return value ? value : "";
}
