/* tmem: compaction — moving live blobs out of sparse chunks.
 *
 * Chunks are filled by appending, so overwrites and flushes leave dead
 * space that only comes back when a whole chunk dies.  Compaction bounds
 * that waste: it claims the sparsest closed chunk (at most max_live bytes
 * live: tmem-compact-internal.h; up to fifteen sixteenths to keep swap
 * packed, thirty-one thirty-seconds when a put finds no room, because a
 * pool churned by swap decays evenly and near its ceiling every chunk is
 * about as live as the pool), copies each live blob into
 * the compactor's own open chunk for that sub-pool under the blob's stripe lock
 * (gets and dedup compares read blobs under the same lock, so nobody sees a
 * half-moved blob), repoints the blob and frees the emptied chunk.  Puts leave
 * the last free chunk to the compactor so that it can always start.  It runs
 * when a put finds no room, and from the grower: when free chunks run low;
 * for persistent sub-pools, busy or idle, whenever their chunks hold more
 * than a twentieth beyond their payload (keeping pace with the writers
 * and with bursts of frees: tmem-grower.c, compact_packed); and, at half
 * live, when the pool is idle and its chunks hold less than half their
 * size in payload.  (Ephemeral
 * sub-pools are not packed while busy: they make room by eviction, and a
 * small one at its share would evict to make room for the compactor.)
 * A process compacts ephemeral chunks and the
 * persistent chunks of sub-pools it opened itself (the swap server its
 * own), never another's persistent chunks: a cache daemon stopped in the
 * middle of a move holds only an ephemeral stripe.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "tmem-alloc-internal.h"
#include "tmem-check-internal.h"
#include "tmem-compact-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-lock-internal.h"

/* Whether this process may compact chunk c (caller holds chunk_lock, so
 * a closed chunk keeps its pool): ephemeral chunks, and persistent ones of
 * a sub-pool it opened itself — moving a blob holds its stripe, and a
 * persistent stripe must never be held by a process that a stop or a
 * ptrace could stall outside the swap server. */
static bool may_compact(struct tmem *t, uint32_t c)
{
	unsigned pool = seg_chunk(t, c)->pool;

	if (pool >= TMEM_MAX_POOLS)
		return false;
	return __atomic_load_n(&seg_pool(t, pool)->kind, __ATOMIC_RELAXED) ==
		       TMEM_EPHEMERAL ||
	       (atomic_load_explicit(&t->own_persistent,
				     memory_order_relaxed) >>
		pool) & 1;
}

/* Caller holds chunk_lock (a closed chunk keeps its pool). */
static bool chunk_persistent(struct tmem *t, uint32_t c)
{
	unsigned pool = seg_chunk(t, c)->pool;

	return pool < TMEM_MAX_POOLS &&
	       __atomic_load_n(&seg_pool(t, pool)->kind, __ATOMIC_RELAXED) ==
		       TMEM_PERSISTENT;
}

/* Claim the sparsest closed chunk with at most max_live bytes live that
 * this process may compact (of persistent sub-pools only, if so asked). */
static uint32_t victim_pick(struct tmem *t, uint32_t max_live,
			    bool persistent_only)
{
	struct tmem_header *h = t->hdr;
	uint32_t c, best = 0, best_live = max_live + 1;
	uint64_t sl;

	if (!tmem_chunk_lock(t, TMEM_LOCK_WAIT_MS))
		return 0;
	for (c = 1; c < h->hole_bump; c++) {
		sl = atomic_load(&seg_chunk(t, c)->sl);
		if (SL_STATE(sl) == CHUNK_CLOSED && SL_LIVE(sl) < best_live &&
		    may_compact(t, c) &&
		    (!persistent_only || chunk_persistent(t, c))) {
			best = c;
			best_live = SL_LIVE(sl);
		}
	}
	if (best) {
		struct tmem_chunk *k = seg_chunk(t, best);

		sl = atomic_load(&k->sl);
		if (SL_STATE(sl) != CHUNK_CLOSED ||
		    !atomic_compare_exchange_strong(&k->sl, &sl,
						    SL_MAKE(CHUNK_COMPACTING,
							    t->slot + 1,
							    SL_LIVE(sl))))
			best = 0;
	}
	tmem_unlock(&h->chunk_lock);
	return best;
}

/* Caller holds the blob's stripe: move it to the compactor's open chunk
 * of the same sub-pool.  Gets and dedup compares read blobs under the same
 * lock, so nobody sees it half moved. */
static bool move_one(struct tmem *t, uint32_t c, uint32_t id, uint32_t loc,
		     uint32_t size, void *arg)
{
	struct tmem_chunk *k = seg_chunk(t, c);
	uint32_t nloc, len = blob_len(seg_blob(t, id));

	(void)arg;
	if (tmem_alloc_space(t, &t->compact_ctx, k->pool, size, &nloc) != 0)
		return false;
	memcpy(loc_data(t, nloc, len), loc_data(t, loc, len), len);
	alloc_mark(t, nloc, len, id);
	CRASH_POINT(35);
	__atomic_store_n(&seg_blob(t, id)->loc, nloc, __ATOMIC_RELEASE);
	alloc_mark(t, loc, len, 0);
	atomic_fetch_sub(&k->sl, size);
	return true;
}

/* Compact up to max_chunks chunks; returns how many became free. */
static unsigned compact(struct tmem *t, unsigned max_chunks, uint32_t max_live,
			bool persistent_only, bool *none)
{
	unsigned n, freed = 0;

	*none = false;
	if (pthread_mutex_trylock(&t->compact_mu) != 0)
		return 0;
	for (n = 0; n < max_chunks; n++) {
		uint32_t c;

		/* Writers first: on the grower, with the reserve under its
		 * low watermark and holes left to fault in, there are
		 * chunks to ready, and a long compaction would keep the
		 * writers waiting for them (puts answered ENOSPC after
		 * their retry budget).  Its next round readies them (punched
		 * chunks become holes again first). */
		if (tmem_on_grower_thread(t) &&
		    __atomic_load_n(&t->hdr->reserve_count, __ATOMIC_RELAXED) <
			    __atomic_load_n(&t->hdr->low_wm,
					    __ATOMIC_RELAXED) &&
		    (__atomic_load_n(&t->hdr->hole_count, __ATOMIC_RELAXED) ||
		     __atomic_load_n(&t->hdr->punch_count, __ATOMIC_RELAXED)))
			break;
		c = victim_pick(t, max_live, persistent_only);
		struct tmem_chunk *k;
		uint64_t sl, nsl;
		bool ok;

		if (!c) {
			*none = true;
			break;
		}
		k = seg_chunk(t, c);
		/* Ephemeral stripes are only tried (a stopped cache
		 * process may hold one); persistent holders never stall. */
		ok = tmem_chunk_walk(t, c,
				     chunk_persistent(t, c) ? TMEM_PERSISTENT
							    : TMEM_EPHEMERAL,
				     false, move_one, NULL);
		sl = atomic_load(&k->sl);
		do {
			nsl = SL_LIVE(sl)
				      ? SL_MAKE(CHUNK_CLOSED, 0, SL_LIVE(sl))
				      : SL_MAKE(CHUNK_FREEING, t->slot + 1, 0);
		} while (!atomic_compare_exchange_weak(&k->sl, &sl, nsl));
		if (SL_STATE(nsl) == CHUNK_FREEING) {
			tmem_chunk_free(t, c);
			freed++;
		}
		if (!ok)
			break;
	}
	pthread_mutex_unlock(&t->compact_mu);
	return freed;
}

unsigned tmem_compact(struct tmem *t, unsigned max_chunks, uint32_t max_live)
{
	bool none;

	return compact(t, max_chunks, max_live, false, &none);
}

unsigned tmem_compact_persistent(struct tmem *t, unsigned max_chunks,
				 uint32_t max_live, bool *none)
{
	return compact(t, max_chunks, max_live, true, none);
}
