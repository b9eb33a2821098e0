/*
 * nnp: the program of critest's nonewprivs image. Installed setuid root
 * (hack/critest-registry), it prints the effective uid it runs with:
 * 0 when the kernel honoured the setuid bit, the caller's uid when
 * no_new_privs stopped it. Built statically by hack/critest.sh.
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
	printf("Effective uid: %u\n", (unsigned)geteuid());
	return 0;
}
