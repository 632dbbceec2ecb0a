/* nbd-tmem: byte ranges onto pool pages.
 *
 * NBD requests come in bytes; the pool stores 4096-byte pages.  This file
 * splits each request into pages, takes the page's stripe lock for the
 * whole get-modify-put of a partial page (two writers of one page must not
 * interleave), and keeps one invariant under that lock: a page is in the
 * pool, or in the overflow file, or nowhere (reads as zeroes).  It is in
 * both only when the pool could not flush its older version after the
 * file took the new one: the file's copy then reads first, and a drop
 * frees the file's slot only once the pool's copy is gone, so an older
 * version never comes back.  Whole-page reads on a device without an
 * overflow file skip the lock (see pool_get).  Nothing here allocates: partial
 * pages and O_DIRECT transfers go through the scratch page owned by the stripe.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nbd-internal.h"

struct nt_stripe {
	pthread_mutex_t lock;
	unsigned char *buf; /* one page, protected by lock */
} __attribute__((aligned(64)));

static struct nt_stripe stripes[NT_STRIPES];
static unsigned char *scratch; /* NT_STRIPES pages, page-aligned */
static struct nt_device *dev;
/* Page p's last write time (NT_STAMP_SHIFT units), guarded by its stripe
 * lock; NULL unless dev->stamps.  0 for a page not written since start. */
static uint32_t *stamps;

static const unsigned char zero_page[TMEM_PAGE_SIZE]
	__attribute__((aligned(TMEM_PAGE_SIZE)));

struct nt_counters nt_counters;

int nt_pages_init(struct nt_device *d)
{
	size_t i;

	scratch = aligned_alloc(TMEM_PAGE_SIZE,
				(size_t)NT_STRIPES * TMEM_PAGE_SIZE);
	if (scratch == NULL)
		return -ENOMEM;
	/* Fault the scratch pages in now, never on the data path. */
	memset(scratch, 0, (size_t)NT_STRIPES * TMEM_PAGE_SIZE);
	for (i = 0; i < NT_STRIPES; i++) {
		pthread_mutex_init(&stripes[i].lock, NULL);
		stripes[i].buf = scratch + i * TMEM_PAGE_SIZE;
	}
	if (d->stamps) {
		stamps = calloc(d->pages, sizeof *stamps);
		if (stamps == NULL) {
			free(scratch);
			scratch = NULL;
			return -ENOMEM;
		}
		nt_touch_pages(stamps, d->pages * sizeof *stamps);
	}
	dev = d;
	return 0;
}

void nt_pages_free(void)
{
	size_t i;

	if (scratch == NULL)
		return;
	for (i = 0; i < NT_STRIPES; i++)
		pthread_mutex_destroy(&stripes[i].lock);
	free(scratch);
	scratch = NULL;
	free(stamps);
	stamps = NULL;
	dev = NULL;
}

static struct nt_stripe *stripe_lock(uint64_t page)
{
	struct nt_stripe *s = &stripes[page % NT_STRIPES];

	pthread_mutex_lock(&s->lock);
	return s;
}

static void stripe_unlock(struct nt_stripe **sp)
{
	if (*sp)
		pthread_mutex_unlock(&(*sp)->lock);
}

/* Holds page's stripe lock until the end of the scope. */
#define LOCK_PAGE_FOR_SCOPE(s, page)                                          \
	struct nt_stripe *s __attribute__((cleanup(stripe_unlock), unused)) = \
		stripe_lock(page)

/* The pool answers -ENOENT both for a key it does not hold and for a
 * sub-pool that no longer exists (destroyed under the server).  The
 * device's data is then gone: every request on it fails with EIO, and
 * none reads as zeroes. */
static int pool_gone(int r)
{
	if (r != -ENOENT)
		return r;
	NT_COUNT(io_errors);
	return -EIO;
}

/* A whole page from the pool; a page never stored reads as zeroes, but a
 * page of a sub-pool that is gone fails with EIO (tmem_probe tells the
 * two apart: it answers 0 for a missing key of a live sub-pool).
 * Needs no stripe lock when there is no overflow file: a page is then in
 * the pool or nowhere, and one tmem_get sees the old or the new version
 * of a page being written, never a torn one.  (With overflow, a page may
 * be moving between the pool and the file; only its lock makes that
 * atomic.)  Whole-page readers then never queue on each other's stripes,
 * which a few requests of 64 pages each otherwise do. */
static int pool_get(uint64_t page, void *buf)
{
	int r = tmem_get(dev->pool, dev->pool_id, NT_DATA_OBJECT, page, buf);

	/* Never zeros where a page may have been: with damaged overflow
	 * records, a page found nowhere may be one they held. */
	if (r == -ENOENT && dev->ov && nt_ov_lost(dev->ov))
		r = -EIO;
	if (r == -ENOENT) {
		enum tmem_page_state state;

		r = pool_gone(tmem_probe(dev->pool, dev->pool_id,
					 NT_DATA_OBJECT, page, &state));
		if (r < 0)
			return r;
		memset(buf, 0, TMEM_PAGE_SIZE);
		return 0;
	}
	if (r == -EIO)
		NT_COUNT(io_errors);
	return r;
}

/* Caller must hold page's stripe lock.  Fill buf (a whole page; may be the
 * stripe's scratch page) with the page's contents. */
static int page_get(struct nt_stripe *s, uint64_t page, void *buf)
{
	uint32_t slot;
	int r;

	if (dev->ov && (slot = nt_ov_lookup(dev->ov, page)) != NT_NO_SLOT) {
		r = nt_ov_read(dev->ov, page, slot, s->buf);
		if (r < 0) {
			NT_COUNT(io_errors);
			return r;
		}
		NT_COUNT(ov_reads);
		if (buf != s->buf)
			memcpy(buf, s->buf, TMEM_PAGE_SIZE);
		return 0;
	}
	return pool_get(page, buf);
}

/* Whether the pool has more than min_room bytes left that hold no data,
 * so that a refusal means its grower has not caught up yet rather than
 * that it is full.  "Full" means full: the metadata, the pre-filled
 * reserve and a margin do not count against the ceiling, only the data
 * chunks do. */
static bool pool_can_grow(uint64_t min_room)
{
	return tmem_room(dev->pool) > min_room;
}

/* Whether the put this thread just saw refused was refused for something
 * the pool's grower readies: a chunk (reserve_empty) or an index or blob
 * record (records_later). */
static bool refused_for_grower(void)
{
	enum tmem_reject why = tmem_last_reject();

	return why == TMEM_REJECT_RESERVE_EMPTY ||
	       why == TMEM_REJECT_RECORDS_LATER;
}

/* Whether the refusal this thread just saw is one a wait for the grower
 * may lift: records not faulted in yet (whatever room the chunks have:
 * the pool says so only for a page it has room for, or one that needs
 * none, a zero or same-filled page; one it has no room for is refused as
 * such), or no ready chunk while the pool has more than min_room bytes
 * left that hold no data.  Any other refusal (the sub-pool's max-share, a
 * full index, a full pool) is a limit. */
static bool grower_may_lift(uint64_t min_room)
{
	return tmem_last_reject() == TMEM_REJECT_RECORDS_LATER ||
	       (tmem_last_reject() == TMEM_REJECT_RESERVE_EMPTY &&
		pool_can_grow(min_room));
}

/* Whether the put this thread just saw refused after its whole wait was
 * refused because the grower fell behind, not because the pool is full:
 * for want of records, or of a ready chunk while the pool had more than
 * its last few chunks left that hold no data (compaction keeps one, which
 * alone does not make a pool that can take pages). */
static bool grower_late(void)
{
	return grower_may_lift(NT_SPILL_ROOM);
}

/* A put that waited its whole budget for the grower, with room left in
 * the pool: said through the log ring with what the grower was doing, at
 * most once every NT_LATE_SAY_S (a late grower refuses several writes in
 * a row, and the message is for finding out why, not for counting). */
#define NT_LATE_SAY_S 10
static void say_late(uint64_t page, uint64_t waited_ms)
{
	static _Atomic uint64_t last_ns;
	struct tmem_grower_info gi;
	uint64_t last = atomic_load_explicit(&last_ns, memory_order_relaxed),
		 now = nt_now_ns();

	NT_COUNT(nospace_waited);
	if ((last &&
	     (int64_t)(now - last) < (int64_t)NT_LATE_SAY_S * 1000000000) ||
	    !atomic_compare_exchange_strong(&last_ns, &last, now) ||
	    tmem_grower_info(dev->pool, &gi) != 0)
		return;
	nt_log(false,
	       "write at %" PRIu64 ": refused (ENOSPC) after waiting %" PRIu64
	       " ms for the pool's grower with room left: it has been %s for "
	       "%" PRIu64 " ms; reserve %" PRIu64 " chunks, %" PRIu64
	       " to fault in, %" PRIu64 " to punch (said at most every %d s)",
	       page << TMEM_PAGE_SHIFT, waited_ms, gi.step, gi.step_ms,
	       gi.reserve, gi.holes, gi.to_punch, NT_LATE_SAY_S);
}

/* The grower is in the kernel's allocator, faulting chunks or records
 * in. */
static bool grower_allocating(void)
{
	struct tmem_grower_info gi;

	return tmem_grower_info(dev->pool, &gi) == 0 && gi.allocating;
}

/* A put refused for want of room may only be waiting for the pool's grower
 * to refill its reserve of ready chunks, or to fault in the index records
 * it faults in ahead: give it up to budget_ms while the refusal says so
 * and a wait may lift it (grower_may_lift: for a chunk, while the pool has
 * more than min_room left; for records, whatever room the chunks have),
 * and none when the pool is full (a swap device's writes then fail at
 * once and the kernel keeps those pages in RAM; a full pool's spare chunk,
 * kept for compaction, counts as room, so the refusal's reason is what
 * tells).  Sleeping allocates nothing.  With late (no overflow file): past
 * the budget, a put refused for the grower (refused_for_grower) while the
 * grower is in the kernel's allocator waits on, up to NT_FAULT_WAIT_MS
 * from its first refusal (reclaim holds up that allocation, measured at
 * 350-560 ms in the guest).  Once it waits on, it goes on waiting while
 * the refusal is the grower's, whatever the grower's step: the chunk it
 * waited for may have gone to another waiting put, and the grower pass
 * between two faults (compacting, trimming) is no reason to fail.  The
 * wait ends there (budget_ms, or NT_FAULT_WAIT_MS waiting on) whatever the
 * grower does, stopped too.  A refusal after the whole wait that the
 * grower caused (grower_late) sets *late and is said (say_late). */
static int put_waiting(uint64_t page, const void *data, unsigned budget_ms,
		       uint64_t min_room, bool *late)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	uint64_t start = 0, waited = 0;
	unsigned tries = 0;
	bool extended = false;
	int r;

	for (;;) {
		bool more = false;

		r = tmem_put(dev->pool, dev->pool_id, NT_DATA_OBJECT, page,
			     data);
		/* The budget is time since the first refusal, not retries:
		 * a put itself may wait (up to 100 ms for chunk_lock, which
		 * a stopped process may hold), and 200 such retries kept a
		 * write 20 s. */
		if (start)
			waited = (nt_now_ns() - start) / 1000000;
		if (r == -ENOSPC && waited >= budget_ms && budget_ms && late) {
			more = refused_for_grower() &&
			       (extended || grower_allocating()) &&
			       nt_now_ns() - start <
				       (uint64_t)NT_FAULT_WAIT_MS * 1000000;
			if (more && !extended) {
				extended = true;
				NT_COUNT(fault_waits);
			}
			if (!more && grower_late()) {
				*late = true;
				say_late(page, (nt_now_ns() - start) / 1000000);
			}
		}
		if (r != -ENOSPC || (waited >= budget_ms && !more))
			return pool_gone(r);
		if (!refused_for_grower() ||
		    (tries % 10 == 0 && !grower_may_lift(min_room)))
			return r;
		if (!start)
			start = nt_now_ns();
		NT_COUNT(nospace_retries);
		nanosleep(&ms, NULL);
		tries++;
	}
}

/* Caller must hold page's stripe lock.  Store a whole page: the pool
 * first; when the pool has no room, the overflow file. */
static int page_put_room(struct nt_stripe *s, uint64_t page, const void *data,
			 bool *late)
{
	int r;

	if (dev->ov == NULL) {
		r = put_waiting(page, data, dev->nospace_wait_ms, 0, late);
		if (r == -ENOSPC)
			NT_COUNT(nospace);
		return r;
	}

	/* A few milliseconds for a growing pool cost less than a disk
	 * write (and a later read) of the page; but a pool with only its last
	 * few chunks free is full for this purpose (compaction keeps one,
	 * others are owed to other sub-pools' minimums): there every page
	 * would wait its whole budget before it spills. */
	r = put_waiting(page, data, NT_SPILL_WAIT_MS, NT_SPILL_ROOM, NULL);
	if (r == 0) {
		nt_ov_release(dev->ov, page);
		return 0;
	}
	if (r != -ENOSPC)
		return r;

	/* The pool refused: it still holds any older version of the page,
	 * which stays the page's until the file has the new one. */
	if (data != s->buf)
		memcpy(s->buf, data, TMEM_PAGE_SIZE);
	r = nt_ov_write(dev->ov, page, s->buf);
	if (r == -ENOSPC)
		NT_COUNT(ov_full);
	else if (r < 0)
		NT_COUNT(io_errors);
	else
		NT_COUNT(ov_writes);
	/* Then the pool's older version goes, giving its room back (should
	 * that fail, the file's copy reads first). */
	if (r == 0)
		(void)tmem_flush_page(dev->pool, dev->pool_id, NT_DATA_OBJECT,
				      page);
	return r;
}

/* Set when a write was refused because the pool (and the overflow file)
 * is full; cleared once there is room again.  While it is set, a write to
 * a page the device does not hold is refused at once, even one the pool
 * could take without room (a zero, same-filled or duplicate page).  Why:
 * the kernel keeps a page whose swap write failed dirty in RAM, holding
 * its slot, and goes on reclaiming whatever it can write.  Were those
 * pages still taken, every reclaim pass would free a few and the OOM
 * killer would never run: measured in the guest (a 32M pool, the
 * workload at MemTotal), the workload stood still for minutes with every
 * slot taken, not even a SIGKILL could end it.  Refused, reclaim makes no
 * progress and the kernel OOM-kills, as it would with no swap left.  A
 * write over a page the device holds still goes through: it can only give
 * room back (a stale slot rewritten with a zero page frees its data). */
static _Atomic bool dev_full;

/* Whether there is room again: a few chunks free in the pool (a
 * sixteenth of it, at most NT_SPILL_ROOM), or a free overflow slot. */
static bool room_returned(void)
{
	uint64_t want = dev->pool_ceiling / 16;

	if (want > NT_SPILL_ROOM)
		want = NT_SPILL_ROOM;
	if (tmem_room(dev->pool) > want)
		return true;
	return dev->ov && nt_ov_slots_used(dev->ov) < nt_ov_slots(dev->ov);
}

/* A write refused because the device is full is answered after
 * NT_FULL_PACE_MS, with no lock held.  The kernel writes such a page
 * again on its next reclaim pass; answered at once, it retried as fast as
 * requests could go round (15,000 refused pages a second in the guest),
 * and in one of two boots the machine stalled 200 s before the OOM kill,
 * a block-layer worker blocked for 120 s.  Paced, two boots ended in an
 * OOM kill after 56 s and 90 s with no such stall (docs/swap.md, "When
 * the pool is full"): few boots, so this bounds the retry rate rather
 * than proving a cure. */
static void full_pace(void)
{
	struct timespec ts = {0, NT_FULL_PACE_MS * 1000000L};

	nanosleep(&ts, NULL);
}

/* The first write refused for want of room is logged here, once (a full
 * pool refuses every new page, and logging must not become the
 * bottleneck of a swap device): before it is paced and answered, so that
 * the message is out before the client can see the error and hang up.
 * nt_fail leaves a write's -ENOSPC to it. */
static void say_full(uint64_t page)
{
	static _Atomic bool said;
	uint64_t slots = dev->size >> TMEM_PAGE_SHIFT, pages, used;

	if (atomic_exchange_explicit(&said, true, memory_order_relaxed))
		return;
	nt_log(false,
	       "write at %" PRIu64 ": the pool is full%s (reported once)",
	       page << TMEM_PAGE_SHIFT,
	       dev->ov ? " and so is the overflow file"
		       : "; give overflow=FILE or a larger pool-size");
	/* The pool keeps a page for every slot ever written (NBD says nothing
	 * when the kernel frees one): a device with many slots the pool never
	 * held has more swap, in the kernel's eyes, than its room in the pool
	 * (the pool, or this device's max-share) can hold, and the kernel goes
	 * on writing there (docs/swap.md, "Freed slots, and sizing the
	 * device").  This device's own sub-pool's gauges: other sub-pools share
	 * the pool, and reading them could fault on this path. */
	if (dev->ov ||
	    tmem_pool_usage(dev->pool, dev->pool_id, &pages, &used) != 0 ||
	    pages == 0 || used == 0 || pages >= slots - slots / 8)
		return;
	nt_log(false,
	       "this device's sub-pool holds %" PRIu64 " pages of its %" PRIu64
	       " (%" PRIu64 " bytes each): a device of about %" PRIu64
	       " MiB is what its room in the pool holds; the kernel sees the "
	       "rest as free swap and will keep writing there",
	       pages, slots, used / pages, (pages << TMEM_PAGE_SHIFT) >> 20);
}

/* Caller must hold page's stripe lock.  Whether a write to page is
 * refused because the device is full (see dev_full). */
static bool full_refuses(uint64_t page)
{
	enum tmem_page_state st;

	if (!atomic_load_explicit(&dev_full, memory_order_relaxed))
		return false;
	if (room_returned()) {
		atomic_store_explicit(&dev_full, false, memory_order_relaxed);
		return false;
	}
	if (dev->ov && nt_ov_lookup(dev->ov, page) != NT_NO_SLOT)
		return false;
	return tmem_probe(dev->pool, dev->pool_id, NT_DATA_OBJECT, page, &st) ==
		       0 &&
	       st == TMEM_PAGE_ABSENT;
}

/* Caller must hold page's stripe lock.  Stamp a write to page before it
 * is stored: a free notice stamped earlier than this write cannot drop
 * what it stores (nbd-freed.c). */
static void page_stamp(uint64_t page)
{
	if (stamps)
		stamps[page] = (uint32_t)(nt_now_ns() >> NT_STAMP_SHIFT);
}

/* Caller must hold page's stripe lock.  Store a whole page: the pool
 * first; when the pool has no room, the overflow file.  -ENOSPC when
 * neither has room (and, until room returns, for every page the device
 * does not hold: see dev_full). */
static int page_put(struct nt_stripe *s, uint64_t page, const void *data)
{
	bool late = false;
	int r;

	page_stamp(page);
	if (full_refuses(page)) {
		NT_COUNT(nospace);
		return -ENOSPC;
	}
	r = page_put_room(s, page, data, &late);
	/* Not when the pool had room and its grower was late (say_late):
	 * that write alone is refused, and the pool is not full. */
	if (r == -ENOSPC && !late)
		atomic_store_explicit(&dev_full, true, memory_order_relaxed);
	return r;
}

/* Caller must hold page's stripe lock.  Forget a page wherever it is. */
static int page_drop(uint64_t page)
{
	/* The pool first: should its flush fail, the file keeps the newest
	 * version, which still reads first. */
	int r = pool_gone(
		tmem_flush_page(dev->pool, dev->pool_id, NT_DATA_OBJECT, page));

	if (r == 0 && dev->ov)
		nt_ov_release(dev->ov, page);
	return r;
}

/* The part of [offset, offset+count) in page offset >> 12. */
static inline uint32_t chunk_len(uint64_t offset, uint32_t count)
{
	uint32_t in = offset & (TMEM_PAGE_SIZE - 1);
	uint32_t n = TMEM_PAGE_SIZE - in;

	return n < count ? n : count;
}

static int page_read(uint64_t page, uint32_t in, uint32_t n, void *p)
{
	LOCK_PAGE_FOR_SCOPE(s, page);
	int r;

	if (n == TMEM_PAGE_SIZE)
		return page_get(s, page, p);
	r = page_get(s, page, s->buf);
	if (r == 0)
		memcpy(p, s->buf + in, n);
	return r;
}

int nt_pages_read(void *buf, uint32_t count, uint64_t offset)
{
	unsigned char *p = buf;
	int r;

	while (count > 0) {
		uint64_t page = offset >> TMEM_PAGE_SHIFT;
		uint32_t in = offset & (TMEM_PAGE_SIZE - 1);
		uint32_t n = chunk_len(offset, count);

		if (n == TMEM_PAGE_SIZE && dev->ov == NULL)
			r = pool_get(page, p);
		else
			r = page_read(page, in, n, p);
		if (r < 0)
			return r;
		p += n;
		offset += n;
		count -= n;
	}
	nt_oom_read();
	return 0;
}

/* Write n bytes (data, or zeroes if data is NULL) at in within page. */
static int page_write_part(uint64_t page, uint32_t in, uint32_t n,
			   const void *data)
{
	LOCK_PAGE_FOR_SCOPE(s, page);
	int r;

	if (n == TMEM_PAGE_SIZE)
		return page_put(s, page, data ? data : zero_page);

	NT_COUNT(rmw_pages);
	r = page_get(s, page, s->buf);
	if (r < 0)
		return r;
	/* Bytes the page already has (zeroes into a page never written,
	 * above all): nothing to store, nothing a full pool must refuse.
	 * Stamped all the same, as page_put stamps. */
	if (memcmp(s->buf + in, data ? data : zero_page, n) == 0) {
		page_stamp(page);
		return 0;
	}
	if (data)
		memcpy(s->buf + in, data, n);
	else
		memset(s->buf + in, 0, n);
	return page_put(s, page, s->buf);
}

int nt_pages_write(const void *buf, uint32_t count, uint64_t offset)
{
	const unsigned char *p = buf;
	int r = 0;

	while (count > 0) {
		uint64_t page = offset >> TMEM_PAGE_SHIFT;
		uint32_t n = chunk_len(offset, count);

		r = page_write_part(page, offset & (TMEM_PAGE_SIZE - 1), n, p);
		if (r == -ENOSPC &&
		    atomic_load_explicit(&dev_full, memory_order_relaxed)) {
			NT_COUNT(full_refused);
			say_full(page);
			full_pace();
		}
		if (r < 0)
			break;
		p += n;
		offset += n;
		count -= n;
	}
	/* Taken whole: the swap moves, perhaps a little.  Not a write refused
	 * after some of its pages were taken: the kernel gets the error for
	 * all of them and writes them all again. */
	if (r == 0 && p != buf)
		nt_oom_taken();
	return r;
}

int nt_pages_zero(uint32_t count, uint64_t offset, bool may_trim)
{
	int r;

	while (count > 0) {
		uint64_t page = offset >> TMEM_PAGE_SHIFT;
		uint32_t n = chunk_len(offset, count);

		if (n == TMEM_PAGE_SIZE) {
			LOCK_PAGE_FOR_SCOPE(s, page);

			if (may_trim) {
				r = page_drop(page);
			} else {
				r = page_put(s, page, zero_page);
				/* Out of room, a dropped page reads as zeroes
				 * just the same: zeroing never fails for want
				 * of space. */
				if (r == -ENOSPC)
					r = page_drop(page);
			}
		} else {
			r = page_write_part(page, offset & (TMEM_PAGE_SIZE - 1),
					    n, NULL);
		}
		if (r < 0)
			return r;
		offset += n;
		count -= n;
	}
	return 0;
}

int nt_pages_trim(uint32_t count, uint64_t offset)
{
	int r;

	while (count > 0) {
		uint64_t page = offset >> TMEM_PAGE_SHIFT;
		uint32_t n = chunk_len(offset, count);

		if (n == TMEM_PAGE_SIZE) {
			LOCK_PAGE_FOR_SCOPE(s, page);

			r = page_drop(page);
			if (r < 0)
				return r;
		}
		offset += n;
		count -= n;
	}
	return 0;
}

int nt_pages_cache(uint32_t count, uint64_t offset)
{
	uint64_t page = offset >> TMEM_PAGE_SHIFT;
	uint64_t end = (offset + count + TMEM_PAGE_SIZE - 1) >> TMEM_PAGE_SHIFT;
	uint32_t slot;
	int r;

	if (dev->ov == NULL)
		return 0; /* everything is in RAM already */
	for (; page < end; page++) {
		LOCK_PAGE_FOR_SCOPE(s, page);

		slot = nt_ov_lookup(dev->ov, page);
		if (slot == NT_NO_SLOT)
			continue;
		r = nt_ov_read(dev->ov, page, slot, s->buf);
		if (r < 0) {
			NT_COUNT(io_errors);
			return r;
		}
		r = tmem_put(dev->pool, dev->pool_id, NT_DATA_OBJECT, page,
			     s->buf);
		if (r == -ENOSPC)
			return 0; /* still full: the page stays where it is */
		if (r < 0)
			return pool_gone(r);
		nt_ov_release(dev->ov, page);
		NT_COUNT(ov_promoted);
	}
	return 0;
}

/* Move a page that was read back since it was written from the pool to
 * the overflow file (nbd-demote.c).  Under its stripe lock the page is
 * looked at again, read from the pool into the stripe's scratch page,
 * written to its slot, and only then flushed from the pool: whoever takes
 * the lock next finds it in exactly one place.  1 if it moved, 0 if it
 * no longer qualifies, -ENOSPC when the file has no free slot, or another
 * -errno (the page then stays in the pool). */
int nt_pages_demote(uint64_t page)
{
	LOCK_PAGE_FOR_SCOPE(s, page);
	int r;

	if (nt_ov_lookup(dev->ov, page) != NT_NO_SLOT)
		return 0;
	r = tmem_read_back(dev->pool, dev->pool_id, NT_DATA_OBJECT, page);
	if (r <= 0)
		return r;
	r = tmem_get(dev->pool, dev->pool_id, NT_DATA_OBJECT, page, s->buf);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r; /* a damaged page stays where gets report it */
	r = nt_ov_write(dev->ov, page, s->buf);
	if (r < 0)
		return r;
	r = tmem_flush_page(dev->pool, dev->pool_id, NT_DATA_OBJECT, page);
	if (r < 0) {
		enum tmem_page_state st;

		/* A failed flush may have removed the page before it failed
		 * (on a damaged pool it drops, then looks again): the file's
		 * copy goes only while the pool still holds the page.  Reads
		 * look at the file first, so two copies of the same bytes
		 * read right, and none would read zeros. */
		if (tmem_probe(dev->pool, dev->pool_id, NT_DATA_OBJECT, page,
			       &st) == 0 &&
		    st != TMEM_PAGE_ABSENT)
			nt_ov_release(dev->ov, page);
		return r;
	}
	NT_COUNT(ov_demoted);
	return 1;
}

int nt_pages_freed(uint64_t page, uint32_t stamp)
{
	LOCK_PAGE_FOR_SCOPE(s, page);
	int r;

	if (stamps == NULL || (int32_t)(stamps[page] - stamp) >= 0)
		return 0;
	r = page_drop(page);
	return r < 0 ? r : 1;
}

static int pool_probe(uint64_t page, enum tmem_page_state *state)
{
	return pool_gone(tmem_probe(dev->pool, dev->pool_id, NT_DATA_OBJECT,
				    page, state));
}

int nt_pages_probe(uint64_t page, enum tmem_page_state *state)
{
	/* Without overflow, no lock is needed (see pool_get). */
	if (dev->ov == NULL)
		return pool_probe(page, state);

	LOCK_PAGE_FOR_SCOPE(s, page);
	int r;

	if (nt_ov_lookup(dev->ov, page) != NT_NO_SLOT) {
		*state = TMEM_PAGE_DATA;
		return 0;
	}
	r = pool_probe(page, state);
	/* A page found nowhere reads as an I/O error while overflow records
	 * are lost (pool_get): never call it a hole that reads as zeros. */
	if (r == 0 && *state == TMEM_PAGE_ABSENT && nt_ov_lost(dev->ov))
		*state = TMEM_PAGE_DATA;
	return r;
}

int nt_pages_sync(void)
{
	return dev->ov ? nt_ov_sync(dev->ov) : 0;
}
