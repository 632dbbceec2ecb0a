/* nbd-tmem: moving pages read back out of the pool, to the overflow file.
 *
 * NBD has no per-slot free notice: when the kernel reads a page back from
 * swap (with swap over half full) it frees the slot and tells only zram, so
 * the pool keeps a copy nobody will read until the slot is written again.
 * A page that was read back is therefore the likeliest to be stale, and one
 * never read back is live.  None may be dropped (the kernel may also have
 * kept the slot and dropped a clean copy from RAM), but a likely-stale page
 * costs less on disk than in RAM.
 *
 * With an overflow file, one thread scans the device every after_s seconds
 * (unless the sub-pool's gauge says no page was read back, or the file has
 * no room) and asks the pool which pages were read back since they were
 * last written and share their stored copy with no other key
 * (tmem_read_back, one index lookup each).  A page found so at two scans in
 * a row (read back one to two periods ago, or again since) moves to the
 * file (nt_pages_demote, under the page's lock).  A swap
 * request never waits for the scan: it takes one page lock at a time, for
 * one lookup or one page moved.  The thread keeps an eighth of the file's
 * slots free for pages the pool cannot take, and paces itself: at most
 * DEMOTE_BURST pages moved, or SCAN_BURST looked at, per millisecond.
 * Everything it uses is allocated and touched when it starts.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nbd-internal.h"

#define SCAN_BURST   4096
#define DEMOTE_BURST 4

static struct {
	pthread_t thread;
	struct nt_napper nap;
	bool on;		 /* set and read by the starting thread */
	struct nt_device *dev;	 /* set before the thread starts */
	uint64_t *seen;		 /* bit p: page p was read back at the last
				  * scan (the thread's own) */
	unsigned long period_ms; /* set before the thread starts */
	size_t seen_bytes;
	struct tmem_pool_info *pools; /* NT_POOLS_MAX, the thread's own */
} dm = {.nap = NT_NAPPER_INIT};

#define NT_POOLS_MAX 64

/* Whether the file has more than an eighth of its slots free. */
static bool file_has_room(void)
{
	uint64_t slots = nt_ov_slots(dm.dev->ov);

	return nt_ov_slots_used(dm.dev->ov) + slots / 8 < slots;
}

/* Whether a scan may find work: the device's sub-pool holds pages read
 * back (its gauge: one call, not a lookup per page) and the file has
 * room.  Unknown counts as yes. */
static bool worth_a_scan(void)
{
	int i, n = tmem_pool_list(dm.dev->pool, dm.pools, NT_POOLS_MAX);

	if (!file_has_room())
		return false;
	for (i = 0; i < n && i < NT_POOLS_MAX; i++)
		if (dm.pools[i].id == dm.dev->pool_id)
			return dm.pools[i].stats.pages_read_back > 0;
	return true;
}

/* One pass over the device; whether to stop.  *moved counts pages moved. */
static bool scan(uint64_t *moved)
{
	struct nt_device *d = dm.dev;
	unsigned looked = 0, demoted = 0;
	static bool said;
	uint64_t p;
	int r;

	for (p = 0; p < d->pages; p++) {
		uint64_t bit = 1ULL << (p & 63), *w = &dm.seen[p >> 6];

		r = tmem_read_back(d->pool, d->pool_id, NT_DATA_OBJECT, p);
		if (r < 0) /* the sub-pool is gone (requests say so), or
			    * its repair is held up: the next round looks
			    * again */
			return false;
		if (r == 0) {
			*w &= ~bit;
		} else if (!(*w & bit)) {
			*w |= bit;
		} else if (file_has_room()) {
			r = nt_pages_demote(p);
			if (r == 1) {
				*w &= ~bit;
				++*moved;
				if (++demoted % DEMOTE_BURST == 0 &&
				    nt_nap(&dm.nap, 1))
					return true;
			} else if (r == -ETIMEDOUT) {
				return false; /* a held-up repair: as above */
			} else if (r < 0 && r != -ENOSPC && !said) {
				said = true;
				nt_log(false,
				       "moving page %" PRIu64
				       " to the overflow file: %s (it stays "
				       "in the pool; reported once)",
				       p, tmem_strerror(r));
			}
		}
		if (++looked % SCAN_BURST == 0 && nt_nap(&dm.nap, 1))
			return true;
	}
	return false;
}

static void *demote_main(void *arg)
{
	uint64_t moved;

	(void)arg;
	while (!nt_nap(&dm.nap, dm.period_ms)) {
		moved = 0;
		if (!worth_a_scan()) {
			/* Two scans in a row, so a skipped one starts over. */
			memset(dm.seen, 0, dm.seen_bytes);
			continue;
		}
		if (scan(&moved))
			break;
		if (moved)
			nt_log(true,
			       "moved %" PRIu64 " pages read back to the "
			       "overflow file",
			       moved);
	}
	return NULL;
}

int nt_demote_start(struct nt_device *dev, double after_s)
{
	size_t bytes = (dev->pages + 63) / 64 * sizeof(uint64_t);
	int r;

	if (dev->ov == NULL || after_s <= 0)
		return 0;
	dm.dev = dev;
	dm.period_ms = after_s < 0.01 ? 10 : (unsigned long)(after_s * 1000);
	dm.seen = malloc(bytes);
	dm.pools = malloc(NT_POOLS_MAX * sizeof *dm.pools);
	if (dm.seen == NULL || dm.pools == NULL) {
		free(dm.seen);
		free(dm.pools);
		return -ENOMEM;
	}
	/* Faulted in (and so locked) now. */
	memset(dm.seen, 0, bytes);
	memset(dm.pools, 0, NT_POOLS_MAX * sizeof *dm.pools);
	nt_touch_pages(dm.seen, bytes);
	nt_touch_pages(dm.pools, NT_POOLS_MAX * sizeof *dm.pools);
	dm.seen_bytes = bytes;
	nt_napper_init(&dm.nap);
	r = pthread_create(&dm.thread, NULL, demote_main, NULL);
	if (r) {
		pthread_cond_destroy(&dm.nap.wake);
		free(dm.seen);
		free(dm.pools);
		dm.seen = NULL;
		dm.pools = NULL;
		return -r;
	}
	pthread_setname_np(dm.thread, "tmem-demote"); /* ps -L, top -H */
	dm.on = true;
	return 0;
}

void nt_demote_stop(void)
{
	if (!dm.on)
		return;
	nt_napper_stop(&dm.nap, dm.thread);
	free(dm.seen);
	free(dm.pools);
	dm.seen = NULL;
	dm.pools = NULL;
	dm.on = false;
}
