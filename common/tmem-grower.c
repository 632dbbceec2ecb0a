/* tmem: memory that follows the data — the grower, prefault and locking.
 *
 * The serving process runs a grower thread (tmem_start): it keeps between
 * a low and a high watermark of free chunks faulted in (the reserve) so
 * that the put path never faults a page in, gives emptied chunks back to
 * the kernel by punching holes, sweeps index entries left on evicted blobs
 * and repairs after processes that died.  Puts wake it through a futex in
 * the segment, so a grower in one process serves puts from all of them.
 *
 * prefault reserves the whole segment at open (posix_fallocate after
 * checking /dev/shm has room, then MADV_POPULATE_WRITE and mlock); lock
 * locks the mapping on fault (mlock2 MLOCK_ONFAULT) and the contexts'
 * scratch, so nothing the pool touches can be swapped out.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tmem-alloc-internal.h"
#include "tmem-check-internal.h"
#include "tmem-code-internal.h"
#include "tmem-compact-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define TMEM_GROW_PERIODS   8	 /* reserve: chunks taken in 8 periods */
#define TMEM_GROW_MAX	    4096 /* chunks (256 MiB) at most in reserve */
#define TMEM_GROW_BATCH	    16	 /* chunks faulted in per trip */
#define TMEM_IDLE_PERIODS   20	 /* a second without a chunk taken: idle */
#define TMEM_GROW_BOOST_MAX 3	 /* up to 8 << 3 periods in reserve */
#define TMEM_GROW_MIN_CAP   64	 /* chunks the reserve may always reach */

/* The grower's steps, for tmem_grower_info. */
enum grower_step {
	STEP_WAITING,
	STEP_REPAIRING,
	STEP_CHECKING,
	STEP_GROWING,
	STEP_FAULTING,
	STEP_RECORDS,
	STEP_PUNCHING,
	STEP_TRIMMING,
	STEP_COMPACTING,
	STEP_REAPING,
};

static const char *const step_names[] = {
	[STEP_WAITING] = "waiting",
	[STEP_REPAIRING] = "repairing",
	[STEP_CHECKING] = "checking",
	[STEP_GROWING] = "growing",
	[STEP_FAULTING] = "faulting chunks in",
	[STEP_RECORDS] = "faulting in records",
	[STEP_PUNCHING] = "punching",
	[STEP_TRIMMING] = "trimming",
	[STEP_COMPACTING] = "compacting",
	[STEP_REAPING] = "reaping",
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The grower enters step s (a step it is already in keeps its start). */
static void step(struct tmem *t, enum grower_step s)
{
	if ((atomic_load_explicit(&t->grower_step, memory_order_relaxed) &
	     0xff) == s)
		return;
	atomic_store_explicit(&t->grower_step, now_ms() << 8 | s,
			      memory_order_relaxed);
}

int tmem_grower_info(struct tmem *t, struct tmem_grower_info *gi)
{
	uint64_t v = atomic_load_explicit(&t->grower_step,
					  memory_order_relaxed),
		 now = now_ms();
	unsigned s = (unsigned)(v & 0xff);

	if (!__atomic_load_n(&t->grower_running, __ATOMIC_RELAXED))
		return -ENOENT;
	gi->step = s < sizeof step_names / sizeof step_names[0] ? step_names[s]
								: "?";
	gi->step_ms = now > v >> 8 ? now - (v >> 8) : 0;
	gi->allocating = s == STEP_FAULTING || s == STEP_RECORDS;
	gi->reserve = __atomic_load_n(&t->hdr->reserve_count, __ATOMIC_RELAXED);
	gi->holes = __atomic_load_n(&t->hdr->hole_count, __ATOMIC_RELAXED);
	gi->to_punch = __atomic_load_n(&t->hdr->punch_count, __ATOMIC_RELAXED);
	return 0;
}

void tmem_grower_wake(struct tmem *t)
{
	if (atomic_load_explicit(&t->hdr->growers, memory_order_relaxed) == 0)
		return;
	atomic_fetch_add(&t->hdr->grow_futex, 1);
	syscall(SYS_futex, &t->hdr->grow_futex, FUTEX_WAKE, INT_MAX, NULL, NULL,
		0);
}

/* Caller holds chunk_lock.  While chunks are being taken, keep the
 * reserve deep enough to absorb what writers take between two runs of the
 * grower: in proportion to what is in use, and to the rate at which chunks
 * were taken lately (several grower periods' worth, for a grower that
 * does not get the CPU at once on a loaded or slow machine; more periods
 * each time it fell behind), within bounds (see below).  Once idle, only
 * three: the rest is memory nobody uses, and is punched. */
static void watermarks_update(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	uint64_t free_chunks =
		h->reserve_count + h->hole_count + h->punch_count;
	uint64_t used = t->geo->nr_chunks - 1 - free_chunks, high, cap;

	if (atomic_load(&h->idle)) {
		/* A few, for contexts that start writing again at once. */
		h->high_wm = 3;
		h->low_wm = 2;
		return;
	}
	high = used / 32;
	if (high <
	    ((uint64_t)t->grow_rate * TMEM_GROW_PERIODS << t->grow_boost))
		high = (uint64_t)t->grow_rate * TMEM_GROW_PERIODS
		       << t->grow_boost;
	if (high > TMEM_GROW_MAX)
		high = TMEM_GROW_MAX;
	/* Memory held ready is memory the system does not have: no more
	 * than a quarter of the room left, nor than half of what is in use
	 * (4 MiB at least). */
	cap = used / 2 > TMEM_GROW_MIN_CAP ? used / 2 : TMEM_GROW_MIN_CAP;
	if (cap > free_chunks / 4)
		cap = free_chunks / 4;
	if (high > cap)
		high = cap;
	if (high < 8)
		high = 8;
	h->high_wm = (uint32_t)high;
	h->low_wm = (uint32_t)(high / 2);
}

/* Punch one reserve chunk beyond the high watermark. */
static bool trim_one(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	uint32_t c = 0;

	tmem_chunk_lock(t, -1);
	watermarks_update(t);
	if (!h->prefaulted && h->reserve_count > h->high_wm) {
		c = h->reserve_head;
		h->reserve_head = seg_chunk(t, c)->next;
		chunk_count_set(&h->reserve_count, h->reserve_count - 1);
		atomic_store(&seg_chunk(t, c)->sl,
			     SL_MAKE(CHUNK_PUNCHING, t->slot + 1, 0));
	}
	tmem_unlock(&h->chunk_lock);
	if (!c)
		return false;
	tmem_chunk_punch(t, c);
	tmem_chunk_lock(t, -1);
	tmem_hole_push(t, c);
	tmem_unlock(&h->chunk_lock);
	return true;
}

/* Map every record below each bump and TMEM_AHEAD_RECORDS past it into
 * this process, a run of up to TMEM_AHEAD_RECORDS at a time, and publish
 * after each run how far (t->ahead): a mark moves only past records that
 * are mapped.  From 0: records below the bump that another process took
 * (a server started on a segment in use, or a second one serving) come
 * back through the free lists.  A run that cannot be faulted in (memory
 * short, /dev/shm full) leaves its mark where it is: puts past it are
 * refused (records_later, retried) until a later pass maps it.  Said once
 * when that starts and once when it ends.  false: nothing mapped. */
static bool fault_ahead(struct tmem *t)
{
	const struct tmem_geometry *g = t->geo;
	bool work = false;
	unsigned table, kind;
	int err = 0;

	for (table = 0; table < 2; table++) {
		uint64_t half = (table ? g->nr_blobs : g->nr_entries) / 2;

		for (kind = 0; kind < 2; kind++) {
			uint64_t n = atomic_load_explicit(
				table ? &t->hdr->bbump[kind]
				      : &t->hdr->ebump[kind],
				memory_order_relaxed);
			_Atomic uint64_t *ahead = &t->ahead[table][kind];
			uint64_t done = atomic_load_explicit(
				ahead, memory_order_relaxed);
			uint64_t want = n + TMEM_AHEAD_RECORDS, to;

			if (want > half)
				want = half;
			/* Topped up once half the lead is gone, and to
			 * the end of the half at the end. */
			if (done >= want ||
			    (done + TMEM_AHEAD_RECORDS / 2 > want &&
			     want < half))
				continue;
			for (; done < want; done = to) {
				uint64_t from =
					seg_record_off(t, table, kind, done);
				int r;

				to = want - done > TMEM_AHEAD_RECORDS
					     ? done + TMEM_AHEAD_RECORDS
					     : want;
				r = tmem_fault_in(
					t, from,
					seg_record_off(t, table, kind, to) -
						from);
				if (r) {
					err = r;
					break;
				}
				atomic_store_explicit(ahead, to,
						      memory_order_release);
				work = true;
			}
		}
	}
	if (err && !t->ahead_failing)
		tmem_log(t, TMEM_LOG_WARNING,
			 "cannot fault index records in (%s): puts that need "
			 "one are refused until they are; is /dev/shm full "
			 "or memory short?",
			 strerror(-err));
	else if (!err && t->ahead_failing)
		tmem_log(t, TMEM_LOG_INFO, "index records faulted in again");
	t->ahead_failing = err != 0;
	return work;
}

/* Where the test hook stops the grower (TMEM_GROWER_STALL_IN). */
enum {
	STALL_TOP = 1,	    /* the top of its loop (the default) */
	STALL_FAULTING = 2, /* "faulting": while faulting chunks in */
	STALL_FAULTED = 4,  /* "faulted": out of the allocator, its chunks
			     * not yet in the reserve */
	STALL_RECORDS = 8,  /* "records": while faulting in records */
};

/* Whether the test hook may stop the grower now: once puts have taken
 * chunks (not while the grower fills a new pool's reserve, before a
 * test's writes begin).  The first such stop comes with at most the
 * reserve of a pool that was idle (a few chunks) for the writes, so a
 * test's 1 MiB write runs dry. */
static bool stall_due(struct tmem *t)
{
	return __atomic_load_n(&t->hdr->acquires, __ATOMIC_RELAXED) != 0;
}

/* TMEM_GROWER_STALL_MS (test hooks): stop for that long, once in each
 * place asked for (where), when due (stall_due, looked at by the caller:
 * for "records", at the top of the grower's loop).  Nothing without test
 * hooks. */
static void test_stall(struct tmem *t, unsigned where, bool due)
{
#ifdef TMEM_TEST_HOOKS
	if (t->grower_stall_ms && (t->grower_stall_in & where) && due) {
		struct timespec st = {t->grower_stall_ms / 1000,
				      (long)(t->grower_stall_ms % 1000) *
					      1000000L};

		t->grower_stall_in &= ~where;
		nanosleep(&st, NULL);
	}
#else
	(void)t;
	(void)where;
	(void)due;
#endif
}

/* Fault holes in and add them to the reserve, a few at a time (holes
 * never used before are neighbours: one madvise for the lot).  false:
 * nothing to do. */
static bool grow_one(struct tmem *t, bool grower)
{
	struct tmem_header *h = t->hdr;
	uint32_t got[TMEM_GROW_BATCH], n = 0, want, i, j;
	int r = 0;

	tmem_chunk_lock(t, -1);
	/* Writers ran it dry: this machine does not give the grower the CPU
	 * soon enough for the reserve it keeps. */
	if (h->reserve_count == 0 && h->hole_count && grower &&
	    !atomic_load(&h->idle))
		t->grow_behind = true;
	watermarks_update(t);
	want = h->reserve_count < h->high_wm ? h->high_wm - h->reserve_count
					     : 0;
	/* With the reserve empty a writer is waiting: the first chunk
	 * alone, so that it is ready at once. */
	if (want > TMEM_GROW_BATCH)
		want = TMEM_GROW_BATCH;
	if (h->reserve_count == 0 && want > 1)
		want = 1;
	while (n < want && h->hole_count) {
		got[n] = tmem_hole_pop(t);
		/* For the reserve, no sub-pool's (see scan_chunks). */
		chunk_set(seg_chunk(t, got[n]), pool, 0xff);
		atomic_store(&seg_chunk(t, got[n])->sl,
			     SL_MAKE(CHUNK_GROWING, t->slot + 1, 0));
		n++;
	}
	tmem_unlock(&h->chunk_lock);
	if (n == 0)
		return false;
	/* Apart from "growing" (the chunk lock, the CPU): the kernel's
	 * allocation, where reclaim may hold the grower. */
	if (grower) {
		step(t, STEP_FAULTING);
		test_stall(t, STALL_FAULTING, stall_due(t));
	}
	for (i = 0; i < n; i = j) {
		/* A run of neighbours in one call. */
		for (j = i + 1; j < n && got[j] == got[j - 1] + 1; j++)
			;
		r = tmem_chunk_fault_range(t, got[i], j - i);
		if (r)
			break;
	}
	if (grower) {
		step(t, STEP_GROWING);
		test_stall(t, STALL_FAULTED, stall_due(t));
	}
	tmem_chunk_lock(t, -1);
	for (j = 0; j < n; j++) {
		if (j >= i) {
			/* Not faulted in: back to the holes. */
			tmem_hole_push(t, got[j]);
			continue;
		}
		atomic_store(&seg_chunk(t, got[j])->sl,
			     SL_MAKE(CHUNK_RESERVE, 0, 0));
		seg_chunk(t, got[j])->next = h->reserve_head;
		h->reserve_head = got[j];
		chunk_count_set(&h->reserve_count, h->reserve_count + 1);
	}
	tmem_unlock(&h->chunk_lock);
	/* Said once when it starts failing and once when it works again,
	 * not on every pass. */
	if (r && !t->chunks_failing)
		tmem_log(t, TMEM_LOG_WARNING,
			 "cannot fault chunk %u in (%s): the pool does not "
			 "grow until chunks can be, puts that need one are "
			 "refused; is /dev/shm full or memory short?",
			 got[i], strerror(-r));
	else if (!r && t->chunks_failing)
		tmem_log(t, TMEM_LOG_INFO, "chunks faulted in again");
	t->chunks_failing = r != 0;
	return r == 0;
}

/* Punch one chunk from the punch list. */
static bool punch_one(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	uint32_t c = 0;

	tmem_chunk_lock(t, -1);
	if (h->punch_count) {
		c = h->punch_head;
		h->punch_head = seg_chunk(t, c)->next;
		chunk_count_set(&h->punch_count, h->punch_count - 1);
		atomic_store(&seg_chunk(t, c)->sl,
			     SL_MAKE(CHUNK_PUNCHING, t->slot + 1, 0));
	}
	tmem_unlock(&h->chunk_lock);
	if (!c)
		return false;
	tmem_chunk_punch(t, c);
	tmem_chunk_lock(t, -1);
	tmem_hole_push(t, c);
	tmem_unlock(&h->chunk_lock);
	return true;
}

/* Fill the reserve up to the high watermark now. */
static void grow_reserve(struct tmem *t)
{
	while (grow_one(t, false))
		;
}

/* Fewer than an eighth of the chunks free: time to compact. */
static bool free_chunks_low(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	uint64_t free_chunks;

	tmem_chunk_lock(t, -1);
	free_chunks = h->reserve_count + h->hole_count + h->punch_count;
	tmem_unlock(&h->chunk_lock);
	return free_chunks < t->geo->nr_chunks / 8;
}

/* Chunks the writers keep open (one per context and sub-pool, partly
 * filled) and the compactor's own are not counted as waste: up to this
 * many, and up to an eighth of the chunks in use. */
#define TMEM_PACK_OPEN_CHUNKS 16

/* Chunks and live payload of the persistent sub-pools this process may
 * compact, its own (all: false), or of every sub-pool.  Another server's
 * sub-pool is left out: this process could not pack it, and moving its
 * own well-packed chunks would only burn CPU. */
static void pool_usage(struct tmem *t, bool all, uint64_t *chunks,
		       uint64_t *payload)
{
	uint64_t own =
		atomic_load_explicit(&t->own_persistent, memory_order_relaxed);
	unsigned p;

	*chunks = *payload = 0;
	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);
		int64_t c = atomic_load_explicit(&pr->g[G_CHUNKS],
						 memory_order_relaxed);
		int64_t b = atomic_load_explicit(&pr->g[G_COMPRESSED],
						 memory_order_relaxed);

		if (!all && (__atomic_load_n(&pr->kind, __ATOMIC_RELAXED) !=
				     TMEM_PERSISTENT ||
			     !((own >> p) & 1)))
			continue;
		*chunks += c > 0 ? (uint64_t)c : 0;
		*payload += b > 0 ? (uint64_t)b : 0;
	}
}

/* Keep swap's memory packed while it is in use, not only when the pool
 * fills or idles: swap rewrites and frees slots at random, so every chunk
 * decays towards half live, and a pool that packs only when full has
 * grown to its ceiling first.  When its own persistent sub-pools' chunks hold
 * more than a twentieth beyond their live payload (and the open chunks),
 * move what lives in the sparsest ones together so that the emptied
 * chunks go back to the system, as zsmalloc's compaction does for zram.
 * Called once a period with the chunks the writers took in the last one
 * (and near the ceiling, where it matters most: swap's chunks there all
 * decay to about the pool's payload / used, none to three quarters): it
 * claims sixteen victims (at most fifteen sixteenths live, the sparsest
 * first) for each, plus TMEM_PACK_CHUNKS, so that it keeps pace with
 * them, up to TMEM_PACK_CHUNKS_MAX victims a period (compact_mu is held
 * meanwhile, and a put that finds no room does not wait for it).  It
 * copies up to fifteen times what they wrote, at memcpy speed: less than
 * compressing it cost them.  A scan that
 * found no chunk to take is not repeated until those chunks or payload
 * change.  (Ephemeral sub-pools make room by eviction; they are packed
 * when idle, below.) */
#define TMEM_PACK_CHUNKS     4
#define TMEM_PACK_CHUNKS_MAX 512
/* Frees come in bursts too (a process exits, a run of swap-ins frees the
 * slots they read) with no writes to pace by: in a period in which no
 * chunk was taken, eight victims for each chunk beyond the twentieth (at
 * about seven eighths live, eight victims give back one chunk), up to
 * this many: about 10 MiB of excess packed a second (a burst of 8 MiB in
 * the guest's 160M pool within a second) instead of trickling at
 * TMEM_PACK_CHUNKS a period.  Not while chunks are taken:
 * the writers need the grower for their reserve then (two guest boots
 * with it always on each had a few puts wait out their 50 ms for a
 * reserve chunk and refused; the three boots after this rule, none). */
#define TMEM_PACK_BURST_MAX 64

static bool compact_packed(struct tmem *t, uint64_t taken)
{
	uint64_t chunks, payload, seen, used, open, victims, excess;
	bool none;

	pool_usage(t, false, &chunks, &payload);
	open = chunks / 8 < TMEM_PACK_OPEN_CHUNKS ? chunks / 8
						  : TMEM_PACK_OPEN_CHUNKS;
	if (chunks < 8)
		return false;
	used = (chunks - open) * TMEM_CHUNK_SIZE;
	if (used * 20 <= payload * 21)
		return false;
	seen = chunks << 40 ^ payload;
	if (seen == t->packed_seen)
		return false;
	excess = taken ? 0 : (used - payload * 21 / 20) / TMEM_CHUNK_SIZE * 8;
	victims = TMEM_PACK_CHUNKS + 16 * taken +
		  (excess < TMEM_PACK_BURST_MAX ? excess : TMEM_PACK_BURST_MAX);
	if (victims > TMEM_PACK_CHUNKS_MAX)
		victims = TMEM_PACK_CHUNKS_MAX;
	if (tmem_compact_persistent(t, (unsigned)victims, TMEM_COMPACT_PACK,
				    &none) > 0)
		return true;
	/* Idle, nothing changes these figures: a round that stopped for a
	 * passing reason must not switch packing off until the next free. */
	if (none)
		t->packed_seen = seen;
	return false;
}

/* Idle, and the chunks in use hold less than half their size in payload:
 * pages were flushed or overwritten since they were written (a cache is
 * invalidated, swap frees slots), and nothing writes now to fill the
 * holes.  Move what lives in the sparsest chunks together so that the
 * emptied ones go back to the system.  A scan that found no chunk to take
 * is not repeated until the pool's chunks or payload change. */
static bool compact_sparse(struct tmem *t)
{
	uint64_t chunks, payload, seen;

	pool_usage(t, true, &chunks, &payload);
	if (chunks < 8 || payload * 2 >= chunks * TMEM_CHUNK_SIZE)
		return false;
	seen = chunks << 40 ^ payload;
	if (seen == t->sparse_seen)
		return false;
	if (tmem_compact(t, 4, TMEM_COMPACT_SPARSE) > 0)
		return true;
	t->sparse_seen = seen;
	return false;
}

/* The handle whose grower this thread is (NULL on other threads). */
static _Thread_local struct tmem *grower_of;

bool tmem_on_grower_thread(const struct tmem *t)
{
	return grower_of == t;
}

/* Map [p, p + len) of the segment into this process, reading: its pages
 * are there already (or swapped out, and come back); a hole would be
 * allocated, so the callers skip holes.  Kernels before 5.14 lack
 * MADV_POPULATE_READ: a byte of each page is read instead. */
static void map_in(void *p, size_t len)
{
	size_t i;

	if (madvise(p, len, MADV_POPULATE_READ) == 0)
		return;
	for (i = 0; i < len; i += 4096)
		(void)((volatile unsigned char *)p)[i];
}

/* A locking server maps in the chunks other processes faulted in since it
 * last looked (stamped after mapped_gen): mapped, a page is locked by the
 * lock on fault, and a put into it does not fault.  Run by the grower when
 * fault_gen moved (a process that faults chunks in wakes the growers), so
 * a peer's chunk may reach a request of this process unmapped only if it
 * is taken within that wake-up.  A chunk punched between the look at its
 * state and the populate gets its pages back (memory, not data: the
 * grower punches it again when it is freed once more).  false: nothing
 * to do. */
static bool map_new_chunks(struct tmem *t)
{
	uint32_t done =
		atomic_load_explicit(&t->hdr->fault_done, memory_order_acquire);
	uint32_t gen = atomic_load(&t->hdr->fault_gen);
	uint32_t seen = atomic_load(&t->mapped_gen);
	uint32_t bump, c, born;
	unsigned st;

	if (!t->map_chunks || gen == seen)
		return false;
	bump = __atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED);
	for (c = 1; c < bump && c < t->geo->nr_chunks; c++) {
		born = atomic_load_explicit(&seg_chunk(t, c)->born,
					    memory_order_relaxed);
		if ((int32_t)(born - seen) <= 0 || (int32_t)(born - gen) > 0)
			continue;
		/* A growing chunk stamped after seen is in memory already
		 * (the stamp follows the fault); a hole is not, and must not
		 * be made so. */
		st = SL_STATE(atomic_load(&seg_chunk(t, c)->sl));
		if (st == CHUNK_HOLE || st == CHUNK_PUNCHING ||
		    st == CHUNK_ORPHAN_HOLE)
			continue;
		map_in(seg_chunk_data(t, c), TMEM_CHUNK_SIZE);
	}
	/* Only when no stamp was in flight as it began (else a chunk may
	 * get its stamp after the scan passed it: look again next time);
	 * our own stamps may have moved it on meanwhile: only forward. */
	if (done == gen)
		atomic_compare_exchange_strong(&t->mapped_gen, &seen, gen);
	return true;
}

static void *grower_main(void *arg)
{
	struct tmem *t = arg;
	struct timespec last_reap = {0}, now, ts = {0, 50 * 1000000L};
	double last_tick = 0, tick;
	uint64_t last_acquires = 0;
	unsigned quiet = 0, calm = 0;

	grower_of = t;
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == -1)
		tmem_log(t, TMEM_LOG_DEBUG, "PR_SET_IO_FLUSHER: %m");
	while (!atomic_load(&t->grower_stop)) {
		uint32_t seen = atomic_load(&t->hdr->grow_futex);
		bool work = false, due;

		/* First the repair this process's request threads (or a
		 * process without a grower) wait for, and a check such a
		 * process asked for. */
		step(t, STEP_REPAIRING);
		tmem_repair_if_needed(t);
		step(t, STEP_CHECKING);
		work |= tmem_check_serve(t);
		work |= tmem_destroy_serve(t);
		step(t, STEP_GROWING);
		due = stall_due(t);
		test_stall(t, STALL_TOP, due);
		/* Records before chunks: a few pages, where faulting chunks
		 * in may take half a second under the kernel's reclaim,
		 * and puts that need a record wait for them. */
		step(t, STEP_RECORDS);
		test_stall(t, STALL_RECORDS, due);
		work |= fault_ahead(t);
		step(t, STEP_GROWING);
		work |= grow_one(t, true);
		work |= map_new_chunks(t);
		step(t, STEP_PUNCHING);
		work |= punch_one(t);
		step(t, STEP_TRIMMING);
		work |= trim_one(t);
		clock_gettime(CLOCK_MONOTONIC, &now);
		tick = now.tv_sec + now.tv_nsec / 1e9;
		if (tick - last_tick >= 0.02 && tick - last_tick < 0.05) {
			/* A writer that starts: do not wait for the period
			 * to end to see the rate go up (20 ms at least: a
			 * shorter burst says little). */
			double r = (double)(__atomic_load_n(&t->hdr->acquires,
							    __ATOMIC_RELAXED) -
					    last_acquires) *
				   0.05 / (tick - last_tick);

			if (r > t->grow_rate && r < UINT32_MAX)
				t->grow_rate = (uint32_t)r;
		}
		if (tick - last_tick >= 0.05) {
			/* Every 50 ms: how many chunks were taken since (the
			 * peak, decaying by an eighth a period), and idle
			 * after a second without any. */
			uint64_t a = __atomic_load_n(&t->hdr->acquires,
						     __ATOMIC_RELAXED);
			uint64_t d = a - last_acquires;

			last_tick = tick;
			if (d > UINT32_MAX)
				d = UINT32_MAX;
			if (d >= t->grow_rate)
				t->grow_rate = (uint32_t)d;
			else
				t->grow_rate -=
					(t->grow_rate - (uint32_t)d + 7) / 8;
			/* Fell behind: a deeper reserve (up to 64 periods'
			 * worth); two seconds without: one step back. */
			if (t->grow_behind) {
				if (t->grow_boost < TMEM_GROW_BOOST_MAX)
					t->grow_boost++;
				t->grow_behind = false;
				calm = 0;
			} else if (t->grow_boost && ++calm >= 40) {
				t->grow_boost--;
				calm = 0;
			}
			quiet = d ? 0 : quiet + 1;
			if (quiet >= TMEM_IDLE_PERIODS &&
			    !atomic_load(&t->hdr->idle))
				atomic_store(&t->hdr->idle, 1);
			last_acquires = a;
			step(t, STEP_COMPACTING);
			/* Near the ceiling most of all: swap's chunks there
			 * decay evenly, none of them to three quarters. */
			if (free_chunks_low(t)) {
				bool packed = compact_packed(t, d);

				/* Both, whatever packing did. */
				work |= tmem_compact(t, 4, TMEM_COMPACT_IDLE) >
						0 ||
					packed;
			} else if (quiet >= TMEM_IDLE_PERIODS) {
				work |= compact_sparse(t);
				/* Swap-ins free the slots they read while
				 * nothing is written: swap stays packed. */
				work |= compact_packed(t, d);
			} else {
				work |= compact_packed(t, d);
			}
			if (atomic_load(&t->hdr->ghosts) > 1024)
				tmem_index_sweep_ghosts(t);
		}
		if (now.tv_sec != last_reap.tv_sec) {
			last_reap = now;
			step(t, STEP_REAPING);
			tmem_reap_dead(t);
		}
		step(t, STEP_WAITING);
		if (!work)
			syscall(SYS_futex, &t->hdr->grow_futex, FUTEX_WAIT,
				seen, &ts, NULL, 0);
	}
	/* A destroy handed to this server since its last round (its
	 * destroyer may have stopped waiting) would hold its pages until
	 * another swap server came, or a repair: finished on the way out.
	 * One handed over after this is the destroyer's again (no swap
	 * server alive once the slot says so). */
	tmem_destroy_serve(t);
	return NULL;
}

/* What this process's slot says of its grower (tmem_slot.grower).  A
 * put's serve (no lock) and a destroy's unserve may mark at once: each
 * stores again until own_persistent is the value its last store showed,
 * so the last store of all shows the last value. */
static void grower_mark(struct tmem *t)
{
	uint64_t own;

	do {
		own = atomic_load(&t->own_persistent);
		atomic_store(&seg_slot(t, t->slot)->grower,
			     SLOT_GROWER | (own ? SLOT_GROWER_PERSISTENT : 0));
	} while (atomic_load(&t->own_persistent) != own);
}

void tmem_serve_persistent(struct tmem *t, unsigned pool)
{
	atomic_fetch_or(&t->own_persistent, 1ULL << pool);
	if (t->grower_running)
		grower_mark(t);
}

void tmem_unserve_persistent(struct tmem *t, unsigned pool)
{
	atomic_fetch_and(&t->own_persistent, ~(1ULL << pool));
	if (t->grower_running)
		grower_mark(t);
}

int tmem_start(struct tmem *t)
{
	int r;

	if (!t || t->readonly)
		return -EINVAL;
	r = tmem_dict_start(t);
	if (r)
		return r;
	if (!t->grower_wanted || t->grower_running)
		return 0;
	atomic_store(&t->grower_stop, false);
#ifdef TMEM_TEST_HOOKS
	/* TMEM_GROWER_STALL_MS=N (tests): the grower stops for N ms, once,
	 * the first time it runs once puts have taken chunks, so that a
	 * test sees puts wait for it in vain.  TMEM_GROWER_STALL_IN,
	 * a comma-separated list, says where instead, once in each: "top"
	 * (of its loop: the default), "faulting" (faulting chunks in, as
	 * when the kernel's reclaim holds up their allocation), "faulted"
	 * (after that, before the chunks join the reserve), "records"
	 * (faulting in records). */
	if (getenv("TMEM_GROWER_STALL_MS"))
		t->grower_stall_ms =
			(unsigned)atoi(getenv("TMEM_GROWER_STALL_MS"));
	t->grower_stall_in = STALL_TOP;
	if (getenv("TMEM_GROWER_STALL_IN")) {
		char in[64], *save = NULL, *w;
		static const struct {
			const char *name;
			unsigned bit;
		} places[] = {{"top", STALL_TOP},
			      {"faulting", STALL_FAULTING},
			      {"faulted", STALL_FAULTED},
			      {"records", STALL_RECORDS}};

		snprintf(in, sizeof in, "%s", getenv("TMEM_GROWER_STALL_IN"));
		t->grower_stall_in = 0;
		for (w = strtok_r(in, ",", &save); w;
		     w = strtok_r(NULL, ",", &save)) {
			size_t i;

			for (i = 0; i < sizeof places / sizeof places[0]; i++)
				if (strcmp(w, places[i].name) == 0)
					break;
			if (i == sizeof places / sizeof places[0])
				tmem_log(t, TMEM_LOG_ERROR,
					 "TMEM_GROWER_STALL_IN: '%s' is not "
					 "top, faulting, faulted or records",
					 w);
			else
				t->grower_stall_in |= places[i].bit;
		}
	}
	/* TMEM_POPULATE_FAIL=ERRNO:N (tests): once puts have taken chunks,
	 * the grower's next N madvise calls that fault the index's records
	 * in (tmem_fault_in) fail with ERRNO (ENOMEM, EFAULT, EINTR, EAGAIN,
	 * or EINVAL: the fallback of kernels before 5.14). */
	if (getenv("TMEM_POPULATE_FAIL")) {
		static const struct {
			const char *name;
			int err;
		} errs[] = {{"ENOMEM", ENOMEM},
			    {"EFAULT", EFAULT},
			    {"EINTR", EINTR},
			    {"EAGAIN", EAGAIN},
			    {"EINVAL", EINVAL}};
		const char *v = getenv("TMEM_POPULATE_FAIL");
		char name[16] = "";
		unsigned n = 0;
		size_t i;

		if (sscanf(v, "%15[A-Z]:%u", name, &n) != 2)
			name[0] = '\0';
		for (i = 0; i < sizeof errs / sizeof errs[0]; i++)
			if (strcmp(name, errs[i].name) == 0)
				break;
		if (i == sizeof errs / sizeof errs[0]) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "TMEM_POPULATE_FAIL: '%s' is not ERRNO:N", v);
		} else {
			t->populate_errno = errs[i].err;
			t->populate_fails = n;
		}
	}
#endif
	atomic_fetch_add(&t->hdr->growers, 1);
	/* Waiting, since now (not since boot) until the thread runs. */
	atomic_store(&t->grower_step, now_ms() << 8 | STEP_WAITING);
	/* Set first: the grower thread and the request threads read it,
	 * and other processes leave repairs and checks to this one. */
	t->grower_running = true;
	grower_mark(t);
	r = pthread_create(&t->grower, NULL, grower_main, t);
	if (r) {
		t->grower_running = false;
		atomic_store(&seg_slot(t, t->slot)->grower, 0);
		atomic_fetch_sub(&t->hdr->growers, 1);
		return -r;
	}
	pthread_setname_np(t->grower, "tmem-grower"); /* ps -L, top -H */
	return 0;
}

static int prefault_segment(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	struct statvfs vfs;
	struct stat st;
	uint64_t have, need, avail;

	if (fstat(t->fd, &st) == -1)
		return -errno;
	have = (uint64_t)st.st_blocks * 512;
	need = t->map_size > have ? t->map_size - have : 0;
	if (fstatvfs(t->fd, &vfs) == 0) {
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < need) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "/dev/shm is too small to prefault %s: it "
				 "needs %llu more MiB (%llu MiB free); make "
				 "the pool smaller or remount /dev/shm with "
				 "a larger size=",
				 t->name,
				 (unsigned long long)((need - avail +
						       (1 << 20) - 1) >>
						      20),
				 (unsigned long long)(avail >> 20));
			return -ENOSPC;
		}
	}
	errno = posix_fallocate(t->fd, 0, (off_t)t->map_size);
	if (errno) {
		tmem_log(t, TMEM_LOG_ERROR, "posix_fallocate %s: %m", t->path);
		return errno == ENOSPC ? -ENOSPC : -errno;
	}
	if (madvise(t->base, t->map_size, MADV_POPULATE_WRITE) == -1) {
		uint64_t i;

		for (i = 0; i < t->map_size; i += 4096)
			((volatile unsigned char *)t->base)[i] |= 0;
	}
	if (mlock(t->base, t->map_size) == -1)
		tmem_log(t, TMEM_LOG_WARNING, "mlock of the segment: %m");
	tmem_chunk_stamp(t, 1, t->geo->nr_chunks - 1);
	tmem_chunk_lock(t, -1);
	while (h->hole_count) {
		uint32_t c = tmem_hole_pop(t);

		atomic_store(&seg_chunk(t, c)->sl,
			     SL_MAKE(CHUNK_RESERVE, 0, 0));
		seg_chunk(t, c)->next = h->reserve_head;
		h->reserve_head = c;
		chunk_count_set(&h->reserve_count, h->reserve_count + 1);
	}
	h->prefaulted = 1;
	tmem_unlock(&h->chunk_lock);
	return 0;
}

/* Lock on fault locks a page when this process faults it in; pages the
 * segment already holds (made by another process, or by this one before
 * it forked) stay evictable until then, and a swap server that finds one
 * swapped out to its own device waits for itself.  Fault in every range
 * the file has data in now: tmpfs's SEEK_DATA counts swapped pages as
 * data, and holes stay holes, so memory still follows the data. */
static void lock_present(struct tmem *t)
{
	off_t off = 0, end;

	while ((off = lseek(t->fd, off, SEEK_DATA)) >= 0 &&
	       (uint64_t)off < t->map_size) {
		end = lseek(t->fd, off, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > t->map_size)
			end = (off_t)t->map_size;
		map_in(t->base + off, (size_t)(end - off));
		off = end;
	}
}

/* Lock the mapping on fault, the contexts' scratch, and the code the
 * requests run (tmem-code.c).  Without the privilege or the RLIMIT_MEMLOCK
 * for it, say so and go on unlocked: the pool works, only without the
 * guarantee. */
static void lock_memory(struct tmem *t)
{
	unsigned i;

	/* The code first (whether or not the segment can be locked): a path
	 * first run under memory pressure must not read itself in from disk. */
	errno = -tmem_lock_request_code();
	if (errno)
		tmem_log(t, TMEM_LOG_WARNING,
			 "cannot lock the code and data of the pool, zstd, the "
			 "C library and the loader (%m): a request that runs a "
			 "path for the first time may fault");
	if (syscall(SYS_mlock2, t->base, t->map_size, MLOCK_ONFAULT) == -1) {
		tmem_log(t, TMEM_LOG_WARNING,
			 "cannot lock the segment on fault (%m): raise "
			 "RLIMIT_MEMLOCK or give CAP_IPC_LOCK; going on "
			 "unlocked");
		return;
	}
	lock_present(t);
	for (i = 0; i < t->nr_ctx; i++) {
		struct tmem_ctx *c = &t->ctx[i];

		if (mlock(c->cbuf, c->cbuf_size) == -1 ||
		    mlock(c->dbuf, TMEM_PAGE_SIZE) == -1) {
			tmem_log(t, TMEM_LOG_WARNING,
				 "cannot lock the compression scratch: %m");
			break;
		}
	}
	t->locked = true;
}

/* After attach: what the options ask of memory. */
int tmem_segment_prepare(struct tmem *t, const struct tmem_options *opts)
{
	int r;

	if (opts->lock) {
		/* Before lock_present: a chunk faulted in meanwhile is
		 * mapped by both. */
		atomic_store(&t->mapped_gen, atomic_load(&t->hdr->fault_gen));
		t->map_chunks = opts->grower;
		lock_memory(t);
	}
	if (opts->prefault) {
		r = prefault_segment(t);
		if (r)
			return r;
	}
	/* With a grower to come, start with a full reserve: until it runs,
	 * puts cannot fault chunks in themselves.  And the first records of
	 * each table, which puts would fault in (the rest of the index is in
	 * already: tmem-segment.c, segment_fault_meta); those that cannot be
	 * faulted in now are the grower's to map. */
	if (opts->grower) {
		fault_ahead(t);
		grow_reserve(t);
	}
	return 0;
}
