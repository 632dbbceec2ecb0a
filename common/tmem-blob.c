/* tmem: blobs — stored pages, their dedup chains and reference counts.
 *
 * A blob is one stored page (compressed or raw) that any number of index
 * entries share: of one sub-pool, or of every TMEM_DEDUP_POOL sub-pool (the
 * blob is then in a chunk of TMEM_SHARED_POOL, which its bytes count
 * for).  Blobs are found by the XXH3 of the page;
 * a hash match is confirmed by comparing the bytes (decompressing the
 * stored copy into the context's scratch), never trusted alone.  The hash
 * doubles as the page's checksum, verified on every get.  Blob records of
 * stripe d are d, d + S, d + 2S, ...: each stripe allocates its own records
 * under its own lock, and the table's memory grows evenly with use.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-stats-internal.h"

/* The low bits of the hash chose the stripe; the bucket comes from the
 * bits above them, within the array whatever the stripe's (perhaps
 * damaged) bucket count says. */
uint64_t tmem_dbucket_of(struct tmem *t, unsigned d, uint32_t hash)
{
	return (hash >> 7) &
	       (stripe_buckets(seg_dstripe(t, d), t->geo->dbuckets_per_stripe) -
		1);
}

/* Whether id may be a link of blob stripe d's chains: a record of d's
 * (blob_stripe), and within the table. */
static bool chain_link_valid(struct tmem *t, unsigned d, uint32_t id)
{
	return id < t->geo->nr_blobs && blob_stripe(t, id) == d;
}

/* Whether blob stripe d's first nb chains are whole: every link a record
 * of d's, and no more links than it has records (a loop).  A resize
 * moves records only then. */
static bool chains_sound(struct tmem *t, unsigned d, uint64_t nb)
{
	uint64_t b, steps = 0, most = seg_dstripe(t, d)->used + 1ULL;
	uint32_t id;

	for (b = 0; b < nb; b++)
		for (id = *seg_dbucket(t, d, b); id; id = seg_blob(t, id)->next)
			if (!chain_link_valid(t, d, id) || ++steps > most)
				return false;
	return true;
}

/* Caller holds blob stripe d: rehash its chains into 1 << bits buckets
 * (at most the whole array: a stripe with more than its share has longer
 * chains).  A stripe with a damaged count or chain is left for the
 * repair, as in tmem_index_resize. */
void tmem_blob_resize(struct tmem *t, unsigned d, unsigned bits)
{
	struct tmem_stripe *ds = seg_dstripe(t, d);
	uint64_t old = stripe_buckets(ds, t->geo->dbuckets_per_stripe), nb, b;
	uint32_t all = 0, id, next;

	bits = bits_within(bits, t->geo->dbuckets_per_stripe);
	nb = 1ULL << bits;
	if (bits == ds->bits || !stripe_sound(ds, t->geo->dbuckets_per_stripe))
		return;
	if (!chains_sound(t, d, old)) {
		tmem_repair_ask(t, d / TMEM_HALF);
		return;
	}
	for (b = 0; b < old; b++) {
		for (id = *seg_dbucket(t, d, b); id; id = next) {
			next = seg_blob(t, id)->next;
			seg_blob(t, id)->next = all;
			all = id;
		}
		*seg_dbucket(t, d, b) = 0;
	}
	for (b = old; b < nb; b++)
		*seg_dbucket(t, d, b) = 0;
	stripe_set_bits(ds, bits);
	for (id = all; id; id = next) {
		struct tmem_blob *bl = seg_blob(t, id);
		uint32_t *head =
			seg_dbucket(t, d, tmem_dbucket_of(t, d, blob_hash(bl)));

		next = bl->next;
		bl->next = *head;
		*head = id;
	}
}

/* Size a blob stripe's buckets to what it holds (after bulk removals). */
void tmem_blob_stripe_fit(struct tmem *t, unsigned d)
{
	struct tmem_stripe *ds = seg_dstripe(t, d);

	if (!tmem_trylock(t, &ds->lock))
		return;
	tmem_blob_resize(t, d, tmem_bits_for(ds->used, ~0ULL));
	tmem_unlock(&ds->lock);
}

/* Caller holds blob stripe d, which is sound.  Take a reference on a live
 * blob of pool holding exactly this page.  0 and *id, or -ENOENT.  A
 * damaged chain (a link out of the stripe, or a loop: more steps than the
 * stripe has records) ends the walk: a missed match costs only dedup. */
int tmem_blob_find(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		   unsigned d, uint32_t hash, const void *page, uint32_t *id)
{
	uint32_t b = *seg_dbucket(t, d, tmem_dbucket_of(t, d, hash));
	uint64_t steps = 0, most = seg_dstripe(t, d)->used + 1ULL;

	for (; b; b = seg_blob(t, b)->next) {
		struct tmem_blob *bl = seg_blob(t, b);
		const void *stored;

		if (!chain_link_valid(t, d, b) || ++steps > most)
			break;

		if (blob_hash(bl) != hash || !tmem_blob_placed(t, b, bl) ||
		    blob_refs(bl) >= TMEM_MAX_REFS)
			continue;
		if (seg_chunk(t, loc_chunk(bl->loc))->pool != pool)
			continue;
		stored = loc_data(t, bl->loc, blob_len(bl));
		if (blob_len(bl) != TMEM_PAGE_SIZE) {
			if (tmem_page_decompress(t, c, stored, blob_len(bl),
						 c->dbuf))
				continue;
			stored = c->dbuf;
		}
		if (memcmp(stored, page, TMEM_PAGE_SIZE) != 0)
			continue;
		bl->rl++;
		*id = b;
		return 0;
	}
	return -ENOENT;
}

/* Caller holds blob stripe d.  A free blob record, or 0 (*later: none
 * mapped in this process yet). */
static uint32_t record_alloc(struct tmem *t, unsigned d, bool *later)
{
	struct tmem_stripe *ds = seg_dstripe(t, d);
	uint32_t id = tmem_free_pop(t, true, d, later);

	if (!id)
		id = tmem_record_new(t, true, d, later);
	if (!id)
		return 0;
	ds->used++;
	return id;
}

/* Caller holds blob stripe d, which the record goes back to. */
static void record_free(struct tmem *t, unsigned d, uint32_t id)
{
	struct tmem_stripe *ds = seg_dstripe(t, d);
	struct tmem_blob *b = seg_blob(t, id);

	__atomic_store_n(&b->loc, BLOB_LOC_FREE, __ATOMIC_RELEASE);
	b->rl = 0;
	b->next = ds->free_head;
	ds->free_head = id;
	ds->used--;
	if (ds->bits && ds->used * 16 < stripe_mask(ds) + 1)
		tmem_blob_resize(t, d, tmem_bits_for(ds->used, ~0ULL));
}

/* Caller holds blob stripe d.  Store len bytes of data as a new blob with
 * one reference: ALLOC_NO_RECORD when no blob record is left; when none
 * is mapped in this process yet, what tmem_alloc_space would say for want
 * of room (a pool without room is full, whatever its records: the put is
 * not told to wait for them), or else ALLOC_RECORD_LATER; otherwise what
 * tmem_alloc_space says. */
enum alloc_outcome tmem_blob_create(struct tmem *t, struct tmem_ctx *c,
				    unsigned pool, unsigned d, uint32_t hash,
				    const void *data, uint32_t len,
				    uint32_t *out)
{
	bool later = false;
	uint32_t id = record_alloc(t, d, &later), loc, *head;
	enum alloc_outcome r;
	struct tmem_blob *b;

	if (!id && later) {
		r = tmem_alloc_outlook(t, c, pool, alloc_size(len));
		return r ? r : ALLOC_RECORD_LATER;
	}
	if (!id)
		return ALLOC_NO_RECORD;
	r = tmem_alloc_space(t, c, pool, alloc_size(len), &loc);
	if (r) {
		record_free(t, d, id);
		return r;
	}
	memcpy(loc_data(t, loc, len), data, len);
	CRASH_POINT(6);
	b = seg_blob(t, id);
	__atomic_store_n(&b->hash, hash, __ATOMIC_RELAXED);
	b->rl = ((len - 1) << 20) | 1;
	alloc_mark(t, loc, len, id);
	head = seg_dbucket(t, d, tmem_dbucket_of(t, d, hash));
	b->next = *head;
	/* The location last: a record with loc set is a blob. */
	__atomic_store_n(&b->loc, loc, __ATOMIC_RELEASE);
	*head = id;
	tmem_gauge(t, pool, G_BLOBS, 1);
	tmem_gauge(t, pool, G_COMPRESSED, len);
	if (len == TMEM_PAGE_SIZE)
		tmem_gauge(t, pool, G_RAW, 1);
	if (seg_dstripe(t, d)->used > (TMEM_LOAD << seg_dstripe(t, d)->bits))
		tmem_blob_resize(t, d, seg_dstripe(t, d)->bits + 1);
	*out = id;
	return ALLOC_OK;
}

/* Caller holds the blob's stripe.  Take the blob off its chain: true, or
 * false when it is not there (a damaged count or chain; the walk is
 * bounded as tmem_blob_find's), and the record must then not be used
 * again before a repair: a chain may still lead to it, and a record
 * linked twice makes a loop. */
bool tmem_blob_unlink_chain(struct tmem *t, uint32_t id)
{
	struct tmem_blob *b = seg_blob(t, id);
	unsigned d = blob_stripe(t, id);
	struct tmem_stripe *ds = seg_dstripe(t, d);
	uint64_t steps = 0, most = ds->used + 1ULL;
	uint32_t *link;

	if (!stripe_sound(ds, t->geo->dbuckets_per_stripe))
		return false;
	link = seg_dbucket(t, d, tmem_dbucket_of(t, d, blob_hash(b)));
	while (*link) {
		if (*link == id) {
			*link = b->next;
			b->next = 0;
			return true;
		}
		if (!chain_link_valid(t, d, *link) || ++steps > most)
			return false;
		link = &seg_blob(t, *link)->next;
	}
	return false;
}

/* One entry (or pending put) naming a doomed blob is gone.  The count
 * never wraps: a sweep that read it high must not spin for ever. */
static void ghosts_dec(struct tmem *t)
{
	uint64_t n = atomic_load(&t->hdr->ghosts);

	while (n && !atomic_compare_exchange_weak(&t->hdr->ghosts, &n, n - 1))
		;
}

/* Caller holds the blob's stripe.  Drop one reference; the last one frees
 * the blob and its space (a doomed blob has no space left to free).  Every
 * reference a doomed blob still had was counted in ghosts when it was
 * doomed (under this lock, and no reference is taken after), so each one
 * dropped here is counted off: ghosts stays the number of references to
 * doomed cache blobs, whoever drops them (get, put, flush, sweep,
 * destroy).  A swap blob is doomed only by a repair that found its
 * location unsound, and is not counted. */
void tmem_blob_unref_locked(struct tmem *t, uint32_t id)
{
	struct tmem_blob *b = seg_blob(t, id);
	uint32_t loc = b->loc, len = blob_len(b);
	unsigned owner;
	bool unlinked;

	/* Only the cache's are counted (tmem_header.ghosts). */
	if (loc == BLOB_LOC_DOOMED && id >= t->geo->nr_blobs / 2)
		ghosts_dec(t);
	if (--b->rl & BLOB_REFS_MASK)
		return;
	if (loc == BLOB_LOC_DOOMED) {
		record_free(t, blob_stripe(t, id), id);
		return;
	}
	if (!tmem_blob_placed(t, id, b)) {
		/* A damaged location or length: where its space is, is not
		 * known, so nothing is released; the record stays as it is,
		 * with no reference, for the repair this asks for. */
		tmem_repair_ask(t, blob_stripe(t, id) / TMEM_HALF);
		return;
	}
	unlinked = tmem_blob_unlink_chain(t, id);
	/* Mark the space dead so that walkers can step over it.  Its bytes
	 * are charged to the sub-pool of its chunk, which may not be the
	 * entry's (TMEM_DEDUP_POOL). */
	alloc_mark(t, loc, len, 0);
	owner = seg_chunk(t, loc_chunk(loc))->pool;
	tmem_gauge(t, owner, G_BLOBS, -1);
	tmem_gauge(t, owner, G_COMPRESSED, -(int64_t)len);
	if (len == TMEM_PAGE_SIZE)
		tmem_gauge(t, owner, G_RAW, -1);
	if (unlinked) {
		record_free(t, blob_stripe(t, id), id);
	} else {
		/* Off the free list until the repair (asked for): a free
		 * record (to lookups, and to the repair, which files it)
		 * that nothing allocates. */
		__atomic_store_n(&b->loc, BLOB_LOC_FREE, __ATOMIC_RELEASE);
		b->rl = 0;
		tmem_repair_ask(t, blob_stripe(t, id) / TMEM_HALF);
	}
	CRASH_POINT(7);
	tmem_alloc_release(t, loc, alloc_size(len));
}

void tmem_blob_unref(struct tmem *t, uint32_t id)
{
	struct tmem_stripe *ds = seg_dstripe(t, blob_stripe(t, id));

	tmem_lock(t, &ds->lock);
	tmem_blob_unref_locked(t, id);
	tmem_unlock(&ds->lock);
}
