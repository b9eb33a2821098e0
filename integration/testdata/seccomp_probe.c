/*
 * seccomp_probe: makes the syscalls named on its command line and prints
 * one line for each, "name=<return value>" or "name=errno:<errno>", so a
 * test can tell a seccomp verdict from the kernel's own answer. Built
 * static by the integration tests and copied into a container's rootfs
 * (busybox has no way to make most of these calls).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long probe(const char *name)
{
	struct timespec ts = {0, 0};

	if (!strcmp(name, "unshare"))
		return unshare(CLONE_NEWUTS);
	if (!strcmp(name, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring */
		return syscall(SYS_keyctl, 0, -3, 0);
	if (!strcmp(name, "mount"))
		return mount("none", "/probe-mnt", "tmpfs", 0, NULL);
	if (!strcmp(name, "clock_settime")) /* EINVAL from the kernel: the clock is not settable */
		return syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts);
	if (!strcmp(name, "clone3")) /* EINVAL or EFAULT from the kernel */
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(name, "getpid"))
		return getpid() > 0 ? 0 : -1;
	if (!strcmp(name, "getppid"))
		return syscall(SYS_getppid);
	if (!strcmp(name, "personality-query")) /* 0xffffffff queries */
		return syscall(SYS_personality, 0xffffffffUL);
	if (!strcmp(name, "personality-linux"))
		return syscall(SYS_personality, 0x0UL);
	errno = ENOENT;
	return -1;
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		long r;

		errno = 0;
		r = probe(argv[i]);
		if (r == -1 && errno != 0)
			printf("%s=errno:%d\n", argv[i], errno);
		else
			printf("%s=%ld\n", argv[i], r);
	}
	fflush(stdout);
	return 0;
}
