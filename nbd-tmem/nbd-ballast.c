/* nbd-tmem: a reserve of memory the swap server gives back when the
 * machine has none left.
 *
 * A server on the machine it swaps for needs a fresh page from the kernel
 * for every reply it sends (the socket buffer of a read's 4 KiB), and as an
 * I/O flusher its allocations never call the OOM killer: with free memory
 * at the minimum watermark they wait for reclaim, and reclaim waits for the
 * server to answer the swap writes it sent.  Nothing else frees memory
 * there, so the machine wedges (docs/swap.md, "The ballast").
 *
 * The ballast is the server's own way out: ballast bytes (rounded up to
 * 64 KiB) of a memfd, mapped, locked and faulted in at start.  A thread
 * reads free memory (sysinfo(2): no allocation, no lock) every SAMPLE_MS;
 * when it has stayed within an eighth of the gap between the floor (the
 * zones' minimum watermarks with their lowmem protection, from
 * /proc/zoneinfo) and the low watermark for RELEASE_SAMPLES in a row, it
 * punches the memfd: its pages go straight back to the kernel, so the
 * waiting replies get their pages and the swap writes complete.  Once free
 * memory has stayed above half the gap plus the ballast for
 * REFILL_SAMPLES, it takes the ballast back, 64 KiB at a time, up to 1 MiB
 * a sample and only while that still holds.  The floor is read again when
 * vm.min_free_kbytes or vm.watermark_scale_factor changed, looked at every
 * 2 s while memory is plentiful.  The thread takes no lock a request waits
 * on, and nothing of it runs on a request's thread.  The ballast goes to
 * whoever allocates first, and once given back it returns only when memory
 * is plentiful again: it gets a stalled server going, it does not keep
 * one going against a workload that keeps the machine at its floor.
 *
 * -D tmem.ballast_free_kib=N (tests): free memory reads N KiB from the
 * thread's 3rd second to its 6th, so a test sees a release and then (on a
 * machine with memory to spare) the refill.
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
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SAMPLE_MS	100
#define RELEASE_SAMPLES 10 /* 1 s at the minimum: not a passing dip */
#define REFILL_SAMPLES	50 /* 5 s with room to spare */
#define FAKE_FROM	30 /* the test's fake free memory: 3 s to 6 s */
#define FAKE_TO		60
#define REREAD_SAMPLES	20 /* their settings looked at every 2 s */
#define REFILL_STEP	(64 * 1024)
#define REFILL_BURST	16 /* steps a sample: 1 MiB */

NBDKIT_DLL_PUBLIC int tmem_debug_ballast_free_kib;

static struct {
	pthread_t thread;
	struct nt_napper nap;
	bool on; /* set and read by the starting thread */
	int fd;
	unsigned char *base;
	size_t size;
	size_t held; /* bytes faulted in: written by the thread once
		      * started (atomic: nt_ballast_held reads it) */
	uint64_t min_kib, low_kib; /* the floor and low watermark, KiB */
	int minfree_fd, scale_fd;  /* the vm. settings they follow */
	char settings[64];	   /* and their text at the last look */
} bl = {.nap = NT_NAPPER_INIT, .fd = -1, .minfree_fd = -1, .scale_fd = -1};

/* One zone as /proc/zoneinfo gives it, in pages: its watermarks, its
 * size, and its protection against allocations that may use higher zones
 * (lowmem_reserve: the largest entry is the one against the highest zone
 * with memory, the zone ordinary allocations are meant for). */
struct zone_wm {
	unsigned long long min, low, managed, prot;
};

/* Add a zone to the sums: ordinary allocations take its pages down to
 * its minimum plus its protection (never more than it holds), and
 * reclaim starts at its low watermark. */
static void zone_add(const struct zone_wm *z, unsigned long long *base,
		     unsigned long long *gap)
{
	unsigned long long f = z->min + z->prot;

	if (z->managed == 0)
		return;
	*base += f < z->managed ? f : z->managed;
	*gap += z->low > z->min ? z->low - z->min : 0;
}

/* The floor of free memory below which ordinary allocations wait for
 * reclaim (the zones' minimum watermarks with their protection), and the
 * low watermark above it (plus the zones' gaps from minimum to low), in
 * KiB.  Allocates: called at start and with memory to spare only.
 * -errno. */
static int read_watermarks(uint64_t *min_kib, uint64_t *low_kib)
{
	char line[512], key[32];
	unsigned long long v, base = 0, gap = 0;
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	struct zone_wm z = {0};
	bool in_zone = false;
	int off;
	char *p;
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Node ", 5) == 0) {
			/* "Node N, zone NAME": the last zone is complete. */
			if (in_zone)
				zone_add(&z, &base, &gap);
			memset(&z, 0, sizeof z);
			in_zone = true;
			continue;
		}
		if (!in_zone)
			continue;
		p = strstr(line, "protection: (");
		if (p) {
			for (p += 13; sscanf(p, "%llu%n", &v, &off) == 1;) {
				if (v > z.prot)
					z.prot = v;
				p += off;
				if (*p != ',')
					break;
				p++;
			}
			continue;
		}
		if (sscanf(line, " %31s %llu", key, &v) != 2)
			continue;
		if (strcmp(key, "min") == 0)
			z.min = v;
		else if (strcmp(key, "low") == 0)
			z.low = v;
		else if (strcmp(key, "managed") == 0)
			z.managed = v;
	}
	fclose(f);
	if (in_zone)
		zone_add(&z, &base, &gap);
	if (base == 0)
		return -EINVAL;
	*min_kib = base * (uint64_t)page_kib;
	*low_kib = (base + gap) * (uint64_t)page_kib;
	return 0;
}

/* Free memory in KiB at or below which the ballast is given back: an
 * eighth of the way from the floor to the low watermark. */
static uint64_t release_kib(void)
{
	return bl.min_kib + (bl.low_kib - bl.min_kib) / 8;
}

/* Free memory in KiB into *kib; false when it cannot be read. */
static bool free_kib(unsigned sample, uint64_t *kib)
{
	struct sysinfo si;

	if (tmem_debug_ballast_free_kib > 0 && sample >= FAKE_FROM &&
	    sample < FAKE_TO) {
		*kib = (uint64_t)tmem_debug_ballast_free_kib;
		return true;
	}
	if (sysinfo(&si) < 0)
		return false;
	*kib = (uint64_t)si.freeram * si.mem_unit / 1024;
	return true;
}

/* The two settings the watermarks follow, as their files read now (the
 * files are opened at start; a read allocates a little: with memory to
 * spare only).  Whether they changed since the last look. */
static bool settings_changed(void)
{
	char buf[64];
	ssize_t n, m;
	bool changed;

	n = pread(bl.minfree_fd, buf, sizeof buf / 2, 0);
	m = pread(bl.scale_fd, buf + sizeof buf / 2, sizeof buf / 2, 0);
	if (n < 0 || m < 0)
		return false;
	memset(buf + n, 0, sizeof buf / 2 - (size_t)n);
	memset(buf + sizeof buf / 2 + m, 0, sizeof buf / 2 - (size_t)m);
	changed = memcmp(buf, bl.settings, sizeof buf) != 0;
	memcpy(bl.settings, buf, sizeof buf);
	return changed;
}

/* Give the ballast back: its pages go straight to the kernel's free
 * lists, with no reclaim, no I/O and no allocation.  Run once at start
 * on an empty range (past the end), so that the code it needs is in
 * memory, and locked, before memory runs short. */
static int punch(off_t off, off_t len)
{
	return fallocate(bl.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
			 len) == 0
		       ? 0
		       : -errno;
}

/* Fault [off, off + len) of the ballast in (locked: the mapping is). */
static int fault_in(size_t off, size_t len)
{
	size_t i;

	if (madvise(bl.base + off, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	for (i = 0; i < len; i += 4096)
		((volatile unsigned char *)bl.base)[off + i] = 1;
	return 0;
}

/* Memory to spare: take up to REFILL_BURST steps of the ballast back
 * while free memory stays above refill_at.  Whether to start counting
 * again (done, or memory ran short). */
static bool refill(unsigned sample, uint64_t refill_at)
{
	unsigned i;
	uint64_t kib;
	int r;

	for (i = 0; i < REFILL_BURST && bl.held < bl.size; i++) {
		if (!free_kib(sample, &kib) || kib < refill_at)
			return true;
		r = fault_in(bl.held, REFILL_STEP);
		if (r < 0) {
			nt_log(false, "ballast: cannot take it back: %s",
			       strerror(-r));
			return true;
		}
		__atomic_store_n(&bl.held, bl.held + REFILL_STEP,
				 __ATOMIC_RELAXED);
	}
	if (bl.held < bl.size)
		return false;
	NT_COUNT(ballast_refills);
	nt_log(true, "ballast: %zu KiB held again", bl.held / 1024);
	return true;
}

static void *ballast_main(void *arg)
{
	uint64_t release_at, refill_at, kib;
	unsigned sample = 0, low_run = 0, high_run = 0;
	int r;

	(void)arg;
	(void)punch((off_t)bl.size, 4096);
	(void)settings_changed();
	for (;; sample++) {
		if (nt_nap(&bl.nap, SAMPLE_MS))
			break;
		if (!free_kib(sample, &kib))
			continue;
		release_at = release_kib();
		refill_at = bl.min_kib + (bl.low_kib - bl.min_kib) / 2 +
			    bl.size / 1024;
		low_run = kib <= release_at ? low_run + 1 : 0;
		high_run = kib >= refill_at ? high_run + 1 : 0;
		/* With memory to spare, now and then: the watermarks move
		 * with their settings (tmem-swap start raises them after the
		 * server starts). */
		if (high_run > 0 && sample % REREAD_SAMPLES == 0 &&
		    settings_changed())
			(void)read_watermarks(&bl.min_kib, &bl.low_kib);
		if (bl.held > 0 && low_run >= RELEASE_SAMPLES) {
			r = punch(0, (off_t)bl.size);
			if (r == 0) {
				NT_COUNT(ballast_releases);
				nt_log(false,
				       "free memory at the minimum watermark "
				       "for %d ms (%" PRIu64 " KiB free, "
				       "floor %" PRIu64 " KiB): gave back "
				       "the %zu KiB ballast so that the "
				       "server's replies find pages",
				       RELEASE_SAMPLES * SAMPLE_MS, kib,
				       bl.min_kib, bl.held / 1024);
				__atomic_store_n(&bl.held, 0, __ATOMIC_RELAXED);
			} else {
				nt_log(false,
				       "ballast: cannot give it back: %s",
				       strerror(-r));
			}
			low_run = 0;
		}
		if (bl.held < bl.size && high_run >= REFILL_SAMPLES)
			high_run = refill(sample, refill_at) ? 0 : high_run;
	}
	return NULL;
}

int nt_ballast_start(uint64_t bytes)
{
	int r;

	bytes = (bytes + REFILL_STEP - 1) / REFILL_STEP * REFILL_STEP;
	if (bytes == 0)
		return 0;
	r = read_watermarks(&bl.min_kib, &bl.low_kib);
	if (r < 0) {
		nt_log(false,
		       "ballast: cannot read the watermarks in "
		       "/proc/zoneinfo: %s",
		       strerror(-r));
		return r;
	}
	bl.minfree_fd =
		open("/proc/sys/vm/min_free_kbytes", O_RDONLY | O_CLOEXEC);
	bl.scale_fd = open("/proc/sys/vm/watermark_scale_factor",
			   O_RDONLY | O_CLOEXEC);
	if (bl.minfree_fd < 0 || bl.scale_fd < 0) {
		r = -errno;
		goto fail;
	}
	bl.fd = memfd_create("tmem-ballast", MFD_CLOEXEC);
	if (bl.fd < 0 || ftruncate(bl.fd, (off_t)bytes) < 0) {
		r = -errno;
		goto fail;
	}
	bl.base =
		mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bl.fd, 0);
	if (bl.base == MAP_FAILED) {
		bl.base = NULL;
		r = -errno;
		goto fail;
	}
	bl.size = bytes;
	/* Locked and in memory: an unlocked ballast would itself be
	 * swapped out, to us. */
	if (mlock(bl.base, bl.size) < 0) {
		nt_log_warn("cannot lock the %" PRIu64
			    " byte ballast (%m: raise RLIMIT_MEMLOCK, or give "
			    "CAP_IPC_LOCK): going without one, so under memory "
			    "pressure this server has no memory of its own to "
			    "give back",
			    bytes);
		nt_ballast_stop();
		return 0;
	}
	bl.held = bl.size;
	nt_napper_init(&bl.nap);
	r = pthread_create(&bl.thread, NULL, ballast_main, NULL);
	if (r) {
		pthread_cond_destroy(&bl.nap.wake);
		r = -r;
		goto fail;
	}
	pthread_setname_np(bl.thread, "tmem-ballast"); /* ps -L, top -H */
	bl.on = true;
	nt_log(true,
	       "ballast: %" PRIu64 " KiB; given back below %" PRIu64
	       " KiB free (floor %" PRIu64 " KiB, low watermark %" PRIu64
	       " KiB)",
	       bytes / 1024, release_kib(), bl.min_kib, bl.low_kib);
	return 0;

fail:
	nt_log(false,
	       "ballast of %" PRIu64 " bytes: %s (ballast=0 goes "
	       "without)",
	       bytes, strerror(-r));
	nt_ballast_stop();
	return r;
}

/* Keeps held, for the statistics printed after. */
void nt_ballast_stop(void)
{
	if (bl.on) {
		nt_napper_stop(&bl.nap, bl.thread);
		bl.on = false;
	}
	if (bl.base)
		munmap(bl.base, bl.size);
	if (bl.fd >= 0)
		close(bl.fd);
	if (bl.minfree_fd >= 0)
		close(bl.minfree_fd);
	if (bl.scale_fd >= 0)
		close(bl.scale_fd);
	bl.base = NULL;
	bl.fd = bl.minfree_fd = bl.scale_fd = -1;
	bl.size = 0;
}

size_t nt_ballast_held(void)
{
	return __atomic_load_n(&bl.held, __ATOMIC_RELAXED);
}
