// Debian's libseccomp.a is compiled against glibc with _FORTIFY_SOURCE,
// so it calls glibc's checked __fprintf_chk (in its PFC text dump, which
// raind never asks for). musl has no such function; this one lets the
// shim link statically against musl. Everything else libseccomp calls
// (malloc, syscall, prctl, FILE*, errno through __errno_location) has the
// same ABI in both C libraries. glibc defines __GLIBC__ in every header,
// so a glibc build keeps glibc's own function.
#include <stdarg.h>
#include <stdio.h>

#ifndef __GLIBC__
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}
#endif
