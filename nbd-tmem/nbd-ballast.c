/* nbd-tmem: a reserve of memory the swap server gives back when the
 * machine has none left.
 *
 * A server on the machine it swaps for needs a fresh page from the kernel
 * for every reply it sends (the socket buffer of a read's 4 KiB), and as an
 * I/O flusher its allocations never call the OOM killer: with free memory
 * at the minimum watermark they wait for reclaim, and reclaim waits for the
 * server to answer the swap writes it sent.  Nothing else frees memory
 * there, so the guest wedges (docs/swap.md: at 1.2 x RAM on a 288M device,
 * 2 boots of 5, free memory at the minimum, no page moving).
 *
 * The ballast is the server's own way out: ballast bytes of a memfd,
 * mapped, locked and faulted in at start.  A thread reads free memory
 * (sysinfo(2): no allocation, no lock) every SAMPLE_MS; when it has been
 * within an eighth of the gap between the minimum and the low watermark
 * (the sums over the zones in /proc/zoneinfo, read again every 2 s while
 * memory is plentiful) for RELEASE_SAMPLES in a row,
 * it punches the memfd: its pages go straight back to the kernel, so the
 * waiting replies get their pages and the swap writes complete.  Once free
 * memory has stayed above half the gap plus the ballast for
 * REFILL_SAMPLES, it takes the ballast back, 64 KiB at a time, up to
 * 1 MiB a sample and only while that still holds.  The thread holds no lock a
 * request takes, and nothing of it runs on a request's thread.
 *
 * -D tmem.ballast_free_kib=N (tests): free memory reads N KiB during the
 * thread's first FAKE_SAMPLES samples, so a test sees a release and then
 * (on a machine with memory to spare) the refill.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
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
#define FAKE_SAMPLES	30
#define REREAD_SAMPLES	20 /* watermarks read again every 2 s */
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
	uint64_t min_kib, low_kib;
} bl = {.nap = NT_NAPPER_INIT, .fd = -1};

/* The zones' minimum and low watermarks, summed, in KiB.  -errno. */
static int read_watermarks(uint64_t *min_kib, uint64_t *low_kib)
{
	char line[256], key[32];
	unsigned long long v, min = 0, low = 0;
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, " %31s %llu", key, &v) == 2) {
			if (strcmp(key, "min") == 0)
				min += v;
			else if (strcmp(key, "low") == 0)
				low += v;
		}
	fclose(f);
	if (min == 0 || low < min)
		return -EINVAL;
	*min_kib = min * (uint64_t)page_kib;
	*low_kib = low * (uint64_t)page_kib;
	return 0;
}

static uint64_t free_kib(unsigned sample)
{
	struct sysinfo si;

	if (tmem_debug_ballast_free_kib > 0 && sample < FAKE_SAMPLES)
		return (uint64_t)tmem_debug_ballast_free_kib;
	if (sysinfo(&si) < 0)
		return UINT64_MAX;
	return (uint64_t)si.freeram * si.mem_unit / 1024;
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

	for (i = 0; i < REFILL_BURST && bl.held < bl.size; i++) {
		if (free_kib(sample) < refill_at ||
		    fault_in(bl.held, REFILL_STEP) < 0)
			return true;
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

	(void)arg;
	for (;; sample++) {
		if (nt_nap(&bl.nap, SAMPLE_MS))
			break;
		release_at = bl.min_kib + (bl.low_kib - bl.min_kib) / 8;
		refill_at = bl.min_kib + (bl.low_kib - bl.min_kib) / 2 +
			    bl.size / 1024;
		kib = free_kib(sample);
		low_run = kib <= release_at ? low_run + 1 : 0;
		high_run = kib >= refill_at ? high_run + 1 : 0;
		/* With memory to spare, now and then: the watermarks may
		 * have been raised since (tmem-swap start raises them after
		 * the server starts). */
		if (high_run > 0 && sample % REREAD_SAMPLES == 0)
			(void)read_watermarks(&bl.min_kib, &bl.low_kib);
		if (bl.held > 0 && low_run >= RELEASE_SAMPLES) {
			/* Straight to the kernel's free lists: no reclaim,
			 * no I/O, no allocation. */
			if (fallocate(bl.fd,
				      FALLOC_FL_PUNCH_HOLE |
					      FALLOC_FL_KEEP_SIZE,
				      0, (off_t)bl.size) == 0) {
				NT_COUNT(ballast_releases);
				nt_log(false,
				       "free memory at the minimum watermark "
				       "for %d ms (%" PRIu64 " KiB free, "
				       "minimum %" PRIu64 " KiB): gave back "
				       "the %zu KiB ballast so that the "
				       "server's replies find pages",
				       RELEASE_SAMPLES * SAMPLE_MS, kib,
				       bl.min_kib, bl.held / 1024);
				__atomic_store_n(&bl.held, 0, __ATOMIC_RELAXED);
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
		nbdkit_error("ballast: cannot read the watermarks in "
			     "/proc/zoneinfo: %s",
			     strerror(-r));
		return r;
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
		r = -errno;
		goto fail;
	}
	bl.held = bl.size;
	nt_napper_init(&bl.nap);
	r = pthread_create(&bl.thread, NULL, ballast_main, NULL);
	if (r) {
		pthread_cond_destroy(&bl.nap.wake);
		r = -r;
		goto fail;
	}
	bl.on = true;
	return 0;

fail:
	nbdkit_error("ballast of %" PRIu64 " bytes: %s (ballast=0 goes "
		     "without)",
		     bytes, strerror(-r));
	nt_ballast_stop();
	return r;
}

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
	bl.base = NULL;
	bl.fd = -1;
	bl.size = bl.held = 0;
}

size_t nt_ballast_held(void)
{
	return bl.on ? __atomic_load_n(&bl.held, __ATOMIC_RELAXED) : 0;
}
