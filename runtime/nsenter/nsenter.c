// The constructor in this file runs before the Go runtime starts, while the
// process is still single-threaded. setns(2) into a mount or user namespace
// refuses a multithreaded caller, and a Go program is never single-threaded,
// so entering a container's namespaces has to happen here.
//
// It acts only when _RAIND_SYNC_FD is set; every other start of the binary
// (the shim itself, -v, -info) passes straight through.
//
// Its order, each step's reason given where it is taken: oom_score_adj and
// the cgroups, as host root; the host's supplementary groups dropped; the
// namespaces joined by path (all but a user namespace, then the user
// namespace, then the rest); a new user namespace, alone and before every
// other new one, its maps written from outside; the other new namespaces
// in one unshare; a new time namespace's offsets, written from outside;
// the fork into the pid and time namespaces. runc's nsexec.c takes the
// same order.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_NS 16

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

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

// join_pass enters every still-open namespace of fds whose type is in
// allow. With skip_eperm a namespace refused for lack of privilege stays
// open for a later pass; any other error is fatal.
static void join_pass(int *fds, int *types, char **paths, int n, int allow, int skip_eperm)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0 || !(types[i] & allow))
			continue;
		if (setns(fds[i], types[i]) < 0) {
			if (skip_eperm && errno == EPERM)
				continue;
			fail("join namespace %s: %s", paths[i], strerror(errno));
		}
		close(fds[i]);
		fds[i] = -1;
		if (types[i] == CLONE_NEWUSER) {
			// The host's ids are not mapped in there: become the
			// namespace's root, as after a new user namespace, so
			// that the rest of the set-up acts as a mapped user.
			if (setresgid(0, 0, 0) < 0)
				fail("become gid 0 in user namespace %s: %s", paths[i], strerror(errno));
			if (setresuid(0, 0, 0) < 0)
				fail("become uid 0 in user namespace %s: %s", paths[i], strerror(errno));
		}
	}
}

// join_namespaces opens every namespace file before entering any of them,
// because entering the mount namespace changes what later paths resolve
// to. It enters them in three passes, as runc does: first all but the
// user namespace, while we still hold the host's privileges (a network
// namespace made by a CNI plugin belongs to the host's user namespace,
// and nothing inside the container's could enter it); then the user
// namespace; then whatever needed its privileges (a namespace only the
// container's user namespace may enter). Each kind is asked of the
// kernel (NS_GET_NSTYPE), so a path cannot pose as another kind.
static void join_namespaces(char *list)
{
	int fds[MAX_NS];
	int types[MAX_NS];
	char *paths[MAX_NS];
	int n = 0;
	char *save = NULL;
	for (char *path = strtok_r(list, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
		if (n == MAX_NS)
			fail("too many namespaces to join");
		fds[n] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			fail("open namespace %s: %s", path, strerror(errno));
		types[n] = ioctl(fds[n], NS_GET_NSTYPE);
		if (types[n] <= 0)
			fail("namespace %s: not a namespace file: %s", path, strerror(errno));
		paths[n] = path;
		n++;
	}
	join_pass(fds, types, paths, n, ~CLONE_NEWUSER, 1);
	join_pass(fds, types, paths, n, CLONE_NEWUSER, 0);
	join_pass(fds, types, paths, n, ~CLONE_NEWUSER, 0);
}

// await_ack reads the one byte the spawning side answers a request line
// with. Anything else, or a closed socket, ends us: the spawning side
// kills us when it cannot do its part.
static void await_ack(char want)
{
	char ack;
	ssize_t r;
	do {
		r = read(sync_fd, &ack, 1);
	} while (r < 0 && errno == EINTR);
	if (r != 1 || ack != want)
		_exit(1);
}

// new_user_namespace unshares a user namespace on its own, before any
// other namespace is made, so that the later ones belong to it: a mount
// namespace whose mounts it may change, a network namespace that lets it
// mount sysfs, a pid namespace that lets it mount proc. A process inside
// has no privilege over the host's ids, so the maps are written from
// outside: we say "U<pid>" and the spawning side, in the parent user
// namespace, writes /proc/<pid>/uid_map and gid_map, then answers one
// byte. If it cannot, it kills us; a closed socket ends us too.
static void new_user_namespace(void)
{
	if (unshare(CLONE_NEWUSER) < 0)
		fail("unshare user namespace: %s", strerror(errno));
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "U%d\n", (int)getpid());
	write_all(sync_fd, msg, (size_t)n);
	await_ack('M');
	// Root of the namespace now; the capabilities the namespace gave us
	// stay, since the change is to uid 0 (capabilities(7)).
	if (setresgid(0, 0, 0) < 0)
		fail("become gid 0 in the new user namespace: %s", strerror(errno));
	if (setresuid(0, 0, 0) < 0)
		fail("become uid 0 in the new user namespace: %s", strerror(errno));
}

// request_time_offsets has the spawning side write the clock offsets of
// the time namespace just unshared ("T<pid>"). A time namespace takes
// offsets only until a process is in it, and applies to children only,
// so this comes before the fork that puts the container process there.
// It is written from outside, as runc does, because inside a user
// namespace we cannot open our own /proc/self/timens_offsets: while we
// are not dumpable our /proc files belong to the host's root, a stranger
// there.
static void request_time_offsets(void)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "T%d\n", (int)getpid());
	write_all(sync_fd, msg, (size_t)n);
	await_ack('T');
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

	// Before any namespace: lowering oom_score_adj takes CAP_SYS_RESOURCE
	// in the host's user namespace, and inside a container's we could not
	// even open the file (ours while not dumpable are the host root's).
	const char *oom = getenv("_RAIND_OOM_SCORE_ADJ");
	if (oom && *oom) {
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			fail("set oom_score_adj %s: %s", oom, strerror(errno));
		ssize_t w = write(fd, oom, strlen(oom));
		int e = errno;
		close(fd);
		if (w != (ssize_t)strlen(oom))
			fail("set oom_score_adj %s: %s", oom, w < 0 ? strerror(e) : "short write");
	}

	// Host root writes cgroup.procs: the cgroups come before any user
	// namespace, inside which we could not.
	char *cgroups = getenv("_RAIND_CGROUP_PROCS");
	if (cgroups && *cgroups)
		join_cgroups(strdup(cgroups));

	const char *userns = getenv("_RAIND_USERNS");
	if (userns && *userns) {
		// The shim's supplementary groups are not the container's: in a
		// user namespace they would stay unmapped but still count in
		// permission checks (a host file of group root), and a
		// namespace whose setgroups is denied could never drop them.
		if (setgroups(0, NULL) < 0)
			fail("drop supplementary groups: %s", strerror(errno));
	}

	char *join = getenv("_RAIND_NS_JOIN");
	if (join && *join)
		join_namespaces(strdup(join));

	if (userns && strcmp(userns, "new") == 0)
		new_user_namespace();

	const char *newns = getenv("_RAIND_NS_NEW");
	if (newns && *newns) {
		char *end = NULL;
		unsigned long flags = strtoul(newns, &end, 0);
		if (end == newns || *end != '\0')
			fail("bad _RAIND_NS_NEW %s", newns);
		if (flags & CLONE_NEWUSER)
			fail("user namespace among _RAIND_NS_NEW");
		if (flags && unshare((int)flags) < 0)
			fail("unshare namespaces 0x%lx: %s", flags, strerror(errno));
	}

	const char *timens = getenv("_RAIND_TIMENS_OFFSETS");
	if (timens && strcmp(timens, "1") == 0)
		request_time_offsets();

	// Changing ids resets dumpable to the system's suid_dumpable, which
	// need not be 0; this stays closed until execve.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("prctl(PR_SET_DUMPABLE): %s", strerror(errno));

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
	unsetenv("_RAIND_USERNS");
	unsetenv("_RAIND_OOM_SCORE_ADJ");
	unsetenv("_RAIND_TIMENS_OFFSETS");
}
