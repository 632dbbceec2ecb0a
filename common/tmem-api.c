/* tmem: the page API — put, get, probe, flush — and sub-pools.
 *
 * A put classifies the page (zero, same-filled, other), then for other
 * pages hashes it, looks for an identical blob it may share (its sub-pool's, or
 * .shared's), and otherwise compresses it into the context's scratch, all
 * before taking a lock.  Only the copy into the segment and the publishing
 * happen under the blob stripe and then the index stripe.  A put that fails for
 * any reason removes what was stored under the key before, so no get can return
 * stale data.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-compact-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"
#include "tmem-stats-internal.h"

static int pool_resolve(struct tmem *t, uint32_t id, unsigned *slot)
{
	unsigned s = id & 0xff;
	struct tmem_pool_rec *pr;

	if (s >= TMEM_MAX_POOLS)
		return -ENOENT;
	pr = seg_pool(t, s);
	if (atomic_load_explicit(&pr->state, memory_order_acquire) !=
		    POOL_ACTIVE ||
	    __atomic_load_n(&pr->gen, __ATOMIC_RELAXED) != id >> 8)
		return -ENOENT;
	*slot = s;
	return 0;
}

static bool pool_still(struct tmem *t, unsigned slot, uint32_t id)
{
	struct tmem_pool_rec *pr = seg_pool(t, slot);

	return atomic_load(&pr->state) == POOL_ACTIVE &&
	       __atomic_load_n(&pr->gen, __ATOMIC_RELAXED) == id >> 8;
}

/* Why this thread's last put was refused (tmem_last_reject). */
static __thread unsigned char last_reject = TMEM_REJECT_NR;

static int reject(struct tmem_ctx *c, unsigned pool, enum tmem_reject why,
		  int err)
{
	tmem_count(c, pool, CNT_REJECT0 + why, 1);
	last_reject = (unsigned char)why;
	return err;
}

enum tmem_reject tmem_last_reject(void)
{
	return (enum tmem_reject)last_reject;
}

/* Take a stripe lock; when a repair of its half is due, let go and wait
 * for it (a grower thread repairs where one runs: tmem_repair_wait); a
 * repair due in the other half is not waited for.  0 with st
 * held, or -ETIMEDOUT with nothing held: the repair did not come in
 * time (left to a live server by a process without a grower, or held up
 * for this process's grower by a stopped process's lock). */
static int stripe_lock(struct tmem *t, struct tmem_stripe *st)
{
	unsigned halves = tmem_lock_halves(t, &st->lock);
	long long since = 0;
	int r;

	for (;;) {
		tmem_lock(t, &st->lock);
		if (!tmem_repair_pending_in(t, halves)) {
			tmem_repair_seen_done(t, halves);
			return 0;
		}
		tmem_unlock(&st->lock);
		r = tmem_repair_wait(t, halves, &since);
		if (r)
			return r;
	}
}

/* Take a stripe while already holding one (the key's index stripe, of
 * the same half).  A repair takes every lock of the half, the held one
 * too, so it never runs from here: false when one of the half is due,
 * with st not held; the caller lets go of what it
 * holds and starts over, and its next stripe_lock repairs. */
static bool stripe_lock_nested(struct tmem *t, struct tmem_stripe *st)
{
	tmem_lock(t, &st->lock);
	if (!tmem_repair_pending_in(t, tmem_lock_halves(t, &st->lock)))
		return true;
	tmem_unlock(&st->lock);
	return false;
}

/* 0 with st held; -EBUSY, not held, when another holds it or a repair
 * of its half is still due after one look (tmem_repair_wait: a serving
 * process's threads only wake their grower); -ETIMEDOUT, not held, as
 * stripe_lock's. */
static int stripe_trylock(struct tmem *t, struct tmem_stripe *st)
{
	unsigned halves = tmem_lock_halves(t, &st->lock);
	long long since = 0;
	int r;

	if (!tmem_trylock(t, &st->lock))
		return -EBUSY;
	if (!tmem_repair_pending_in(t, halves)) {
		tmem_repair_seen_done(t, halves);
		return 0;
	}
	tmem_unlock(&st->lock);
	r = tmem_repair_wait(t, halves, &since);
	if (r)
		return r;
	if (!tmem_trylock(t, &st->lock))
		return -EBUSY;
	if (!tmem_repair_pending_in(t, halves))
		return 0;
	tmem_unlock(&st->lock);
	return -EBUSY;
}

/* Caller took st and found its bucket count damaged (stripe_sound): its
 * chains are not where the count says, so nothing may walk or change
 * them.  Let go and ask for the repair of its half, which rebuilds the
 * stripe from the records; the caller takes it again, and stripe_lock
 * waits for that repair (a serving process's grower runs it).  0, or
 * -EIO when the stripe is found damaged a third time (nothing held). */
static int stripe_unsound(struct tmem *t, struct tmem_stripe *st, int *tries)
{
	tmem_unlock(&st->lock);
	if (++*tries > 2)
		return -EIO;
	atomic_fetch_or_explicit(&t->hdr->needs_repair,
				 tmem_lock_halves(t, &st->lock),
				 memory_order_release);
	return 0;
}

/* stripe_lock for a walk of an index stripe's chains: 0 with is held and
 * sound, or an error with nothing held. */
static int istripe_lock(struct tmem *t, struct tmem_stripe *is)
{
	int r, tries = 0;

	for (;;) {
		r = stripe_lock(t, is);
		if (r || stripe_sound(is, t->geo->ibuckets_per_stripe))
			return r;
		r = stripe_unsound(t, is, &tries);
		if (r)
			return r;
	}
}

/* Take a blob stripe for a put, sound as istripe_lock's: an ephemeral put
 * does not wait for a busy one (-EBUSY, counted as lock_busy).  0 with ds
 * held, or an error with nothing held. */
static int blob_stripe_take(struct tmem *t, struct tmem_ctx *c, unsigned pool,
			    enum tmem_kind kind, struct tmem_stripe *ds)
{
	int r, tries = 0;

	for (;;) {
		r = kind == TMEM_EPHEMERAL ? stripe_trylock(t, ds)
					   : stripe_lock(t, ds);
		if (r == -EBUSY)
			return reject(c, pool, TMEM_REJECT_LOCK_BUSY, -EBUSY);
		if (r || stripe_sound(ds, t->geo->dbuckets_per_stripe))
			return r;
		r = stripe_unsound(t, ds, &tries);
		if (r)
			return reject(c, pool, TMEM_REJECT_DAMAGED, r);
	}
}

static void intent_set(struct tmem *t, struct tmem_ctx *c, uint32_t blob)
{
	__atomic_store_n(&seg_slot(t, t->slot)->intent_blob[c->id], blob,
			 __ATOMIC_RELEASE);
}

/* Remove whatever is stored under a key (a failed put must not leave the
 * older version behind).  When damage in the key's chain may hide an
 * entry of the key (tmem_index_chain_suspect), ask for the repair of its
 * half, which relinks every record, and drop again once it has run (its
 * next stripe_lock waits for it): a drop that missed the hidden entry
 * would let a later get, after that repair, read the older version.  0;
 * -EIO when the chain is still suspect after the repair; or
 * stripe_lock's error (nothing more removed). */
static int key_drop(struct tmem *t, unsigned s, uint64_t bucket, unsigned pool,
		    uint64_t object, uint64_t index)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint32_t *link, e;
	bool suspect;
	int r, tries;

	for (tries = 0;; tries++) {
		r = istripe_lock(t, is);
		if (r)
			return r;
		/* Every entry under the key: one, unless damage made
		 * another entry claim it (a changed key), and a drop that
		 * took only that one would leave the older version. */
		while ((e = tmem_index_find(t, s, bucket, pool, object, index,
					    &link)))
			tmem_index_remove(t, s, link, e);
		suspect = tmem_index_chain_suspect(t, s, bucket);
		tmem_unlock(&is->lock);
		if (!suspect)
			return 0;
		if (tries == 1)
			return -EIO;
		tmem_repair_ask(t, s / TMEM_HALF);
	}
}

/* Make room after the allocator said why there was none.  Returns 0 to
 * retry, or the put's answer: -ENOSPC, counted under its reason. */
static int make_room(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		     enum tmem_kind kind, enum alloc_outcome why, int attempt)
{
	enum evict_outcome n;
	int i;

	switch (why) {
	case ALLOC_OK:
		return 0;
	case ALLOC_NO_RECORD:
		if (attempt == 0 && kind == TMEM_EPHEMERAL &&
		    atomic_load(&t->hdr->ghosts)) {
			tmem_index_sweep_ghosts(t);
			return 0;
		}
		return reject(c, pool, TMEM_REJECT_INDEX_FULL, -ENOSPC);
	case ALLOC_LATER:
		tmem_grower_wake(t);
		return reject(c, pool, TMEM_REJECT_RESERVE_EMPTY, -ENOSPC);
	case ALLOC_RECORD_LATER:
		tmem_grower_wake(t);
		return reject(c, pool, TMEM_REJECT_RECORDS_LATER, -ENOSPC);
	case ALLOC_CAPPED:
		n = kind == TMEM_EPHEMERAL && attempt < 8
			    ? tmem_evict_chunk(t, pool, true)
			    : EVICT_NONE;
		if (n == EVICT_FREED)
			return 0;
		if (n == EVICT_BUSY)
			return reject(c, pool, TMEM_REJECT_RESERVE_EMPTY,
				      -ENOSPC);
		return reject(c, pool, TMEM_REJECT_POOL_MAX, -ENOSPC);
	case ALLOC_FULL:
		for (i = 0; i < 4 && attempt < 8; i++) {
			n = tmem_evict_chunk(t, pool, false);
			if (n == EVICT_FREED) {
				if (kind == TMEM_EPHEMERAL &&
				    atomic_load(&t->hdr->ghosts) > 4096)
					tmem_index_sweep_ghosts(t);
				return 0;
			}
			/* Never wait twice on a lock a stopped process
			 * may hold. */
			if (n == EVICT_BUSY)
				return reject(c, pool,
					      TMEM_REJECT_RESERVE_EMPTY,
					      -ENOSPC);
		}
		/* Dead space in sparse chunks comes back by compaction. */
		if (attempt < 8 && tmem_compact(t, 4, TMEM_COMPACT_FULL) > 0)
			return 0;
		/* Space a dead process left behind comes back by repair:
		 * here, or (in a serving process) by the grower, which looks
		 * for dead processes every second. */
		if (attempt == 0 && !tmem_repair_deferred(t) &&
		    tmem_reap_dead(t) == 0)
			return 0;
		return reject(c, pool, TMEM_REJECT_NOSPACE, -ENOSPC);
	}
	return reject(c, pool, TMEM_REJECT_NOSPACE, -ENOSPC);
}

/* The dictionary group of a page put into sub-pool pool whose dedup scope
 * is scope: who may learn of its content from its compressed size, as from
 * a dedup hit (tmem-dict-internal.h). */
static uint64_t dict_group(struct tmem *t, unsigned pool, uint32_t scope)
{
	switch (scope) {
	case TMEM_DEDUP_SUBPOOL:
		return DICT_GROUP_SUBPOOL |
		       pool_id_make(pool,
				    __atomic_load_n(&seg_pool(t, pool)->gen,
						    __ATOMIC_RELAXED));
	case TMEM_DEDUP_POOL:
		return DICT_GROUP_SHARED;
	default:
		return 0;
	}
}

/* Find or make the blob for a page; on success the context holds one
 * reference on *blob (recorded as its intent).  The blob is found among,
 * or made in, the chunks of the sub-pool that stores the page: pool's own,
 * or TMEM_SHARED_POOL's for a TMEM_DEDUP_POOL sub-pool once this process
 * opened it (the blob's chunk, not the entry, says whose bytes it is). */
static int put_blob(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		    enum tmem_kind kind, const void *page, uint32_t *blob,
		    uint32_t *bhash)
{
	uint32_t hash, scope;
	unsigned d, store = pool;
	uint64_t group;
	struct tmem_stripe *ds;
	const void *data;
	uint32_t len;
	enum alloc_outcome why;
	int r, attempt;

	scope = __atomic_load_n(&seg_pool(t, pool)->dedup, __ATOMIC_RELAXED);
	/* Not opened here, or nothing to share: the sub-pool's own chunks. */
	if (scope == TMEM_DEDUP_POOL &&
	    (!t->dedup ||
	     pool_resolve(t, atomic_load(&t->shared_id), &store) != 0))
		store = pool;
	/* Filed under the stripes of store's group. */
	hash = group_hash(kind, store, (uint32_t)tmem_page_hash(page));
	d = kind_stripe(kind, hash);
	ds = seg_dstripe(t, d);
	*bhash = hash;
	if (t->dedup && scope != TMEM_DEDUP_NONE) {
		r = blob_stripe_take(t, c, pool, kind, ds);
		if (r)
			return r;
		r = tmem_blob_find(t, c, store, d, hash, page, blob);
		if (r == 0)
			intent_set(t, c, *blob);
		tmem_unlock(&ds->lock);
		if (r == 0) {
			tmem_count(c, pool, CNT_DEDUP_HITS, 1);
			return 0;
		}
	}
	CRASH_POINT(1);
	group = dict_group(t, pool, scope);
	r = tmem_page_compress(t, c, page, group, &len);
	if (r)
		return reject(c, pool, TMEM_REJECT_COMPRESS_FAIL, -EIO);
	data = len == TMEM_PAGE_SIZE ? page : c->cbuf;
	for (attempt = 0;; attempt++) {
		r = blob_stripe_take(t, c, pool, kind, ds);
		if (r)
			return r;
		why = tmem_blob_create(t, c, store, d, hash, data, len, blob);
		if (why == ALLOC_OK)
			intent_set(t, c, *blob);
		tmem_unlock(&ds->lock);
		if (why == ALLOC_OK)
			return 0;
		r = make_room(t, c, store, kind, why, attempt);
		if (r)
			return r;
	}
}

static int do_put(struct tmem *t, struct tmem_ctx *c, uint32_t id,
		  unsigned pool, enum tmem_kind kind, uint64_t object,
		  uint64_t index, const void *page)
{
	uint64_t bucket, pattern = 0;
	unsigned s = tmem_key_stripe(kind, pool, object, index, &bucket);
	struct tmem_stripe *is = seg_istripe(t, s);
	enum entry_type type = tmem_page_classify(page, &pattern);
	struct tmem_entry *en, old = {0};
	uint32_t blob = 0, bhash = 0, e, *link;
	bool replaced = false, old_sound = false;
	int r;

	tmem_count(c, pool, CNT_PUTS, 1);
	if (type == ENTRY_BLOB) {
		r = put_blob(t, c, pool, kind, page, &blob, &bhash);
		/* A persistent put that fails changes nothing: the older
		 * version stays, as a block device's refused write leaves
		 * what was there (the caller decides what to do with it).
		 * An ephemeral one drops the older version (a cache must
		 * never read it again), or fails as that drop does; but
		 * -ENOSPC stays -ENOSPC when the drop gave up waiting for a
		 * repair (the older version may stay, or be gone).
		 * -ETIMEDOUT: no stripe could be taken, nothing changed. */
		if (r) {
			if (r != -ETIMEDOUT && kind == TMEM_EPHEMERAL) {
				int d = key_drop(t, s, bucket, pool, object,
						 index);
				if (d && !(d == -ETIMEDOUT && r == -ENOSPC))
					return d;
			}
			return r;
		}
		pattern = blob;
	}
	CRASH_POINT(2);
	r = istripe_lock(t, is);
	if (r == -EIO)
		r = reject(c, pool, TMEM_REJECT_DAMAGED, r);
	if (r) {
		if (blob) {
			tmem_blob_unref(t, blob);
			intent_set(t, c, 0);
		}
		return r;
	}
	if (!pool_still(t, pool, id)) {
		r = -ENOENT;
		goto err_unlock;
	}
	e = tmem_index_find(t, s, bucket, pool, object, index, &link);
	if (e) {
		en = seg_entry(t, e);
		old = *en;
		/* A damaged entry's payload is not released: it may name
		 * another key's blob (repair accounts for it). */
		old_sound = entry_type(&old) != ENTRY_FREE &&
			    tmem_entry_sound(t, &old);
		replaced = true;
		CRASH_POINT(3);
		entry_publish(en, entry_make(type, pool, (uint32_t)pattern),
			      bhash);
	} else {
		enum alloc_outcome why = tmem_index_alloc(t, s, &e);

		if (why != ALLOC_OK) {
			/* ALLOC_RECORD_LATER: the grower has not mapped the
			 * next records yet (or, without its mark, their page
			 * could not be faulted in); the caller retries. */
			if (why == ALLOC_RECORD_LATER)
				tmem_grower_wake(t);
			r = reject(c, pool,
				   why == ALLOC_RECORD_LATER
					   ? TMEM_REJECT_RECORDS_LATER
					   : TMEM_REJECT_INDEX_FULL,
				   -ENOSPC);
			goto err_unlock;
		}
		en = seg_entry(t, e);
		en->object = object;
		en->index = index;
		entry_publish(en, entry_make(type, pool, (uint32_t)pattern),
			      bhash);
		tmem_index_link(t, s, bucket, e);
		tmem_gauge(t, pool, G_PAGES, 1);
	}
	CRASH_POINT(4);
	intent_set(t, c, 0);
	if (type == ENTRY_ZERO)
		tmem_gauge(t, pool, G_ZERO, 1);
	else if (type == ENTRY_SAME)
		tmem_gauge(t, pool, G_SAME, 1);
	if (replaced && old_sound) {
		/* The entry stays one page: release what it held. */
		tmem_gauge(t, pool, G_PAGES, 1);
		tmem_entry_release(t, &old);
	} else if (replaced) {
		tmem_entry_read_forget(t, &old);
	}
	CRASH_POINT(5);
	tmem_unlock(&is->lock);
	return 0;

err_unlock:
	if (blob) {
		tmem_blob_unref(t, blob);
		intent_set(t, c, 0);
	}
	e = tmem_index_find(t, s, bucket, pool, object, index, &link);
	if (e)
		tmem_index_remove(t, s, link, e);
	tmem_unlock(&is->lock);
	return r;
}

int tmem_put(struct tmem *t, uint32_t pool_id, uint64_t object, uint64_t index,
	     const void *page)
{
	struct tmem_ctx *c;
	unsigned pool;
	int r;

	if (t->readonly)
		return -EROFS;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	/* A process that writes to a persistent sub-pool serves it (see
	 * own_persistent). */
	if (seg_pool(t, pool)->kind == TMEM_PERSISTENT &&
	    !((atomic_load_explicit(&t->own_persistent, memory_order_relaxed) >>
	       pool) &
	      1))
		tmem_serve_persistent(t, pool);
	c = tmem_ctx_get(t);
	r = do_put(t, c, pool_id, pool, seg_pool(t, pool)->kind, object, index,
		   page);
	tmem_ctx_put(c);
	return r;
}

/* What a get found. */
enum get_result {
	GET_MISS,
	GET_FILL, /* zero or same-filled: *value */
	GET_BLOB, /* decompressed into c->dbuf; *hash its content hash */
	GET_BAD,  /* damaged: *bad the entry (UINT32_MAX: the chain) */
};

/* Look the key up and, for a blob, decompress it into c->dbuf under the
 * locks.  Nothing read from the segment is trusted before it is checked:
 * the entry against its check, the blob id, location and length against
 * the tables; a miss whose chain holds a damaged entry (that may have
 * been this key's) is GET_BAD, never a miss. */
static enum get_result get_locked(struct tmem *t, struct tmem_ctx *c,
				  unsigned pool, unsigned s, uint64_t bucket,
				  uint64_t object, uint64_t index,
				  uint64_t *value, uint32_t *hash,
				  uint32_t *bad, int *err, bool *retry)
{
	struct tmem_entry *en;
	struct tmem_stripe *ds;
	struct tmem_blob *b;
	uint32_t e, *link, id;

	*err = 0;
	*retry = false;
	e = tmem_index_find_checked(t, s, bucket, pool, object, index, &link,
				    bad);
	if (!e)
		return *bad ? GET_BAD : GET_MISS;
	en = seg_entry(t, e);
	*value = en->value;
	*bad = e;
	if (!tmem_entry_sound(t, en))
		return GET_BAD;
	if (entry_type(en) != ENTRY_BLOB) {
		tmem_entry_read_mark(t, en, 0);
		return GET_FILL;
	}
	id = entry_payload(en);
	b = seg_blob(t, id);
	ds = seg_dstripe(t, blob_stripe(t, id));
	if (!stripe_lock_nested(t, ds)) {
		*retry = true;
		return GET_MISS;
	}
	if (b->loc == BLOB_LOC_DOOMED) {
		tmem_unlock(&ds->lock);
		tmem_index_remove(t, s, link, e);
		return GET_MISS;
	}
	if (!tmem_blob_sane(t, b)) {
		tmem_unlock(&ds->lock);
		return GET_BAD;
	}
	*hash = blob_hash(b);
	tmem_entry_read_mark(t, en, blob_len(b));
	*err = tmem_page_decompress(t, c, loc_data(t, b->loc, blob_len(b)),
				    blob_len(b), c->dbuf);
	/* Only when not set: two readers must not bounce the line. */
	if (!atomic_load_explicit(&seg_chunk(t, loc_chunk(b->loc))->ref,
				  memory_order_relaxed))
		atomic_store_explicit(&seg_chunk(t, loc_chunk(b->loc))->ref, 1,
				      memory_order_relaxed);
	tmem_unlock(&ds->lock);
	return GET_BLOB;
}

/* A damaged page found by a get: mark its entry, so that it is counted
 * and logged once and every read of it answers -EIO until it is written
 * or flushed.  what says what failed. */
static void get_damaged(struct tmem *t, struct tmem_ctx *c, unsigned pool,
			unsigned s, uint64_t bucket, uint64_t object,
			uint64_t index, uint32_t bad, int err)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	const char *what;
	bool first;

	/* Not marked: the get answers -EIO all the same. */
	if (stripe_lock(t, is))
		return;
	if (bad == UINT32_MAX || !entry_id_valid(t, bad)) {
		/* A broken chain: nothing to mark; once per process. */
		first = !atomic_exchange(&t->chain_logged, true);
		what = "its index chain is broken (a link out of the "
		       "table or a loop)";
	} else {
		struct tmem_entry *en = seg_entry(t, bad);

		first = !(en->flags & ENTRY_F_BAD);
		en->flags |= ENTRY_F_BAD;
		if (en->object != object || en->index != index ||
		    entry_pool(en) != pool)
			what = "an entry in its index bucket fails its check "
			       "(a damaged key)";
		else if (!tmem_entry_sound(t, en))
			what = "its index entry fails its check";
		else if (err == -ENOKEY)
			what = "the stored page needs the dictionary";
		else
			what = "the stored page fails its checksum";
	}
	tmem_unlock(&is->lock);
	if (!first)
		return;
	tmem_count(c, pool, CNT_CHECKSUM_ERRORS, 1);
	/* A damaged dictionary was reported once, when it failed to load:
	 * its pages are counted, not logged one by one. */
	if (err == -ENOKEY && atomic_exchange(&t->dict_page_logged, true))
		return;
	tmem_log(t, TMEM_LOG_ERROR,
		 "sub-pool %s object %llu index %llu: %s; it reads as an I/O "
		 "error until it is written or flushed",
		 seg_pool(t, pool)->name, (unsigned long long)object,
		 (unsigned long long)index, what);
}

/* Whether a get found the entry marked damaged already. */
static bool get_known_bad(struct tmem *t, uint32_t bad)
{
	return bad != UINT32_MAX && entry_id_valid(t, bad) &&
	       (seg_entry(t, bad)->flags & ENTRY_F_BAD);
}

int tmem_get(struct tmem *t, uint32_t pool_id, uint64_t object, uint64_t index,
	     void *page)
{
	uint64_t bucket, value = 0;
	uint32_t hash = 0, bad = 0;
	struct tmem_stripe *is;
	enum get_result res;
	struct tmem_ctx *c;
	unsigned pool, s;
	bool known = false, retry;
	int r, err;

	if (t->readonly)
		return -EROFS;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	s = tmem_key_stripe(seg_pool(t, pool)->kind, pool, object, index,
			    &bucket);
	is = seg_istripe(t, s);
	c = tmem_ctx_get(t);
	tmem_count(c, pool, CNT_GETS, 1);
	for (;;) {
		r = istripe_lock(t, is);
		if (r) {
			tmem_ctx_put(c);
			return r;
		}
		res = get_locked(t, c, pool, s, bucket, object, index, &value,
				 &hash, &bad, &err, &retry);
		if (!retry)
			break;
		tmem_unlock(&is->lock);
	}
	if (res == GET_BLOB || res == GET_BAD)
		known = get_known_bad(t, bad);
	tmem_unlock(&is->lock);
	if (res == GET_BLOB && !known && !err &&
	    blob_hash_matches((enum tmem_kind)seg_pool(t, pool)->kind, hash,
			      (uint32_t)tmem_page_hash(c->dbuf))) {
		memcpy(page, c->dbuf, TMEM_PAGE_SIZE);
		tmem_count(c, pool, CNT_HITS, 1);
		r = 0;
	} else if (res == GET_BLOB || res == GET_BAD) {
		/* Sticky: the entry stays, and so does the answer. */
		if (!known)
			get_damaged(t, c, pool, s, bucket, object, index, bad,
				    err);
		r = -EIO;
	} else if (res == GET_FILL) {
		tmem_page_fill(page, (enum entry_type)(value >> 30), value);
		tmem_count(c, pool, CNT_HITS, 1);
		r = 0;
	} else {
		tmem_count(c, pool, CNT_MISSES, 1);
		r = -ENOENT;
	}
	tmem_ctx_put(c);
	return r;
}

/* Look a key up for a reader that only inspects its entry: on 0, *is is
 * locked (the caller unlocks it) and *en is the key's entry or NULL, with
 * *bad set when its bucket holds a damaged entry that may have been it. */
static int key_inspect(struct tmem *t, uint32_t pool_id, uint64_t object,
		       uint64_t index, struct tmem_stripe **is,
		       struct tmem_entry **en, uint32_t *bad)
{
	uint64_t bucket;
	unsigned pool, s;
	uint32_t e, *link;
	int r;

	if (t->readonly)
		return -EROFS;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	s = tmem_key_stripe(seg_pool(t, pool)->kind, pool, object, index,
			    &bucket);
	*is = seg_istripe(t, s);
	r = istripe_lock(t, *is);
	if (r)
		return r;
	e = tmem_index_find_checked(t, s, bucket, pool, object, index, &link,
				    bad);
	*en = e ? seg_entry(t, e) : NULL;
	return 0;
}

int tmem_probe(struct tmem *t, uint32_t pool_id, uint64_t object,
	       uint64_t index, enum tmem_page_state *state)
{
	struct tmem_stripe *is;
	struct tmem_entry *en;
	uint32_t bad;
	int r;

	*state = TMEM_PAGE_ABSENT;
	r = key_inspect(t, pool_id, object, index, &is, &en, &bad);
	if (r)
		return r;
	if (en) {
		/* A damaged entry is data (that reads as an I/O error),
		 * never a hole or zeros. */
		if (!tmem_entry_sound(t, en) || (en->flags & ENTRY_F_BAD))
			*state = TMEM_PAGE_DATA;
		else if (entry_type(en) == ENTRY_ZERO)
			*state = TMEM_PAGE_ZERO;
		else if (entry_type(en) == ENTRY_SAME ||
			 __atomic_load_n(&seg_blob(t, entry_payload(en))->loc,
					 __ATOMIC_ACQUIRE) != BLOB_LOC_DOOMED)
			*state = TMEM_PAGE_DATA;
	} else if (bad) {
		*state = TMEM_PAGE_DATA;
	}
	tmem_unlock(&is->lock);
	return 0;
}

int tmem_read_back(struct tmem *t, uint32_t pool_id, uint64_t object,
		   uint64_t index)
{
	struct tmem_stripe *is;
	struct tmem_entry *en;
	uint32_t bad;
	int r;

	r = key_inspect(t, pool_id, object, index, &is, &en, &bad);
	if (r)
		return r;
	r = en && tmem_entry_sound(t, en) && !(en->flags & ENTRY_F_BAD) &&
	    (en->flags & ENTRY_F_READ) && entry_type(en) == ENTRY_BLOB &&
	    (__atomic_load_n(&seg_blob(t, entry_payload(en))->rl,
			     __ATOMIC_RELAXED) &
	     BLOB_REFS_MASK) == 1;
	tmem_unlock(&is->lock);
	return r;
}

int tmem_pool_usage(struct tmem *t, uint32_t pool, uint64_t *pages,
		    uint64_t *bytes_used)
{
	int64_t g[G_NR];
	unsigned slot;
	int r;

	r = pool_resolve(t, pool, &slot);
	if (r)
		return r;
	tmem_gauges_read(t, slot, g);
	*pages = (uint64_t)g[G_PAGES];
	*bytes_used = tmem_gauges_used(g);
	return 0;
}

int tmem_flush_page(struct tmem *t, uint32_t pool_id, uint64_t object,
		    uint64_t index)
{
	struct tmem_ctx *c;
	uint64_t bucket;
	unsigned pool, s;
	int r;

	if (t->readonly)
		return -EROFS;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	s = tmem_key_stripe(seg_pool(t, pool)->kind, pool, object, index,
			    &bucket);
	c = tmem_ctx_get(t);
	tmem_count(c, pool, CNT_FLUSHES, 1);
	CRASH_POINT(10);
	r = key_drop(t, s, bucket, pool, object, index);
	tmem_ctx_put(c);
	return r;
}

int tmem_flush_range(struct tmem *t, uint32_t pool_id, uint64_t object,
		     uint64_t first, uint64_t count)
{
	enum tmem_kind kind;
	struct tmem_ctx *c;
	uint64_t bucket, i;
	unsigned pool, s;
	int r, d;

	if (t->readonly)
		return -EROFS;
	if (first + count < first)
		return -EINVAL;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	kind = seg_pool(t, pool)->kind;
	c = tmem_ctx_get(t);
	tmem_count(c, pool, CNT_FLUSHES, 1);
	tmem_ctx_put(c);
	/* A key whose chain stayed suspect (-EIO) does not keep the rest
	 * of the range: they are dropped, and the first error returned. */
	for (i = first; i < first + count; i++) {
		s = tmem_key_stripe(kind, pool, object, i, &bucket);
		d = key_drop(t, s, bucket, pool, object, i);
		if (d && d != -EIO)
			return d;
		if (d && !r)
			r = d;
	}
	return r;
}

int tmem_flush_object(struct tmem *t, uint32_t pool_id, uint64_t object)
{
	struct tmem_ctx *c;
	unsigned pool, half;
	long long since = 0;
	int r, tries;

	if (t->readonly)
		return -EROFS;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	c = tmem_ctx_get(t);
	tmem_count(c, pool, CNT_FLUSHES, 1);
	tmem_ctx_put(c);
	/* Damage that may hide some of its entries asked for the repair,
	 * which relinks them: drop them again once it has run (a flush that
	 * missed one would let a later get read an older version). */
	half = TMEM_HALF_BIT(seg_pool(t, pool)->kind == TMEM_EPHEMERAL
				     ? TMEM_EPHEMERAL
				     : TMEM_PERSISTENT);
	for (tries = 0; !tmem_index_drop_where(t, pool, false, object);
	     tries++) {
		if (tries == 2)
			return -EIO;
		while (tmem_repair_pending_in(t, half)) {
			r = tmem_repair_wait(t, half, &since);
			if (r)
				return r;
		}
	}
	return 0;
}

/* ---- sub-pools ---------------------------------------------------- */

/* Who holds a sub-pool: a process that opened it keeps an OFD read lock on
 * one byte per (sub-pool, process slot), past the slots' liveness bytes.
 * The kernel drops it when the process dies or closes the segment, so a
 * holder is always a live process, and the slot names its pid.  Taken
 * and tested under pool_lock, so that a destroy and an open never cross. */
#define TMEM_HOLD_OFFSET (TMEM_LIVENESS_OFFSET + 4096)

static int pool_hold_lock(struct tmem *t, unsigned pool, unsigned slot, int cmd,
			  short type, struct flock *fl)
{
	memset(fl, 0, sizeof *fl);
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)(TMEM_HOLD_OFFSET +
			      (uint64_t)pool * TMEM_MAX_SLOTS + slot);
	fl->l_len = 1;
	return fcntl(t->fd, cmd, fl);
}

static void pool_hold(struct tmem *t, unsigned pool, bool on)
{
	struct flock fl;

	if (t->slot < 0)
		return;
	/* Cannot fail but for a bad fd: then others do not see the hold. */
	if (pool_hold_lock(t, pool, (unsigned)t->slot, F_OFD_SETLK,
			   on ? F_RDLCK : F_UNLCK, &fl) == -1 &&
	    on)
		tmem_log(t, TMEM_LOG_WARNING,
			 "sub-pool %s: cannot mark it held: %m",
			 seg_pool(t, pool)->name);
}

/* Other live processes holding pool slot p: their pids into pids[max]. */
static int pool_holders(struct tmem *t, unsigned pool, int *pids, int max)
{
	struct flock fl;
	unsigned s;
	int n = 0;

	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		if ((int)s == t->slot)
			continue;
		if (pool_hold_lock(t, pool, s, F_OFD_GETLK, F_WRLCK, &fl) ==
			    -1 ||
		    fl.l_type == F_UNLCK)
			continue;
		if (n < max)
			pids[n] = __atomic_load_n(&seg_slot(t, s)->pid,
						  __ATOMIC_RELAXED);
		n++;
	}
	return n;
}

int tmem_pool_holders(struct tmem *t, uint32_t pool_id, int *pids, int max)
{
	unsigned pool;
	int r;

	/* A read-only handle cannot take the lock; each byte's test is
	 * atomic on its own. */
	if (!t->readonly)
		tmem_lock(t, &t->hdr->pool_lock);
	r = pool_resolve(t, pool_id, &pool);
	if (r == 0)
		r = pool_holders(t, pool, pids, max);
	if (!t->readonly)
		tmem_unlock(&t->hdr->pool_lock);
	return r;
}

static bool pool_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= TMEM_NAME_MAX;
}

static int pool_open(struct tmem *t, const char *name, enum tmem_kind kind,
		     uint64_t min_bytes, uint64_t max_bytes, uint32_t *pool_id);

int tmem_pool_open(struct tmem *t, const char *name, enum tmem_kind kind,
		   uint64_t min_bytes, uint64_t max_bytes, uint32_t *pool_id)
{
	if (name && strcmp(name, TMEM_SHARED_POOL) == 0) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool name %s is reserved (it holds the pages of "
			 "sub-pools whose dedup scope is the pool)",
			 TMEM_SHARED_POOL);
		return -EINVAL;
	}
	return pool_open(t, name, kind, min_bytes, max_bytes, pool_id);
}

/* A sub-pool's counter blocks (every process slot's, pool-major: one run)
 * are touched only once it is used, so they may not be in the segment's
 * file yet; a first touch on a full /dev/shm would be SIGBUS: faulted in
 * before the sub-pool is made or served.  0, or -errno (-ENOSPC: /dev/shm
 * is full), said. */
static int pool_counters_fault(struct tmem *t, unsigned pool, const char *name)
{
	uint64_t off = (uint64_t)((unsigned char *)seg_counters(t, 0, 0, pool) -
				  t->base);
	int r = tmem_fault_in(t, off,
			      (uint64_t)TMEM_MAX_SLOTS * TMEM_STAT_CTX *
				      sizeof(struct tmem_counters));

	if (r)
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool %s: cannot fault its counters in (%s): is "
			 "/dev/shm full or memory short?",
			 name, strerror(-r));
	return r;
}

static int pool_open(struct tmem *t, const char *name, enum tmem_kind kind,
		     uint64_t min_bytes, uint64_t max_bytes, uint32_t *pool_id)
{
	struct tmem_pool_rec *pr;
	uint64_t reserved = min_bytes;
	unsigned in_group[TMEM_GROUPS] = {0}, p;
	int free_slot = -1;
	int r = 0;

	if (t->readonly)
		return -EROFS;
	if (!pool_name_valid(name) ||
	    (kind != TMEM_PERSISTENT && kind != TMEM_EPHEMERAL) ||
	    (max_bytes && min_bytes > max_bytes) ||
	    min_bytes > t->geo->pool_size)
		return -EINVAL;
	tmem_lock(t, &t->hdr->pool_lock);
	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		pr = seg_pool(t, p);
		if (atomic_load(&pr->state) == POOL_FREE) {
			if (free_slot < 0)
				free_slot = (int)p;
			continue;
		}
		if (pr->kind == TMEM_PERSISTENT)
			in_group[pool_group(p)]++;
		if (atomic_load(&pr->state) == POOL_ACTIVE)
			reserved += __atomic_load_n(&pr->min_bytes,
						    __ATOMIC_RELAXED);
		if (atomic_load(&pr->state) != POOL_ACTIVE ||
		    strcmp(pr->name, name) != 0)
			continue;
		if (pr->kind != (uint32_t)kind) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "sub-pool %s exists with the other kind",
				 name);
			r = -EEXIST;
		} else if ((r = pool_counters_fault(t, p, name)) == 0) {
			*pool_id = pool_id_make(p, pr->gen);
			pool_hold(t, p, true);
			if (kind == TMEM_PERSISTENT)
				tmem_serve_persistent(t, p);
		}
		goto out;
	}
	if (free_slot < 0) {
		tmem_log(t, TMEM_LOG_ERROR, "all %u sub-pools are in use",
			 TMEM_MAX_POOLS);
		r = -ENOSPC;
		goto out;
	}
	/* A persistent sub-pool's keys and pages live under its slot's
	 * group of stripes (pool_group): it takes a free slot of the group
	 * with the fewest persistent sub-pools, so that up to TMEM_GROUPS
	 * of them never share one, whatever slots the others hold. */
	if (kind == TMEM_PERSISTENT)
		for (p = (unsigned)free_slot + 1; p < TMEM_MAX_POOLS; p++)
			if (atomic_load(&seg_pool(t, p)->state) == POOL_FREE &&
			    in_group[pool_group(p)] <
				    in_group[pool_group((unsigned)free_slot)])
				free_slot = (int)p;
	/* A new minimum is a promise: made only while every one made can
	 * still be kept (chunks_owed leaves the rest to the others). */
	if (min_bytes && reserved > TMEM_RESERVABLE(t->geo->pool_size)) {
		tmem_log(
			t, TMEM_LOG_ERROR,
			"sub-pool %s: its reserved minimum (min-share) and "
			"those of the sub-pools in the pool would add up to "
			"%llu bytes, more than the pool can reserve (%llu: "
			"its size less one 64 KiB chunk, kept free for "
			"compaction)",
			name, (unsigned long long)reserved,
			(unsigned long long)TMEM_RESERVABLE(t->geo->pool_size));
		r = -ENOSPC;
		goto out;
	}
	r = pool_counters_fault(t, (unsigned)free_slot, name);
	if (r)
		goto out;
	pr = seg_pool(t, (unsigned)free_slot);
	snprintf(pr->name, sizeof pr->name, "%s", name);
	/* Read without pool_lock by the allocator and the evictor. */
	__atomic_store_n(&pr->kind, kind, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->dedup, TMEM_DEDUP_SUBPOOL, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->min_bytes, min_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->max_bytes, max_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&pr->gen, (pr->gen + 1) & 0xffffff, __ATOMIC_RELAXED);
	if (pr->gen == 0)
		__atomic_store_n(&pr->gen, 1, __ATOMIC_RELAXED);
	tmem_counters_sum(t, (unsigned)free_slot, pr->base);
	pr->evicted_base = atomic_load(&pr->evicted);
	atomic_store_explicit(&pr->state, POOL_ACTIVE, memory_order_release);
	CRASH_POINT(22);
	tmem_pool_reseal(pr);
	*pool_id = pool_id_make((unsigned)free_slot, pr->gen);
	pool_hold(t, (unsigned)free_slot, true);
	if (kind == TMEM_PERSISTENT)
		tmem_serve_persistent(t, (unsigned)free_slot);
out:
	tmem_unlock(&t->hdr->pool_lock);
	return r;
}

/* The first sub-pool record in state called name, or -1 (no lock). */
static int pool_named(struct tmem *t, const char *name, enum pool_state state)
{
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);

		if (atomic_load(&pr->state) == state &&
		    strncmp(pr->name, name, sizeof pr->name) == 0)
			return (int)p;
	}
	return -1;
}

static void pool_finish_unserved(struct tmem *t, const char *name);

int tmem_pool_find(struct tmem *t, const char *name, uint32_t *pool_id)
{
	int p;

	if (!pool_name_valid(name))
		return -EINVAL;
	p = pool_named(t, name, POOL_ACTIVE);
	if (p >= 0) {
		*pool_id = pool_id_make((unsigned)p, seg_pool(t, p)->gen);
		return 0;
	}
	/* Its pages are still there: not "no such sub-pool". */
	if (pool_named(t, name, POOL_DESTROYING) < 0)
		return -ENOENT;
	pool_finish_unserved(t, name);
	return pool_named(t, name, POOL_DESTROYING) < 0 ? -ENOENT
							: -EINPROGRESS;
}

int tmem_pool_destroying(struct tmem *t, const char *name)
{
	if (!pool_name_valid(name))
		return -EINVAL;
	return pool_named(t, name, POOL_DESTROYING) >= 0;
}

int tmem_pool_set_dedup(struct tmem *t, uint32_t pool_id,
			enum tmem_dedup_scope scope)
{
	unsigned pool;
	int r;

	if (t->readonly)
		return -EROFS;
	if (scope != TMEM_DEDUP_SUBPOOL && scope != TMEM_DEDUP_NONE &&
	    scope != TMEM_DEDUP_POOL)
		return -EINVAL;
	r = pool_resolve(t, pool_id, &pool);
	if (r)
		return r;
	if (scope == TMEM_DEDUP_POOL) {
		uint32_t sid;

		if (seg_pool(t, pool)->kind != TMEM_PERSISTENT)
			return -EINVAL;
		if (strcmp(seg_pool(t, pool)->name, TMEM_SHARED_POOL) == 0)
			return -EINVAL;
		/* Its pages would go to .shared's chunks, so its reserve
		 * would stay owed for ever, unused by anyone. */
		if (__atomic_load_n(&seg_pool(t, pool)->min_bytes,
				    __ATOMIC_RELAXED)) {
			tmem_log(t, TMEM_LOG_ERROR,
				 "sub-pool %s has a reserved minimum "
				 "(min-share): "
				 "its pages cannot be shared across sub-pools, "
				 "which are stored in %s and could not use it",
				 seg_pool(t, pool)->name, TMEM_SHARED_POOL);
			return -EINVAL;
		}
		/* Held by this process from now on, like any it opened. */
		r = pool_open(t, TMEM_SHARED_POOL, TMEM_PERSISTENT, 0, 0, &sid);
		if (r)
			return r;
		atomic_store(&t->shared_id, sid);
	}
	tmem_lock(t, &t->hdr->pool_lock);
	__atomic_store_n(&seg_pool(t, pool)->dedup, scope, __ATOMIC_RELAXED);
	tmem_pool_reseal(seg_pool(t, pool));
	tmem_unlock(&t->hdr->pool_lock);
	return 0;
}

/* Whether sub-pool p is a persistent one being destroyed (no lock). */
static bool pool_destroying_persistent(struct tmem *t, unsigned p)
{
	return atomic_load(&seg_pool(t, p)->state) == POOL_DESTROYING &&
	       __atomic_load_n(&seg_pool(t, p)->kind, __ATOMIC_RELAXED) ==
		       TMEM_PERSISTENT;
}

/* Caller holds pool_lock; sub-pool pool is POOL_DESTROYING.  Drop its
 * entries and free its record.  Entries damage hid are the repair's
 * (asked for): it finishes the destroy and frees the record, so that no
 * sub-pool opened in this slot meanwhile finds them.  false then. */
static bool pool_drop_destroyed(struct tmem *t, unsigned pool)
{
	struct tmem_pool_rec *pr = seg_pool(t, pool);
	bool whole = tmem_index_drop_where(t, pool, true, 0);

	CRASH_POINT(21);
	if (!whole)
		return false;
	atomic_store_explicit(&pr->state, POOL_FREE, memory_order_release);
	tmem_pool_reseal(pr);
	return true;
}

int tmem_pool_destroy(struct tmem *t, uint32_t pool_id)
{
	struct tmem_pool_rec *pr;
	unsigned pool;
	int r, n, pid = 0;
	bool shared;

	if (t->readonly)
		return -EROFS;
	tmem_lock(t, &t->hdr->pool_lock);
	r = pool_resolve(t, pool_id, &pool);
	if (r) {
		tmem_unlock(&t->hdr->pool_lock);
		return r;
	}
	pr = seg_pool(t, pool);
	shared = strcmp(pr->name, TMEM_SHARED_POOL) == 0;
	/* A put of this process may be storing into it right now (it
	 * resolves shared_id without pool_lock): only another may destroy it,
	 * which pool_holders refuses while this one lives. */
	if (shared && atomic_load(&t->shared_id) == pool_id) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool %s is in use by this process (it stores "
			 "pages there)",
			 pr->name);
		tmem_unlock(&t->hdr->pool_lock);
		return -EBUSY;
	}
	if (shared && atomic_load(&pr->g[G_BLOBS]) > 0) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool %s holds pages of other sub-pools (those "
			 "whose dedup scope is the pool): flush or destroy "
			 "them first",
			 pr->name);
		tmem_unlock(&t->hdr->pool_lock);
		return -ENOTEMPTY;
	}
	n = pool_holders(t, pool, &pid, 1);
	if (n > 0) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool %s is in use by process %d%s", pr->name, pid,
			 n > 1 ? " and others" : "");
		tmem_unlock(&t->hdr->pool_lock);
		return -EBUSY;
	}
	atomic_store(&pr->state, POOL_DESTROYING);
	tmem_pool_reseal(pr);
	CRASH_POINT(20);
	pool_hold(t, pool, false);
	tmem_unserve_persistent(t, pool);
	/* A swap sub-pool's entries lie on the swap stripes.  A process that
	 * is no swap server (no grower serving a swap sub-pool: a tool, even
	 * one with a swap sub-pool open, a cache daemon) may be stopped or
	 * stall on a fault while it holds one, and a swap server's request
	 * for a key there would wait as long: while a swap server lives,
	 * its grower drops them (tmem_destroy_serve, also as it stops), and
	 * this process waits holding no lock.  The record stays DESTROYING
	 * meanwhile, so no sub-pool is opened in its slot, and a lookup of
	 * its name says it is being destroyed (tmem_pool_find), finishing
	 * it once no swap server is left. */
	if (pr->kind == TMEM_PERSISTENT &&
	    !(__atomic_load_n(&t->grower_running, __ATOMIC_RELAXED) &&
	      atomic_load(&t->own_persistent)) &&
	    tmem_swap_server(t)) {
		tmem_unlock(&t->hdr->pool_lock);
		r = tmem_destroy_wait(t, pool);
		if (r <= 0)
			return r;
		/* No swap server any more: drop them here, unless someone
		 * finished the destroy meanwhile. */
		tmem_lock(t, &t->hdr->pool_lock);
		if (atomic_load(&pr->state) != POOL_DESTROYING ||
		    __atomic_load_n(&pr->gen, __ATOMIC_RELAXED) !=
			    pool_id >> 8) {
			tmem_unlock(&t->hdr->pool_lock);
			return 0;
		}
	}
	(void)pool_drop_destroyed(t, pool);
	tmem_unlock(&t->hdr->pool_lock);
	return 0;
}

/* A destroy of a persistent sub-pool called name that was handed over
 * (tmem_pool_destroy) to a swap server that is gone, its destroyer no
 * longer waiting (it timed out, or was killed): with no other swap
 * server alive, nobody would finish it until one starts (or a repair
 * runs), its pages held meanwhile.  Finish it here, as its destroyer
 * would have, with no swap server to wait on this process; pool_lock is
 * waited for 50 ms at most (busy, it stays pending).  A record found
 * DESTROYING under pool_lock is a handed-over one, or one whose
 * destroyer died in it, left to the repair (due then). */
static void pool_finish_unserved(struct tmem *t, const char *name)
{
	unsigned p;

	if (t->readonly || tmem_swap_server(t) ||
	    !tmem_timedlock(t, &t->hdr->pool_lock, 50))
		return;
	for (p = 0; p < TMEM_MAX_POOLS; p++)
		if (!tmem_repair_pending_in(t,
					    TMEM_HALF_BIT(TMEM_PERSISTENT)) &&
		    pool_destroying_persistent(t, p) &&
		    strncmp(seg_pool(t, p)->name, name,
			    sizeof seg_pool(t, p)->name) == 0)
			(void)pool_drop_destroyed(t, p);
	tmem_unlock(&t->hdr->pool_lock);
}

bool tmem_destroy_serve(struct tmem *t)
{
	bool any = false, done = false;
	unsigned p;

	if (!atomic_load(&t->own_persistent))
		return false;
	for (p = 0; p < TMEM_MAX_POOLS && !any; p++)
		any = pool_destroying_persistent(t, p);
	/* A destroyer holds pool_lock while it drops: one found DESTROYING
	 * with pool_lock taken is one handed over, or one whose destroyer
	 * died (then the repair, due, finishes it).  A busy pool_lock (a
	 * stopped holder) is tried again on the next round. */
	if (!any || !tmem_timedlock(t, &t->hdr->pool_lock, 50))
		return false;
	for (p = 0; p < TMEM_MAX_POOLS; p++)
		if (!tmem_repair_pending_in(t,
					    TMEM_HALF_BIT(TMEM_PERSISTENT)) &&
		    pool_destroying_persistent(t, p))
			done |= pool_drop_destroyed(t, p);
	tmem_unlock(&t->hdr->pool_lock);
	return done;
}
