/* nbd-tmem: a full pool ends as a full zram does, in the kernel's OOM
 * killer.
 *
 * With the pool (and the overflow file) full, a swap write is refused.
 * The kernel keeps the page dirty and writes it again on its next reclaim
 * pass; it OOM-kills only after sixteen passes in a row have reclaimed
 * nothing.  zram refuses in microseconds and gets there in under a minute.
 * A swap server refuses at the pace of a network round trip, so one pass
 * over a few hundred MiB of refused pages takes seconds, and now and then
 * one file page reclaimed (a program's text, faulted back at once) counts
 * as progress and starts the count again: measured in a guest, the kernel
 * wrote and had refused more than two million pages over minutes with no
 * OOM kill, every allocation waiting, and a SIGKILL sent to the workload
 * waited with it (docs/swap.md, "When the pool is full").
 *
 * So a thread looks every second.  When, for [swap] full-oom seconds in a
 * row, writes were refused because the device is full, no read was
 * answered, at most one write was taken for NT_OOM_TAKEN_PER refused (a
 * full pool still takes a write over a page it holds: a stale slot
 * rewritten, often with a zero page, each of which the kernel counts as
 * progress, so that its own OOM kill never comes; a write refused after
 * some of its pages were taken counts as refused only, the kernel writing
 * them all again), and every task of the
 * machine waited for memory at least NT_OOM_STALL_PCT of that time (PSI:
 * the growth of the "full" total of /proc/pressure/memory over those
 * seconds), it asks the kernel's own OOM killer to act, as the kernel
 * would itself (/proc/sysrq-trigger "f": the task with the largest
 * oom_score; the server's is -1000), then waits NT_OOM_HOLDOFF seconds
 * for the kill to free memory before it counts again.
 *
 * This is for a server on the machine whose kernel swaps through it: its
 * PSI is that kernel's, and the kill lands there.  It never acts once a
 * client has connected over the network (not a Unix socket, not the
 * loopback), and a server for a guest's virtio disk (a local socket, but
 * another kernel) or for a guest over qemu's user network or any other
 * local proxy (the loopback, but another kernel) runs with full-oom=0
 * (tmem-vm passes it).  Nothing of this runs on a request's thread but
 * nt_oom_read's flag, nt_oom_taken's count and the refusal counter; the
 * thread's files are opened, read and its stack touched at start, so that
 * it needs no new page when memory is short.
 *
 * For tests: TMEM_SYSRQ_TRIGGER=FILE is appended to instead of
 * /proc/sysrq-trigger, and TMEM_PSI_MEMORY=FILE read instead of
 * /proc/pressure/memory (root's environment is trusted: secure_getenv).
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"

#define SAMPLE_MS	 1000
#define NT_OOM_STALL_PCT 25 /* of the window, every task waiting */
#define NT_OOM_HOLDOFF	 10 /* seconds after a kill, by the clock */
#define NT_OOM_TAKEN_PER 4  /* at most one write taken per this many refused */

_Atomic bool nt_oom_read_flag;
_Atomic uint64_t nt_oom_taken_count;

static struct {
	pthread_t thread;
	struct nt_napper nap;
	bool on;
	unsigned seconds;
	unsigned long sample_ms;
	int psi_fd, sysrq_fd;
	const char *psi_path;
	_Atomic bool local_peer, remote_peer;
} oo = {.nap = NT_NAPPER_INIT, .psi_fd = -1, .sysrq_fd = -1};

/* The "total=" of the "full" line of the PSI file: microseconds in which
 * every non-idle task waited for memory, since boot.  -1 when it cannot
 * be read. */
static int64_t psi_full_us(void)
{
	char buf[256], *p;
	ssize_t n;
	long long total;

	n = pread(oo.psi_fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "full ");
	if (p == NULL || (p = strstr(p, "total=")) == NULL ||
	    sscanf(p + strlen("total="), "%lld", &total) != 1 || total < 0)
		return -1;
	return total;
}

static uint64_t refused_now(void)
{
	return __atomic_load_n(&nt_counters.full_refused, __ATOMIC_RELAXED);
}

static uint64_t taken_now(void)
{
	return atomic_load_explicit(&nt_oom_taken_count, memory_order_relaxed);
}

/* Ask for the kill; whether it was asked.  For secs seconds (elapsed_us)
 * writes were refused, stalled_us of them every task waited, and taken
 * writes were taken and refused refused meanwhile. */
static bool ask(unsigned secs, int64_t stalled_us, int64_t elapsed_us,
		uint64_t taken, uint64_t refused)
{
	if (write(oo.sysrq_fd, "f", 1) != 1) {
		nt_log(false, "full-oom: cannot ask for an OOM kill: %s",
		       strerror(errno));
		return false;
	}
	NT_COUNT(full_ooms);
	nt_log(false,
	       "full-oom: for %u s writes were refused (the pool is full), "
	       "nothing was read, %" PRIu64
	       " writes were taken against %" PRIu64
	       " refused, and every task waited for memory %" PRId64
	       "%% of that time: asked the kernel's OOM killer to end a "
	       "process",
	       secs, taken, refused, stalled_us * 100 / elapsed_us);
	return true;
}

/* A window is the samples since the last reset.  It is long enough when
 * full-oom seconds have passed by the clock, over at least two samples
 * (or one, for full-oom=1): naps stretch on a stalled machine (a 1 s nap
 * took 2 s and more in the guest's full case), and a window counted in
 * samples stretched with them, while every task waited.  Its stall is
 * measured against the same time.  Any sample that breaks a condition (a
 * read answered, no write refused since the last), a PSI file that cannot
 * be read, and a window whose stall fell short or that took more writes
 * than NT_OOM_TAKEN_PER allows start a new one. */
static void *oom_main(void *arg)
{
	uint64_t refused, last_refused, refused_start = 0;
	uint64_t taken, taken_start = 0;
	int64_t psi, psi_start = -1, now, t_start = 0, hold_until = 0;
	unsigned run = 0;
	bool said_remote = false;

	(void)arg;
	nt_stack_touch();
	last_refused = refused_now();
	while (!nt_nap(&oo.nap, oo.sample_ms)) {
		refused = refused_now();
		taken = taken_now();
		psi = psi_full_us();
		now = (int64_t)(nt_now_ns() / 1000);
		if (atomic_exchange_explicit(&nt_oom_read_flag, false,
					     memory_order_relaxed) ||
		    refused == last_refused || psi < 0 || psi_start < 0 ||
		    now < hold_until) {
			run = 0;
			psi_start = psi;
			t_start = now;
			last_refused = refused_start = refused;
			taken_start = taken;
			continue;
		}
		last_refused = refused;
		++run;
		if (run < (oo.seconds < 2 ? oo.seconds : 2) ||
		    now - t_start < (int64_t)oo.seconds * 1000000 - 50000)
			continue;
		if (atomic_load(&oo.remote_peer)) {
			if (!said_remote)
				nt_log(false,
				       "full-oom: the pool is full, but a "
				       "client came over the network: its "
				       "kernel is not this one, so no OOM "
				       "kill is asked for here");
			said_remote = true;
			continue;
		}
		if ((psi - psi_start) * 100 >=
			    (now - t_start) * NT_OOM_STALL_PCT &&
		    (taken - taken_start) * NT_OOM_TAKEN_PER <=
			    refused - refused_start &&
		    ask((unsigned)((now - t_start + 500000) / 1000000),
			psi - psi_start, now - t_start, taken - taken_start,
			refused - refused_start))
			hold_until = now + NT_OOM_HOLDOFF * 1000000;
		run = 0;
		psi_start = psi;
		t_start = now;
		refused_start = refused;
		taken_start = taken;
	}
	return NULL;
}

void nt_oom_peer(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	bool local = true;

	if (!oo.on) /* set before nbdkit serves, never changed while it does */
		return;
	/* No peer name (nbdkit -s on a pipe): a local client. */
	if (nbdkit_peer_name((struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&ss;

			local = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)&ss;
			const struct in6_addr *a = &in6->sin6_addr;

			local = IN6_IS_ADDR_LOOPBACK(a) ||
				(IN6_IS_ADDR_V4MAPPED(a) &&
				 a->s6_addr[12] == 127);
		} else {
			local = ss.ss_family == AF_UNIX;
		}
	}
	atomic_store(local ? &oo.local_peer : &oo.remote_peer, true);
}

int nt_oom_start(double seconds)
{
	const char *trigger = secure_getenv("TMEM_SYSRQ_TRIGGER");
	const char *what = NULL;
	unsigned s = (unsigned)seconds;
	int r, err = 0;

	if (seconds <= 0)
		return 0;
	if (trigger == NULL || *trigger == '\0')
		trigger = "/proc/sysrq-trigger";
	oo.psi_path = secure_getenv("TMEM_PSI_MEMORY");
	if (oo.psi_path == NULL || *oo.psi_path == '\0')
		oo.psi_path = "/proc/pressure/memory";
	oo.psi_fd = open(oo.psi_path, O_RDONLY | O_CLOEXEC);
	if (oo.psi_fd < 0) {
		err = errno;
		what = oo.psi_path;
	} else if (psi_full_us() < 0) {
		err = EINVAL;
		what = oo.psi_path;
	}
	oo.sysrq_fd =
		open(trigger, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (oo.sysrq_fd < 0) {
		err = errno;
		what = trigger;
	}
	if (what) {
		nt_log_warn("full-oom: cannot use %s: %s; a full pool is "
			    "left to the kernel, which may retry the refused "
			    "writes for minutes before an OOM kill (needs "
			    "root and a kernel with PSI; full-oom=0 does "
			    "without)",
			    what, strerror(err));
		nt_oom_stop();
		return 0;
	}
	oo.seconds = s < seconds ? s + 1 : s; /* whole seconds, rounded up */
	oo.sample_ms = SAMPLE_MS;
#ifdef TMEM_TEST_HOOKS
	/* A machine whose naps stretch, for tests. */
	if (getenv("TMEM_TEST_OOM_SAMPLE_MS"))
		oo.sample_ms =
			strtoul(getenv("TMEM_TEST_OOM_SAMPLE_MS"), NULL, 10);
#endif
	nt_napper_init(&oo.nap);
	r = pthread_create(&oo.thread, NULL, oom_main, NULL);
	if (r) {
		pthread_cond_destroy(&oo.nap.wake);
		nt_oom_stop();
		return -r;
	}
	pthread_setname_np(oo.thread, "tmem-oom"); /* ps -L, top -H */
	oo.on = true;
	nt_log(true, "full-oom: after %u s; asks through %s, reads %s",
	       oo.seconds, trigger, oo.psi_path);
	return 0;
}

void nt_oom_stop(void)
{
	if (oo.on) {
		nt_napper_stop(&oo.nap, oo.thread);
		oo.on = false;
	}
	if (oo.psi_fd >= 0)
		close(oo.psi_fd);
	if (oo.sysrq_fd >= 0)
		close(oo.sysrq_fd);
	oo.psi_fd = oo.sysrq_fd = -1;
}
