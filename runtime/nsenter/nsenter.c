// The constructor in this file runs before the Go runtime starts, while the
// process is still single-threaded. setns(2) into a mount or user namespace
// refuses a multithreaded caller, and a Go program is never single-threaded,
// so entering a container's namespaces has to happen here.
//
// It acts only when _RAIND_SYNC_FD is set; every other start of the binary
// (the shim itself, -v, -info) passes straight through.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_NS 16

static int sync_fd = -1;

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

// fail reports the cause to the shim, which turns it into the error of
// Create, Exec or Start, and ends the process: nothing after a failed
// namespace step could be trusted.
static void fail(const char *fmt, ...)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "E");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	if (sync_fd >= 0)
		write_all(sync_fd, msg, (size_t)n);
	_exit(1);
}

static void report_pid(pid_t pid)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "P%d\n", (int)pid);
	write_all(sync_fd, msg, (size_t)n);
}

// join_cgroups writes "0" to each cgroup.procs file so that the process is
// inside the container's cgroup before it unshares a cgroup namespace: the
// namespace root is fixed at the cgroup the process is in at that moment.
static void join_cgroups(char *list)
{
	char *save = NULL;
	for (char *path = strtok_r(list, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			fail("join cgroup %s: %s", path, strerror(errno));
		if (write(fd, "0", 1) != 1) {
			int e = errno;
			close(fd);
			fail("join cgroup %s: %s", path, strerror(e));
		}
		close(fd);
	}
}

// join_namespaces opens every namespace file before entering any of them,
// because entering the mount namespace changes what later paths resolve to.
static void join_namespaces(char *list)
{
	int fds[MAX_NS];
	char *paths[MAX_NS];
	int n = 0;
	char *save = NULL;
	for (char *path = strtok_r(list, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
		if (n == MAX_NS)
			fail("too many namespaces to join");
		fds[n] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			fail("open namespace %s: %s", path, strerror(errno));
		paths[n] = path;
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (setns(fds[i], 0) < 0)
			fail("join namespace %s: %s", paths[i], strerror(errno));
		close(fds[i]);
	}
}

__attribute__((constructor)) static void raind_nsenter(void)
{
	const char *fdstr = getenv("_RAIND_SYNC_FD");
	if (fdstr == NULL)
		return;
	sync_fd = atoi(fdstr);

	// From here until execve of the user's program this process runs the
	// shim's own binary inside the container. Not dumpable, its
	// /proc/<pid> (exe, fds, memory) is closed to the container's
	// processes, which is what the /proc/self/exe overwrite of
	// CVE-2019-5736 needs; execve makes the user's program dumpable again.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "raind: prctl(PR_SET_DUMPABLE): %s\n", strerror(errno));
		_exit(1);
	}
	if (sync_fd < 3 || fcntl(sync_fd, F_GETFD) < 0) {
		fprintf(stderr, "raind: bad _RAIND_SYNC_FD %s\n", fdstr);
		_exit(1);
	}

	char *cgroups = getenv("_RAIND_CGROUP_PROCS");
	if (cgroups && *cgroups)
		join_cgroups(strdup(cgroups));

	char *join = getenv("_RAIND_NS_JOIN");
	if (join && *join)
		join_namespaces(strdup(join));

	const char *newns = getenv("_RAIND_NS_NEW");
	if (newns && *newns) {
		char *end = NULL;
		unsigned long flags = strtoul(newns, &end, 0);
		if (end == newns || *end != '\0')
			fail("bad _RAIND_NS_NEW %s", newns);
		if (flags && unshare((int)flags) < 0)
			fail("unshare namespaces 0x%lx: %s", flags, strerror(errno));
	}

	const char *forkstr = getenv("_RAIND_FORK");
	if (forkstr && strcmp(forkstr, "1") == 0) {
		// A new or joined pid namespace only applies to children, so the
		// container process is our child; we report its pid and leave,
		// and the shim, a child subreaper, inherits it.
		pid_t child = fork();
		if (child < 0)
			fail("fork into pid namespace: %s", strerror(errno));
		if (child > 0) {
			report_pid(child);
			_exit(0);
		}
	} else {
		report_pid(getpid());
	}

	unsetenv("_RAIND_CGROUP_PROCS");
	unsetenv("_RAIND_NS_JOIN");
	unsetenv("_RAIND_NS_NEW");
	unsetenv("_RAIND_FORK");
}
