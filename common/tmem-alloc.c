/* tmem: the in-segment allocator — chunks, the reserve, eviction.
 *
 * The data area is cut into 64 KiB chunks.  Each context of each process
 * appends blobs (a 4-byte header + payload, 4-byte aligned: alloc_size) to
 * an open chunk of its own per sub-pool, so allocation is a bump under no
 * shared lock and waste is at most 3 bytes of padding per blob.  Raw pages
 * go to chunks of their own, 16 to a chunk with no header (seg_rawid).  A
 * chunk's state, owner and live byte count form one atomic word: whoever brings
 * the live count of a closed (or open) chunk to zero frees it.  Free chunks are
 * either in the reserve (faulted in, ready) or holes (not in memory).  Without
 * a grower thread the put path faults a hole in itself; with one it does so
 * only when the handle allows it (put_may_grow) and otherwise answers
 * RESERVE_EMPTY.  Freed chunks beyond the high watermark
 * are given back with FALLOC_FL_PUNCH_HOLE.
 *
 * Eviction works on whole chunks of ephemeral sub-pools in CLOCK order (a
 * get sets the chunk's reference bit, and so does the hand passing it
 * while it is open, so that pages put into it since get their turn): every
 * live blob in the victim is doomed at once and the chunk is free; index
 * entries still naming a doomed blob are misses and are swept lazily.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"
#include "tmem-stats-internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static unsigned ctx_owner(struct tmem *t, struct tmem_ctx *c)
{
	return (unsigned)t->slot * TMEM_MAX_CTX + c->id + 1;
}

/* Stamp chunks [c, c + n), just faulted in by this process, with a new
 * fault generation, and wake the growers: a locking server's maps them in
 * (tmem-grower.c, map_new_chunks).  The generation is taken first and
 * fault_done counted after the stamps, so that a reader who finds the two
 * equal knows every stamp up to it is written.  This process has the
 * chunks mapped: if it is such a server and had seen every generation
 * before, it has seen this one too. */
void tmem_chunk_stamp(struct tmem *t, uint32_t c, uint32_t n)
{
	uint32_t old = atomic_fetch_add(&t->hdr->fault_gen, 1), i;
	uint32_t others = t->grower_running ? 1 : 0;

	for (i = 0; i < n; i++)
		atomic_store_explicit(&seg_chunk(t, c + i)->born, old + 1,
				      memory_order_relaxed);
	atomic_fetch_add_explicit(&t->hdr->fault_done, 1, memory_order_release);
	if (t->map_chunks)
		atomic_compare_exchange_strong(&t->mapped_gen, &old, old + 1);
	if (atomic_load_explicit(&t->hdr->growers, memory_order_relaxed) >
	    others)
		tmem_grower_wake(t);
}

/* TMEM_POPULATE_FAIL (test hooks): whether the grower's madvise that
 * faults [off, ...) of the index's records in fails now (errno set), as
 * the kernel's does without memory or room in /dev/shm.  Never without
 * test hooks. */
static bool test_fault_fails(struct tmem *t, uint64_t off)
{
#ifdef TMEM_TEST_HOOKS
	if (__atomic_load_n(&t->populate_fails, __ATOMIC_RELAXED) &&
	    off < t->geo->off_data && tmem_on_grower_thread(t) &&
	    __atomic_load_n(&t->hdr->acquires, __ATOMIC_RELAXED) != 0) {
		__atomic_fetch_sub(&t->populate_fails, 1, __ATOMIC_RELAXED);
		errno = t->populate_errno;
		return true;
	}
#else
	(void)t;
	(void)off;
#endif
	return false;
}

/* Kernels before 5.14 lack MADV_POPULATE_WRITE: allocate the file's pages
 * first (where a write to a full /dev/shm gets SIGBUS, fallocate answers
 * ENOSPC), then an atomic add of zero to a byte of each page maps it,
 * which changes nothing another process may be writing. */
static int fault_in_touching(struct tmem *t, uint64_t off, uint64_t len)
{
	uint64_t i;

	if (fallocate(t->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == -1)
		return -errno;
	for (i = 0; i < len; i += 4096)
		__atomic_fetch_add(t->base + off + i, 0, __ATOMIC_RELAXED);
	return 0;
}

int tmem_fault_in(struct tmem *t, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	unsigned tries;
	int r;

	off &= ~(uint64_t)4095;
	if (end <= off)
		return 0;
	len = end - off;
	for (tries = 1;; tries++) {
		if (test_fault_fails(t, off) ||
		    madvise(t->base + off, len, MADV_POPULATE_WRITE) == -1)
			r = -errno;
		else
			r = 0;
		if (r == -EINVAL)
			r = fault_in_touching(t, off, len);
		if ((r != -EINTR && r != -EAGAIN) || tries == TMEM_FAULT_TRIES)
			return r == -EFAULT ? -ENOSPC : r;
	}
}

/* Fault n neighbouring chunks in ahead of need. */
int tmem_chunk_fault_range(struct tmem *t, uint32_t c, uint32_t n)
{
	int r = tmem_fault_in(
		t, t->geo->off_data + ((uint64_t)c << TMEM_CHUNK_SHIFT),
		(uint64_t)n << TMEM_CHUNK_SHIFT);

	if (r)
		return r;
	tmem_chunk_stamp(t, c, n);
	return 0;
}

int tmem_chunk_fault(struct tmem *t, uint32_t c)
{
	return tmem_chunk_fault_range(t, c, 1);
}

void tmem_chunk_punch(struct tmem *t, uint32_t c)
{
	off_t off =
		(off_t)(t->geo->off_data + ((uint64_t)c << TMEM_CHUNK_SHIFT));

	if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      TMEM_CHUNK_SIZE) == -1)
		tmem_log(t, TMEM_LOG_WARNING, "punching chunk %u: %m", c);
}

static void list_push(struct tmem *t, uint32_t *head, uint32_t *count,
		      uint32_t c)
{
	seg_chunk(t, c)->next = *head;
	*head = c;
	chunk_count_set(count, *count + 1);
}

static uint32_t list_pop(struct tmem *t, uint32_t *head, uint32_t *count)
{
	uint32_t c = *head;

	if (c) {
		*head = seg_chunk(t, c)->next;
		seg_chunk(t, c)->next = 0;
		chunk_count_set(count, *count - 1);
	}
	return c;
}

/* Caller holds chunk_lock.  A hole: a punched one, else one never used
 * (so the chunk table is touched only as far as the pool ever grew). */
uint32_t tmem_hole_pop(struct tmem *t)
{
	struct tmem_header *h = t->hdr;
	uint32_t c;

	if (h->hole_head)
		return list_pop(t, &h->hole_head, &h->hole_count);
	if (h->hole_bump >= t->geo->nr_chunks)
		return 0;
	c = h->hole_bump;
	chunk_count_set(&h->hole_bump, c + 1);
	chunk_count_set(&h->hole_count, h->hole_count - 1);
	return c;
}

/* Caller holds chunk_lock. */
void tmem_hole_push(struct tmem *t, uint32_t c)
{
	atomic_store(&seg_chunk(t, c)->sl, SL_MAKE(CHUNK_HOLE, 0, 0));
	list_push(t, &t->hdr->hole_head, &t->hdr->hole_count, c);
}

/* Caller holds chunk_lock.  Put a free chunk where it belongs; true if
 * it must be punched now, outside the lock. */
static bool chunk_file(struct tmem *t, uint32_t c)
{
	struct tmem_header *h = t->hdr;
	struct tmem_chunk *k = seg_chunk(t, c);

	tmem_gauge(t, k->pool, G_CHUNKS, -1);
	atomic_store(&k->ref, 0);
	chunk_set(k, fill, 0);
	chunk_set(k, raw, 0);
	if (h->prefaulted || h->reserve_count < h->high_wm) {
		atomic_store(&k->sl, SL_MAKE(CHUNK_RESERVE, 0, 0));
		list_push(t, &h->reserve_head, &h->reserve_count, c);
	} else if (atomic_load(&h->growers) > 0) {
		atomic_store(&k->sl, SL_MAKE(CHUNK_PUNCHING, 0, 0));
		list_push(t, &h->punch_head, &h->punch_count, c);
	} else {
		/* Owned while we punch outside the lock. */
		atomic_store(&k->sl, SL_MAKE(CHUNK_PUNCHING, t->slot + 1, 0));
		return true;
	}
	return false;
}

/* Caller holds chunk_lock: file the chunks freed while it was busy.  A
 * chunk in another state was filed by a repair already (tmem-check.c,
 * scan_chunks: a pusher that died). */
static void orphans_drain(struct tmem *t)
{
	uint32_t c = atomic_exchange(&t->hdr->orphan_head, 0), next;
	unsigned st;

	for (; c; c = next) {
		next = seg_chunk(t, c)->next;
		st = SL_STATE(atomic_load(&seg_chunk(t, c)->sl));
		if (st == CHUNK_ORPHAN_HOLE) {
			tmem_hole_push(t, c);
			continue;
		}
		if (st != CHUNK_ORPHAN)
			continue;
		if (chunk_file(t, c)) {
			/* Rare: punch under the lock. */
			tmem_chunk_punch(t, c);
			tmem_hole_push(t, c);
		}
	}
}

/* Take chunk_lock, waiting at most wait_ms (a stopped process might
 * hold it; -1: as long as it takes).  Drains the orphans on the way in. */
bool tmem_chunk_lock(struct tmem *t, long wait_ms)
{
	if (wait_ms < 0)
		tmem_lock(t, &t->hdr->chunk_lock);
	else if (!tmem_timedlock(t, &t->hdr->chunk_lock, wait_ms))
		return false;
	if (atomic_load_explicit(&t->hdr->orphan_head, memory_order_relaxed))
		orphans_drain(t);
	return true;
}

/* Leave a free chunk for the next chunk_lock holder to file: ORPHAN (not
 * filed yet) or ORPHAN_HOLE (punched, only its list is missing), owned by
 * this process until filed, so that a repair scanning meanwhile leaves
 * it to the stack rather than filing it a second time. */
static void orphan_push(struct tmem *t, uint32_t c, unsigned state)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	uint32_t head = atomic_load(&t->hdr->orphan_head);

	atomic_store(&k->sl, SL_MAKE(state, t->slot + 1, 0));
	do {
		k->next = head;
	} while (!atomic_compare_exchange_weak(&t->hdr->orphan_head, &head, c));
}

/* Caller set the chunk's state to FREEING (or owns it otherwise). */
void tmem_chunk_free(struct tmem *t, uint32_t c)
{
	struct tmem_header *h = t->hdr;
	bool punch_now, punch_list;

	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS)) {
		orphan_push(t, c, CHUNK_ORPHAN);
		return;
	}
	punch_now = chunk_file(t, c);
	punch_list = h->punch_count != 0;
	tmem_unlock(&h->chunk_lock);
	if (punch_now) {
		tmem_chunk_punch(t, c);
		if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS)) {
			orphan_push(t, c, CHUNK_ORPHAN_HOLE);
			return;
		}
		tmem_hole_push(t, c);
		tmem_unlock(&h->chunk_lock);
	} else if (punch_list) {
		tmem_grower_wake(t);
	}
}

/* Drop size live bytes of a chunk; free it when nothing is left. */
static void chunk_sub_live(struct tmem *t, uint32_t c, uint32_t size)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	uint64_t sl = atomic_load(&k->sl), nsl;
	unsigned st;

	do {
		nsl = sl - size;
		st = SL_STATE(nsl);
		if (SL_LIVE(nsl) == 0 &&
		    (st == CHUNK_CLOSED || st == CHUNK_OPEN))
			nsl = SL_MAKE(CHUNK_FREEING, t->slot + 1, 0);
	} while (!atomic_compare_exchange_weak(&k->sl, &sl, nsl));
	if (SL_STATE(nsl) == CHUNK_FREEING) {
		CRASH_POINT(40);
		tmem_chunk_free(t, c);
	}
}

void tmem_alloc_release(struct tmem *t, uint32_t loc, uint32_t size)
{
	chunk_sub_live(t, loc_chunk(loc), size);
}

/* Owner closes its open chunk: it becomes a candidate for eviction and
 * compaction, or free at once if empty. */
void tmem_chunk_close(struct tmem *t, uint32_t c)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	uint64_t sl = atomic_load(&k->sl), nsl;

	do {
		if (SL_STATE(sl) != CHUNK_OPEN)
			return;
		nsl = SL_LIVE(sl) ? SL_MAKE(CHUNK_CLOSED, 0, SL_LIVE(sl))
				  : SL_MAKE(CHUNK_FREEING, t->slot + 1, 0);
	} while (!atomic_compare_exchange_weak(&k->sl, &sl, nsl));
	if (SL_STATE(nsl) == CHUNK_FREEING)
		tmem_chunk_free(t, c);
}

void tmem_ctx_close_chunks(struct tmem *t, struct tmem_ctx *c)
{
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		unsigned i;

		for (i = 0; i <= TMEM_OPEN; i++) {
			uint32_t *slot = i < TMEM_OPEN ? &c->open[i][p]
						       : &c->open_raw[p];
			uint32_t ch = *slot;

			*slot = 0;
			if (ch &&
			    SL_OWNER(atomic_load(&seg_chunk(t, ch)->sl)) ==
				    ctx_owner(t, c))
				tmem_chunk_close(t, ch);
		}
	}
}

/* Free chunks other pools may not take: what pools below their minimum
 * are still owed.  Caller holds chunk_lock (or takes it as a hint). */
static uint64_t chunks_owed(struct tmem *t, unsigned except)
{
	uint64_t owed = 0;
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);
		uint64_t have, want;

		if (p == except ||
		    __atomic_load_n(&pr->min_bytes, __ATOMIC_RELAXED) == 0 ||
		    atomic_load(&pr->state) != POOL_ACTIVE)
			continue;
		have = (uint64_t)atomic_load(&pr->g[G_CHUNKS]);
		want = __atomic_load_n(&pr->min_bytes, __ATOMIC_RELAXED) >>
		       TMEM_CHUNK_SHIFT;
		if (want > have)
			owed += want - have;
	}
	return owed;
}

/* The free chunks on the lists: the reserve, the holes, those to punch.
 * Relaxed loads: a reader without chunk_lock gets a hint. */
static uint64_t chunks_listed(const struct tmem_header *h)
{
	return (uint64_t)__atomic_load_n(&h->reserve_count, __ATOMIC_RELAXED) +
	       __atomic_load_n(&h->hole_count, __ATOMIC_RELAXED) +
	       __atomic_load_n(&h->punch_count, __ATOMIC_RELAXED);
}

/* Free chunks someone has in hand: the grower faulting one in or trimming
 * the reserve, anyone punching one.  They are on no list for a moment and
 * come back free, so they do not make the segment full.  Caller holds
 * chunk_lock, under which every change of a pool's G_CHUNKS is made (or
 * takes the count as a hint). */
static uint64_t chunks_in_hand(struct tmem *t)
{
	uint64_t listed = chunks_listed(t->hdr), held = 0;
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		int64_t g = atomic_load_explicit(&seg_pool(t, p)->g[G_CHUNKS],
						 memory_order_relaxed);

		held += g > 0 ? (uint64_t)g : 0;
	}
	return t->geo->nr_chunks - 1 > listed + held
		       ? t->geo->nr_chunks - 1 - listed - held
		       : 0;
}

/* Whether pool is at its max-share: one chunk more would pass it. */
static bool pool_capped(struct tmem *t, unsigned pool)
{
	struct tmem_pool_rec *pr = seg_pool(t, pool);
	uint64_t max = __atomic_load_n(&pr->max_bytes, __ATOMIC_RELAXED);

	return max &&
	       ((uint64_t)atomic_load(&pr->g[G_CHUNKS]) + 1) * TMEM_CHUNK_SIZE >
		       max;
}

/* Whether a free chunk is left that pool may take: ALLOC_OK; otherwise
 * ALLOC_LATER when one someone has in hand will be, or ALLOC_FULL.  Puts
 * (not compact) leave one free chunk to compaction (it needs somewhere to
 * move blobs to); holes count as free, the grower fills them.  Caller
 * holds chunk_lock, or takes the answer as a hint. */
static enum alloc_outcome chunks_left(struct tmem *t, unsigned pool,
				      bool compact)
{
	uint64_t need = chunks_owed(t, pool) + (compact ? 0 : 1);
	uint64_t listed = chunks_listed(t->hdr);

	if (listed > need)
		return ALLOC_OK;
	return listed + chunks_in_hand(t) > need ? ALLOC_LATER : ALLOC_FULL;
}

/* Make chunk ch, just taken, the open chunk of context me. */
static void chunk_open(struct tmem *t, uint32_t ch, unsigned me, unsigned pool,
		       bool raw)
{
	struct tmem_chunk *k = seg_chunk(t, ch);

	chunk_set(k, fill, 0);
	chunk_set(k, pool, (uint8_t)pool);
	chunk_set(k, raw, raw);
	atomic_store(&k->ref, 0);
	atomic_store(&k->sl, SL_MAKE(CHUNK_OPEN, me, 0));
}

/* Take a free chunk for pool and open it for context me (see enum
 * alloc_outcome).  A chunk off every list is never left in a free state
 * without a lock: one from the reserve is opened under chunk_lock, one
 * from the holes is GROWING, owned by this process and counted in pool,
 * until it is faulted in and opened.  A repair of the other half of the
 * pool, which holds chunk_lock but not this half's stripes, would file a
 * free one again. */
static enum alloc_outcome chunk_acquire(struct tmem *t, unsigned pool,
					bool compact, unsigned me, bool raw,
					uint32_t *out)
{
	struct tmem_header *h = t->hdr;
	uint32_t c = 0;
	unsigned waits = 0;
	bool low;
	enum alloc_outcome r = ALLOC_OK;

	/* Compaction may overshoot a maximum by the chunk it fills, and may
	 * take the last free chunk, which puts leave to it. */
	if (!compact && pool_capped(t, pool))
		return ALLOC_CAPPED;
again:
	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS))
		return ALLOC_LATER;
	r = chunks_left(t, pool, compact);
	if (r) {
		/* Without a grower nobody holds a chunk for long (a
		 * punch): wait for it rather than refuse. */
		if (r == ALLOC_LATER && t->sync_grow && ++waits < 1000) {
			tmem_unlock(&h->chunk_lock);
			sched_yield();
			goto again;
		}
	} else if (h->reserve_count) {
		c = list_pop(t, &h->reserve_head, &h->reserve_count);
		chunk_open(t, c, me, pool, raw);
	} else if (h->hole_count && (t->sync_grow || t->may_grow)) {
		/* No grower, or a caller that may wait for a fault: fault
		 * one in ourselves (outside the lock). */
		c = tmem_hole_pop(t);
		chunk_set(seg_chunk(t, c), pool, (uint8_t)pool);
		atomic_store(&seg_chunk(t, c)->sl,
			     SL_MAKE(CHUNK_GROWING, t->slot + 1, 0));
	} else {
		r = h->hole_count || h->punch_count ? ALLOC_LATER : ALLOC_FULL;
	}
	if (c) {
		tmem_gauge(t, pool, G_CHUNKS, 1);
		/* A writer's take, not compaction's: the grower sizes the
		 * reserve by these and compacts when there are none. */
		if (!compact) {
			__atomic_fetch_add(&h->acquires, 1, __ATOMIC_RELAXED);
			if (atomic_load_explicit(&h->idle,
						 memory_order_relaxed))
				atomic_store(&h->idle, 0);
		}
	}
	low = h->reserve_count < h->low_wm || r == ALLOC_LATER;
	if (r == ALLOC_LATER)
		atomic_store(&h->idle, 0);
	tmem_unlock(&h->chunk_lock);
	if (c)
		CRASH_POINT(12);
	if (low && !t->sync_grow)
		tmem_grower_wake(t);
	if (r)
		return r;
	if (SL_STATE(atomic_load(&seg_chunk(t, c)->sl)) == CHUNK_GROWING) {
		if (tmem_chunk_fault(t, c) != 0) {
			tmem_lock(t, &h->chunk_lock);
			tmem_gauge(t, pool, G_CHUNKS, -1);
			tmem_hole_push(t, c);
			tmem_unlock(&h->chunk_lock);
			return ALLOC_FULL;
		}
		chunk_open(t, c, me, pool, raw);
	}
	*out = c;
	return ALLOC_OK;
}

/* Whether ch, its state sl, is open for context me, pool and raw, with
 * room for size bytes at its end. */
static bool chunk_fits(struct tmem *t, uint32_t ch, uint64_t sl, unsigned me,
		       unsigned pool, bool raw, uint32_t size)
{
	struct tmem_chunk *k = seg_chunk(t, ch);

	return SL_STATE(sl) == CHUNK_OPEN && SL_OWNER(sl) == me &&
	       chunk_get(k, pool) == pool && chunk_get(k, raw) == raw &&
	       chunk_get(k, fill) + size <= TMEM_CHUNK_SIZE;
}

/* Take size bytes at the end of ch if it is still ours and has room. */
static bool chunk_take(struct tmem *t, uint32_t ch, unsigned me, unsigned pool,
		       bool raw, uint32_t size, uint32_t *loc)
{
	struct tmem_chunk *k = seg_chunk(t, ch);
	uint64_t sl = atomic_load(&k->sl);
	uint32_t off;

	/* Counts as live at once: nobody frees it under us. */
	if (!chunk_fits(t, ch, sl, me, pool, raw, size) ||
	    !atomic_compare_exchange_strong(&k->sl, &sl, sl + size))
		return false;
	off = chunk_get(k, fill);
	chunk_set(k, fill, off + size);
	*loc = loc_make(ch, off);
	return true;
}

static enum alloc_outcome alloc_raw(struct tmem *t, struct tmem_ctx *c,
				    unsigned pool, uint32_t *loc)
{
	unsigned me = ctx_owner(t, c);
	enum alloc_outcome r;
	uint32_t ch;

	for (;;) {
		ch = c->open_raw[pool];
		if (ch &&
		    chunk_take(t, ch, me, pool, true, TMEM_PAGE_SIZE, loc))
			return ALLOC_OK;
		if (ch) {
			/* Full (or emptied and freed under us). */
			if (SL_OWNER(atomic_load(&seg_chunk(t, ch)->sl)) == me)
				tmem_chunk_close(t, ch);
			c->open_raw[pool] = 0;
		}
		r = chunk_acquire(t, pool, c->id == TMEM_COMPACT_CTX, me, true,
				  &ch);
		if (r)
			return r;
		c->open_raw[pool] = ch;
	}
}

enum alloc_outcome tmem_alloc_outlook(struct tmem *t, struct tmem_ctx *c,
				      unsigned pool, uint32_t size)
{
	unsigned me = ctx_owner(t, c), i;
	bool raw = size == TMEM_PAGE_SIZE;

	for (i = 0; i < (raw ? 1 : TMEM_OPEN); i++) {
		uint32_t ch = raw ? c->open_raw[pool] : c->open[i][pool];

		if (ch && chunk_fits(t, ch, atomic_load(&seg_chunk(t, ch)->sl),
				     me, pool, raw, size))
			return ALLOC_OK;
	}
	if (pool_capped(t, pool))
		return ALLOC_CAPPED;
	return chunks_left(t, pool, false);
}

enum alloc_outcome tmem_alloc_space(struct tmem *t, struct tmem_ctx *c,
				    unsigned pool, uint32_t size, uint32_t *loc)
{
	unsigned me = ctx_owner(t, c), i, best, worst;
	uint32_t room[TMEM_OPEN], ch;
	enum alloc_outcome r;

	if (size == TMEM_PAGE_SIZE)
		return alloc_raw(t, c, pool, loc);

	/* A few open chunks per sub-pool, filled best fit: a blob goes to
	 * the fullest chunk it fits in, so that the end of a chunk is
	 * rarely wasted when it closes. */
	for (;;) {
		best = TMEM_OPEN;
		for (i = 0; i < TMEM_OPEN; i++) {
			struct tmem_chunk *k;
			uint64_t sl;

			room[i] = 0;
			ch = c->open[i][pool];
			if (!ch)
				continue;
			k = seg_chunk(t, ch);
			sl = atomic_load(&k->sl);
			if (SL_STATE(sl) != CHUNK_OPEN || SL_OWNER(sl) != me ||
			    chunk_get(k, pool) != pool || chunk_get(k, raw)) {
				c->open[i][pool] = 0; /* emptied and freed */
				continue;
			}
			room[i] = TMEM_CHUNK_SIZE - chunk_get(k, fill);
			if (room[i] >= size &&
			    (best == TMEM_OPEN || room[i] < room[best]))
				best = i;
		}
		if (best < TMEM_OPEN) {
			if (chunk_take(t, c->open[best][pool], me, pool, false,
				       size, loc))
				return ALLOC_OK;
			continue;
		}
		/* Nothing fits: take an empty slot, or close the fullest (on
		 * a tie the oldest, so chunks close in the order they were
		 * filled). */
		worst = TMEM_OPEN;
		for (i = 0; i < TMEM_OPEN && worst == TMEM_OPEN; i++) {
			if (!c->open[i][pool])
				worst = i;
		}
		for (i = 0; i < TMEM_OPEN && worst == TMEM_OPEN; i++) {
			unsigned j, w = i;

			for (j = 0; j < TMEM_OPEN; j++) {
				if (room[j] < room[w] ||
				    (room[j] == room[w] &&
				     c->open_seq[j][pool] <
					     c->open_seq[w][pool]))
					w = j;
			}
			worst = w;
		}
		if (c->open[worst][pool]) {
			tmem_chunk_close(t, c->open[worst][pool]);
			c->open[worst][pool] = 0;
		}
		r = chunk_acquire(t, pool, c->id == TMEM_COMPACT_CTX, me, false,
				  &ch);
		if (r)
			return r;
		c->open[worst][pool] = ch;
		c->open_seq[worst][pool] = ++c->seq;
	}
}

/* Walk the allocations of a chunk of kind we claimed (evicting or
 * compacting): fn is called for every live blob with the blob's stripe
 * held, and may mark the space dead.  Stripes of ephemeral blobs are only
 * tried when try_only (a stopped cache process may hold one).  Returns
 * false when the walk had to stop early: a busy stripe, fn said so, or a
 * header that does not make sense (repair rewrites those), among them one
 * naming a blob of the other kind (a damaged header or chunk record):
 * its stripe is never taken (a cache process must not hold a persistent
 * one), and the repair is asked for. */
bool tmem_chunk_walk(struct tmem *t, uint32_t c, enum tmem_kind kind,
		     bool try_only, tmem_walk_fn fn, void *arg)
{
	uint32_t off = 0, fill = seg_chunk(t, c)->fill;
	bool raw = seg_chunk(t, c)->raw;

	while (off + 4 <= fill) {
		uint32_t loc = loc_make(c, off);
		uint32_t *hp = raw ? seg_rawid(t, c, off / TMEM_PAGE_SIZE)
				   : loc_hdr(t, loc);
		uint32_t h = __atomic_load_n(hp, __ATOMIC_ACQUIRE), size, id;

		if (raw && h == 0) {
			off += TMEM_PAGE_SIZE;
			continue;
		}
		struct tmem_stripe *ds;
		struct tmem_blob *b;
		unsigned d;
		bool go;

		if (h & HDR_DEAD) {
			size = h & ~HDR_DEAD;
			if (size < 4 || off + size > fill)
				return false;
			off += size;
			continue;
		}
		id = h;
		if (id == 0 || id >= t->geo->nr_blobs)
			return false;
		if ((id >= t->geo->nr_blobs / 2) != (kind == TMEM_EPHEMERAL)) {
			tmem_repair_ask(t, TMEM_PERSISTENT);
			tmem_repair_ask(t, TMEM_EPHEMERAL);
			return false;
		}
		d = blob_stripe(t, id);
		ds = seg_dstripe(t, d);
		if (try_only || d >= TMEM_HALF) {
			if (!tmem_trylock(t, &ds->lock))
				return false;
		} else {
			tmem_lock(t, &ds->lock);
		}
		b = seg_blob(t, id);
		if (__atomic_load_n(hp, __ATOMIC_ACQUIRE) != h) {
			tmem_unlock(&ds->lock);
			continue; /* died meanwhile: read its marker */
		}
		if (__atomic_load_n(&b->loc, __ATOMIC_ACQUIRE) != loc) {
			tmem_unlock(&ds->lock);
			return false;
		}
		size = alloc_size(blob_len(b));
		go = fn(t, c, id, loc, size, arg);
		tmem_unlock(&ds->lock);
		if (!go)
			return false;
		off += size;
	}
	return true;
}

/* Caller holds the blob's stripe (an ephemeral one: tmem_chunk_walk):
 * evict it.  Entries naming it become misses, swept later.  One not found
 * on its chain (a damaged stripe) is not evicted: it ends the walk, and
 * asks for the repair; its chunk stays closed until then. */
static bool doom_one(struct tmem *t, uint32_t c, uint32_t id, uint32_t loc,
		     uint32_t size, void *arg)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	struct tmem_blob *b = seg_blob(t, id);
	uint32_t len = blob_len(b);

	(void)arg;
	if (!tmem_blob_unlink_chain(t, id)) {
		tmem_repair_ask(t, TMEM_EPHEMERAL);
		return false;
	}
	__atomic_store_n(&b->loc, BLOB_LOC_DOOMED, __ATOMIC_RELEASE);
	CRASH_POINT(32);
	alloc_mark(t, loc, len, 0);
	atomic_fetch_add(&t->hdr->ghosts, blob_refs(b));
	atomic_fetch_add(&seg_pool(t, k->pool)->evicted, blob_refs(b));
	tmem_gauge(t, k->pool, G_BLOBS, -1);
	tmem_gauge(t, k->pool, G_COMPRESSED, -(int64_t)len);
	if (len == TMEM_PAGE_SIZE)
		tmem_gauge(t, k->pool, G_RAW, -1);
	atomic_fetch_sub(&k->sl, size);
	return true;
}

/* Evict one chunk of an ephemeral sub-pool (own_only: of for_pool). */
enum evict_outcome tmem_evict_chunk(struct tmem *t, unsigned for_pool,
				    bool own_only)
{
	struct tmem_header *h = t->hdr;
	uint64_t n, steps;
	uint32_t victim = 0;
	uint64_t sl;

	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS))
		return EVICT_BUSY;
	n = h->hole_bump;
	for (steps = 0; steps < 2 * n && !victim; steps++) {
		uint32_t c = h->clock_hand;
		struct tmem_chunk *k;
		struct tmem_pool_rec *pr;

		h->clock_hand = c + 1 >= n ? 1 : c + 1;
		if (c == 0)
			continue;
		k = seg_chunk(t, c);
		sl = atomic_load(&k->sl);
		if ((SL_STATE(sl) != CHUNK_CLOSED &&
		     SL_STATE(sl) != CHUNK_OPEN) ||
		    k->pool >= TMEM_MAX_POOLS)
			continue;
		pr = seg_pool(t, k->pool);
		if (__atomic_load_n(&pr->kind, __ATOMIC_RELAXED) !=
		    TMEM_EPHEMERAL)
			continue;
		/* An open chunk the hand passes gets a turn once closed: the
		 * pages put into it since are newer than the hand knows. */
		if (SL_STATE(sl) == CHUNK_OPEN) {
			if (!atomic_load_explicit(&k->ref,
						  memory_order_relaxed))
				atomic_store(&k->ref, 1);
			continue;
		}
		if (own_only && k->pool != for_pool)
			continue;
		if (k->pool != for_pool &&
		    __atomic_load_n(&pr->min_bytes, __ATOMIC_RELAXED) &&
		    (uint64_t)atomic_load(&pr->g[G_CHUNKS]) * TMEM_CHUNK_SIZE <=
			    __atomic_load_n(&pr->min_bytes, __ATOMIC_RELAXED))
			continue;
		if (atomic_exchange(&k->ref, 0))
			continue;
		if (atomic_compare_exchange_strong(
			    &k->sl, &sl,
			    SL_MAKE(CHUNK_EVICTING, t->slot + 1, SL_LIVE(sl))))
			victim = c;
	}
	tmem_unlock(&h->chunk_lock);
	if (!victim)
		return EVICT_NONE;
	CRASH_POINT(30);
	tmem_chunk_walk(t, victim, TMEM_EPHEMERAL, true, doom_one, NULL);
	CRASH_POINT(31);
	sl = atomic_load(&seg_chunk(t, victim)->sl);
	for (;;) {
		uint64_t nsl = SL_LIVE(sl)
				       ? SL_MAKE(CHUNK_CLOSED, 0, SL_LIVE(sl))
				       : SL_MAKE(CHUNK_FREEING, t->slot + 1, 0);
		if (atomic_compare_exchange_weak(&seg_chunk(t, victim)->sl, &sl,
						 nsl)) {
			if (SL_STATE(nsl) == CHUNK_FREEING) {
				tmem_chunk_free(t, victim);
				return EVICT_FREED;
			}
			return EVICT_NONE;
		}
	}
}
