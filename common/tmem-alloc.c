/* tmem: the in-segment allocator — chunks, the reserve, eviction.
 *
 * The data area is cut into 64 KiB chunks.  Each context of each process
 * appends blobs (8-byte header + payload, 8-byte aligned) to an open chunk
 * of its own per sub-pool, so allocation is a bump under no shared lock and
 * waste is at most 7 bytes of padding per blob.  A chunk's state, owner and
 * live byte count form one atomic word: whoever brings the live count of a
 * closed (or open) chunk to zero frees it.  Free chunks are either in the
 * reserve (faulted in, ready) or holes (not in memory).  Without a grower
 * thread the put path faults a hole in itself; with one it never does and
 * answers RESERVE_EMPTY instead.  Freed chunks beyond the high watermark
 * are given back with FALLOC_FL_PUNCH_HOLE.
 *
 * Eviction works on whole chunks of ephemeral sub-pools in CLOCK order (a
 * get sets the chunk's reference bit): every live blob in the victim is
 * doomed at once and the chunk is free; index entries still naming a doomed
 * blob are misses and are swept lazily.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tmem-internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static unsigned ctx_owner(struct tmem *t, struct tmem_ctx *c)
{
	return (unsigned)t->slot * TMEM_MAX_CTX + c->id + 1;
}

/* Fault a chunk in ahead of need. */
int tmem_chunk_fault(struct tmem *t, uint32_t c)
{
	unsigned char *p = seg_chunk_data(t, c);
	size_t i;

	if (madvise(p, TMEM_CHUNK_SIZE, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Kernels before 5.14: touch every page. */
	for (i = 0; i < TMEM_CHUNK_SIZE; i += 4096)
		((volatile unsigned char *)p)[i] = 0;
	return 0;
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
	(*count)++;
}

static uint32_t list_pop(struct tmem *t, uint32_t *head, uint32_t *count)
{
	uint32_t c = *head;

	if (c) {
		*head = seg_chunk(t, c)->next;
		seg_chunk(t, c)->next = 0;
		(*count)--;
	}
	return c;
}

/* Caller holds chunk_lock.  Put a free chunk where it belongs; true if
 * it must be punched now, outside the lock. */
static bool chunk_file(struct tmem *t, uint32_t c)
{
	struct tmem_header *h = t->hdr;
	struct tmem_chunk *k = seg_chunk(t, c);

	tmem_gauge(t, k->pool, G_CHUNKS, -1);
	atomic_store(&k->ref, 0);
	k->fill = 0;
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

/* Caller holds chunk_lock: file the chunks freed while it was busy. */
static void orphans_drain(struct tmem *t)
{
	uint32_t c = atomic_exchange(&t->hdr->orphan_head, 0), next;

	for (; c; c = next) {
		next = seg_chunk(t, c)->next;
		if (SL_STATE(atomic_load(&seg_chunk(t, c)->sl)) == CHUNK_HOLE) {
			list_push(t, &t->hdr->hole_head, &t->hdr->hole_count,
				  c);
			continue;
		}
		if (chunk_file(t, c)) {
			/* Rare: punch under the lock. */
			tmem_chunk_punch(t, c);
			atomic_store(&seg_chunk(t, c)->sl,
				     SL_MAKE(CHUNK_HOLE, 0, 0));
			list_push(t, &t->hdr->hole_head, &t->hdr->hole_count,
				  c);
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

/* Leave a free chunk for the next chunk_lock holder to file: FREEING (not
 * filed yet) or HOLE (punched, only its list is missing). */
static void orphan_push(struct tmem *t, uint32_t c, unsigned state)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	uint32_t head = atomic_load(&t->hdr->orphan_head);

	atomic_store(&k->sl, SL_MAKE(state, 0, 0));
	do {
		k->next = head;
	} while (!atomic_compare_exchange_weak(&t->hdr->orphan_head, &head, c));
}

/* Caller set the chunk's state to FREEING (or owns it otherwise). */
void tmem_chunk_free(struct tmem *t, uint32_t c)
{
	struct tmem_header *h = t->hdr;
	struct tmem_chunk *k = seg_chunk(t, c);
	bool punch_now, punch_list;

	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS)) {
		orphan_push(t, c, CHUNK_FREEING);
		return;
	}
	punch_now = chunk_file(t, c);
	punch_list = h->punch_count != 0;
	tmem_unlock(&h->chunk_lock);
	if (punch_now) {
		tmem_chunk_punch(t, c);
		if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS)) {
			orphan_push(t, c, CHUNK_HOLE);
			return;
		}
		atomic_store(&k->sl, SL_MAKE(CHUNK_HOLE, 0, 0));
		list_push(t, &h->hole_head, &h->hole_count, c);
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
		uint32_t ch = c->open[p];

		c->open[p] = 0;
		if (ch && SL_OWNER(atomic_load(&seg_chunk(t, ch)->sl)) ==
				  ctx_owner(t, c))
			tmem_chunk_close(t, ch);
	}
}

/* Free chunks other pools may not take: what pools below their minimum
 * are still owed.  Caller holds chunk_lock. */
static uint64_t chunks_owed(struct tmem *t, unsigned except)
{
	uint64_t owed = 0;
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);
		uint64_t have, want;

		if (p == except || pr->min_bytes == 0 ||
		    atomic_load(&pr->state) != POOL_ACTIVE)
			continue;
		have = (uint64_t)atomic_load(&pr->g[G_CHUNKS]);
		want = pr->min_bytes >> TMEM_CHUNK_SHIFT;
		if (want > have)
			owed += want - have;
	}
	return owed;
}

/* Take a free chunk for pool.  -EAGAIN: the reserve is empty and a grower
 * will refill it; -ENOSPC: nothing free (or only what other pools are
 * owed); -EDQUOT: the pool is at its maximum. */
static int chunk_acquire(struct tmem *t, unsigned pool, bool compact,
			 uint32_t *out)
{
	struct tmem_header *h = t->hdr;
	struct tmem_pool_rec *pr = seg_pool(t, pool);
	uint32_t c = 0;
	bool low;
	int r = 0;

	/* Compaction may overshoot a maximum by the chunk it fills, and may
	 * take the last free chunk, which puts leave to it. */
	if (!compact && pr->max_bytes &&
	    ((uint64_t)atomic_load(&pr->g[G_CHUNKS]) + 1) * TMEM_CHUNK_SIZE >
		    pr->max_bytes)
		return -EDQUOT;
	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS))
		return -EAGAIN;
	if ((uint64_t)h->reserve_count + (t->sync_grow ? h->hole_count : 0) <=
	    chunks_owed(t, pool) + (compact ? 0 : 1)) {
		r = -ENOSPC;
	} else if (h->reserve_count) {
		c = list_pop(t, &h->reserve_head, &h->reserve_count);
	} else if (h->hole_count && t->sync_grow) {
		c = list_pop(t, &h->hole_head, &h->hole_count);
		atomic_store(&seg_chunk(t, c)->sl,
			     SL_MAKE(CHUNK_GROWING, t->slot + 1, 0));
	} else {
		r = h->hole_count || h->punch_count ? -EAGAIN : -ENOSPC;
	}
	if (c)
		tmem_gauge(t, pool, G_CHUNKS, 1);
	low = h->reserve_count < h->low_wm;
	tmem_unlock(&h->chunk_lock);
	if (low && !t->sync_grow)
		tmem_grower_wake(t);
	if (r)
		return r;
	if (SL_STATE(atomic_load(&seg_chunk(t, c)->sl)) == CHUNK_GROWING) {
		r = tmem_chunk_fault(t, c);
		if (r) {
			tmem_lock(t, &h->chunk_lock);
			tmem_gauge(t, pool, G_CHUNKS, -1);
			atomic_store(&seg_chunk(t, c)->sl,
				     SL_MAKE(CHUNK_HOLE, 0, 0));
			list_push(t, &h->hole_head, &h->hole_count, c);
			tmem_unlock(&h->chunk_lock);
			return -ENOSPC;
		}
	}
	*out = c;
	return 0;
}

/* Caller holds the blob stripe lock of the blob the space is for; the
 * space counts as live at once, so nobody frees the chunk under us. */
int tmem_alloc_space(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		     uint32_t size, uint32_t *loc)
{
	unsigned me = ctx_owner(t, c);
	int r;

	for (;;) {
		uint32_t ch = c->open[pool];

		if (ch) {
			struct tmem_chunk *k = seg_chunk(t, ch);
			uint64_t sl = atomic_load(&k->sl);

			if (SL_STATE(sl) == CHUNK_OPEN && SL_OWNER(sl) == me &&
			    k->pool == pool) {
				uint32_t off = k->fill;

				if (off + size <= TMEM_CHUNK_SIZE) {
					if (!atomic_compare_exchange_strong(
						    &k->sl, &sl, sl + size))
						continue;
					k->fill = off + size;
					*loc = loc_make(ch, off);
					return 0;
				}
				tmem_chunk_close(t, ch);
			}
			c->open[pool] = 0;
		}
		r = chunk_acquire(t, pool, c->id == TMEM_COMPACT_CTX, &ch);
		if (r)
			return r;
		seg_chunk(t, ch)->fill = 0;
		seg_chunk(t, ch)->pool = (uint8_t)pool;
		atomic_store(&seg_chunk(t, ch)->ref, 0);
		atomic_store(&seg_chunk(t, ch)->sl, SL_MAKE(CHUNK_OPEN, me, 0));
		c->open[pool] = ch;
	}
}

/* Doom every live blob of a claimed chunk.  Blob stripes are only tried:
 * a stalled process must not stall the evictor. */
static void chunk_doom_blobs(struct tmem *t, uint32_t c)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	unsigned char *data = seg_chunk_data(t, c);
	uint32_t off = 0, fill = k->fill;

	while (off + sizeof(struct tmem_alloc_hdr) <= fill) {
		struct tmem_alloc_hdr *ah =
			(struct tmem_alloc_hdr *)(data + off);
		uint32_t size = alloc_size(ah->len), id = ah->blob;
		struct tmem_stripe *ds;
		struct tmem_blob *b;

		if (ah->len == 0 || ah->len > TMEM_PAGE_SIZE)
			break;
		off += size;
		if (id == 0 || id >= t->geo->nr_blobs)
			continue;
		ds = seg_dstripe(t, blob_stripe(t, id));
		if (!tmem_trylock(t, &ds->lock))
			continue;
		b = seg_blob(t, id);
		if (b->loc == loc_make(c, off - size)) {
			tmem_blob_unlink_chain(t, id);
			b->loc = BLOB_LOC_DOOMED;
			CRASH_POINT(32);
			atomic_fetch_add(&t->hdr->ghosts, b->refs);
			atomic_fetch_add(&seg_pool(t, k->pool)->evicted,
					 b->refs);
			tmem_gauge(t, k->pool, G_BLOBS, -1);
			tmem_gauge(t, k->pool, G_COMPRESSED, -(int64_t)ah->len);
			if (ah->len == TMEM_PAGE_SIZE)
				tmem_gauge(t, k->pool, G_RAW, -1);
			atomic_fetch_sub(&k->sl, size);
		}
		tmem_unlock(&ds->lock);
	}
}

/* Evict one chunk of an ephemeral sub-pool (own_only: of for_pool).
 * 1: a chunk became free; 0: none could be; -EAGAIN: chunk_lock busy. */
int tmem_evict_chunk(struct tmem *t, unsigned for_pool, bool own_only)
{
	struct tmem_header *h = t->hdr;
	uint64_t n = t->geo->nr_chunks, steps;
	uint32_t victim = 0;
	uint64_t sl;

	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS))
		return -EAGAIN;
	for (steps = 0; steps < 2 * n && !victim; steps++) {
		uint32_t c = h->clock_hand;
		struct tmem_chunk *k;
		struct tmem_pool_rec *pr;

		h->clock_hand = c + 1 >= n ? 1 : c + 1;
		if (c == 0)
			continue;
		k = seg_chunk(t, c);
		sl = atomic_load(&k->sl);
		if (SL_STATE(sl) != CHUNK_CLOSED)
			continue;
		pr = seg_pool(t, k->pool);
		if (pr->kind != TMEM_EPHEMERAL)
			continue;
		if (own_only && k->pool != for_pool)
			continue;
		if (k->pool != for_pool && pr->min_bytes &&
		    (uint64_t)atomic_load(&pr->g[G_CHUNKS]) * TMEM_CHUNK_SIZE <=
			    pr->min_bytes)
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
		return 0;
	CRASH_POINT(30);
	chunk_doom_blobs(t, victim);
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
				return 1;
			}
			return 0;
		}
	}
}
