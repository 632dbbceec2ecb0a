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
 * row, the server refused writes for want of room and answered no read
 * and took no write, and the kernel's memory pressure (PSI, the "full"
 * line of /proc/pressure/memory: the share of time every task waited for
 * memory) is at least NT_OOM_PSI_FULL percent over the last 10 s, it
 * asks the kernel's own OOM killer to act, as the kernel would itself
 * (/proc/sysrq-trigger "f": the task with the largest oom_score; the
 * server's is -1000), and starts counting again.
 *
 * This is for a server on the machine whose kernel swaps through it: its
 * PSI is that kernel's.  A server for a guest's virtio disk or another
 * machine must not kill on its own machine for another's full device:
 * full-oom=0 there (tmem-vm passes it).  Nothing of this runs on a
 * request's thread; the two files are opened at start.
 *
 * -D tmem.oom_psi_full=N (tests): the pressure reads as N percent.
 * TMEM_SYSRQ_TRIGGER=FILE (tests): written instead of /proc/sysrq-trigger.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"

#define SAMPLE_MS	1000
#define NT_OOM_PSI_FULL 10 /* percent of the last 10 s */

NBDKIT_DLL_PUBLIC int tmem_debug_oom_psi_full;

static struct {
	pthread_t thread;
	struct nt_napper nap;
	bool on;
	unsigned seconds;
	int psi_fd, sysrq_fd;
} oo = {.nap = NT_NAPPER_INIT, .psi_fd = -1, .sysrq_fd = -1};

/* The "full avg10" of /proc/pressure/memory, in hundredths of a percent;
 * -1 when it cannot be read. */
static long psi_full(void)
{
	char buf[256], *p;
	ssize_t n;
	long whole, frac;

	if (tmem_debug_oom_psi_full > 0)
		return tmem_debug_oom_psi_full * 100L;
	n = pread(oo.psi_fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "full avg10=");
	if (p == NULL ||
	    sscanf(p + strlen("full avg10="), "%ld.%2ld", &whole, &frac) != 2)
		return -1;
	return whole * 100 + frac;
}

static uint64_t counter(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Writes refused for want of room (pool full, overflow file full). */
static uint64_t refused_now(void)
{
	return counter(&nt_counters.nospace) + counter(&nt_counters.ov_full);
}

/* Requests that moved a page: reads answered, writes taken. */
static uint64_t served_now(void)
{
	return counter(&nt_counters.reads_served) +
	       counter(&nt_counters.writes_taken);
}

static void *oom_main(void *arg)
{
	uint64_t refused, served, last_refused, last_served;
	unsigned run = 0;
	long psi;

	(void)arg;
	last_refused = refused_now();
	last_served = served_now();
	while (!nt_nap(&oo.nap, SAMPLE_MS)) {
		refused = refused_now();
		served = served_now();
		if (refused != last_refused && served == last_served)
			run++;
		else
			run = 0;
		last_refused = refused;
		last_served = served;
		if (run < oo.seconds)
			continue;
		psi = psi_full();
		if (psi < NT_OOM_PSI_FULL * 100)
			continue; /* refused, but the machine is not stalled */
		if (write(oo.sysrq_fd, "f", 1) != 1) {
			nt_log(false,
			       "full-oom: cannot ask for an OOM kill: %s",
			       strerror(errno));
			continue;
		}
		NT_COUNT(full_ooms);
		nt_log(false,
		       "full-oom: for %u s every write was refused (the pool "
		       "is full), nothing was read or taken, and every task "
		       "waited for memory %ld.%02ld%% of the last 10 s: asked "
		       "the kernel's OOM killer to end a process",
		       run, psi / 100, psi % 100);
		run = 0;
	}
	return NULL;
}

int nt_oom_start(unsigned seconds)
{
	const char *trigger = getenv("TMEM_SYSRQ_TRIGGER");
	const char *what = NULL;
	int r, err = 0;

	if (seconds == 0)
		return 0;
	if (trigger == NULL || *trigger == '\0')
		trigger = "/proc/sysrq-trigger";
	oo.psi_fd = open("/proc/pressure/memory", O_RDONLY | O_CLOEXEC);
	if (oo.psi_fd < 0 && tmem_debug_oom_psi_full <= 0) {
		err = errno;
		what = "/proc/pressure/memory";
	}
	oo.sysrq_fd = open(trigger, O_WRONLY | O_CLOEXEC);
	if (oo.sysrq_fd < 0) {
		err = errno;
		what = trigger;
	}
	if (what) {
		nt_log_warn("full-oom: cannot open %s: %s; a full pool is "
			    "left to the kernel, which may retry the refused "
			    "writes for minutes before an OOM kill (needs "
			    "root and a kernel with PSI; full-oom=0 does "
			    "without)",
			    what, strerror(err));
		nt_oom_stop();
		return 0;
	}
	oo.seconds = seconds;
	nt_napper_init(&oo.nap);
	r = pthread_create(&oo.thread, NULL, oom_main, NULL);
	if (r) {
		pthread_cond_destroy(&oo.nap.wake);
		nt_oom_stop();
		return -r;
	}
	pthread_setname_np(oo.thread, "tmem-oom"); /* ps -L, top -H */
	oo.on = true;
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
