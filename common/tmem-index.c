/* tmem: the index — (pool, object, index) to what is stored.
 *
 * A hash table split into stripes, each with its own lock, buckets, entry
 * records and free list (records of stripe s are s, s + S, s + 2S, ... so
 * that memory grows evenly).  Persistent and ephemeral sub-pools hash into
 * disjoint halves of the stripes.  An entry holds a zero or same-filled
 * pattern itself, or one reference on a blob.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tmem-internal.h"

unsigned tmem_key_stripe(enum tmem_kind kind, unsigned pool, uint64_t object,
			 uint64_t index, uint64_t *bucket)
{
	uint64_t key[3] = {pool, object, index};
	uint64_t h = XXH3_64bits(key, sizeof key);

	*bucket = h >> 32;
	return kind_stripe(kind, h);
}

/* Caller holds index stripe s.  Returns the entry (0: none) and, in
 * *linkp, the link that points at it (or where a new one would go). */
uint32_t tmem_index_find(struct tmem *t, unsigned s, uint64_t bucket,
			 unsigned pool, uint64_t object, uint64_t index,
			 uint32_t **linkp)
{
	uint32_t *link =
		seg_ibucket(t, s, bucket & stripe_mask(seg_istripe(t, s)));

	*linkp = link;
	while (*link) {
		struct tmem_entry *en = seg_entry(t, *link);

		if (en->index == index && en->object == object &&
		    en->pool == pool) {
			*linkp = link;
			return *link;
		}
		link = &en->next;
	}
	return 0;
}

/* Bucket bits for a table of used records: at most two per bucket. */
unsigned tmem_bits_for(uint64_t used, uint64_t max_buckets)
{
	unsigned bits = 0;

	while ((2ULL << bits) < used && (1ULL << bits) < max_buckets)
		bits++;
	return bits;
}

/* Caller holds index stripe s: rehash it into 1 << bits buckets. */
void tmem_index_resize(struct tmem *t, unsigned s, unsigned bits)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t old = stripe_mask(is) + 1, nb = 1ULL << bits, b;
	uint32_t all = 0, e, next;

	if (bits == is->bits || nb > t->geo->ibuckets_per_stripe)
		return;
	for (b = 0; b < old; b++) {
		for (e = *seg_ibucket(t, s, b); e; e = next) {
			next = seg_entry(t, e)->next;
			seg_entry(t, e)->next = all;
			all = e;
		}
		*seg_ibucket(t, s, b) = 0;
	}
	for (b = old; b < nb; b++)
		*seg_ibucket(t, s, b) = 0;
	is->bits = bits;
	for (e = all; e; e = next) {
		struct tmem_entry *en = seg_entry(t, e);
		uint64_t bucket;
		uint32_t *head;

		next = en->next;
		tmem_key_stripe((enum tmem_kind)seg_pool(t, en->pool)->kind,
				en->pool, en->object, en->index, &bucket);
		head = seg_ibucket(t, s, bucket & stripe_mask(is));
		en->next = *head;
		*head = e;
	}
}

/* Caller holds index stripe s: put entry e at the head of its bucket. */
void tmem_index_link(struct tmem *t, unsigned s, uint64_t bucket, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint32_t *head = seg_ibucket(t, s, bucket & stripe_mask(is));

	seg_entry(t, e)->next = *head;
	*head = e;
	if (is->used > (2ULL << is->bits))
		tmem_index_resize(t, s, is->bits + 1);
}

/* Caller holds index stripe s. */
int tmem_index_alloc(struct tmem *t, unsigned s, uint32_t *out)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint32_t e = is->free_head;

	if (e) {
		is->free_head = seg_entry(t, e)->next;
	} else {
		if (is->bump >= t->geo->nr_entries / TMEM_NR_STRIPES)
			return -ENOMEM;
		e = rec_id(t->geo->nr_entries, s, is->bump++);
	}
	seg_entry(t, e)->next = 0;
	is->used++;
	*out = e;
	return 0;
}

/* Caller holds the entry's index stripe.  Give up what the entry holds. */
void tmem_entry_release(struct tmem *t, struct tmem_entry *en)
{
	switch (en->type) {
	case ENTRY_ZERO:
		tmem_gauge(t, en->pool, G_ZERO, -1);
		break;
	case ENTRY_SAME:
		tmem_gauge(t, en->pool, G_SAME, -1);
		break;
	case ENTRY_BLOB:
		tmem_blob_unref(t, (uint32_t)en->value, en->pool);
		break;
	}
	if (en->type != ENTRY_FREE)
		tmem_gauge(t, en->pool, G_PAGES, -1);
}

/* Caller holds index stripe s; *link points at e. */
void tmem_index_remove(struct tmem *t, unsigned s, uint32_t *link, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	struct tmem_entry *en = seg_entry(t, e);

	*link = en->next;
	CRASH_POINT(11);
	tmem_entry_release(t, en);
	__atomic_store_n(&en->type, ENTRY_FREE, __ATOMIC_RELEASE);
	en->next = is->free_head;
	is->free_head = e;
	is->used--;
	/* Shrink lazily (a quarter of the growth load) so that a stripe
	 * hovering at a boundary does not rehash on every put and flush. */
	if (is->bits && is->used < (1ULL << is->bits) / 8)
		tmem_index_resize(t, s, tmem_bits_for(is->used, ~0ULL));
}

static bool entry_is_ghost(struct tmem *t, const struct tmem_entry *en)
{
	return en->type == ENTRY_BLOB &&
	       __atomic_load_n(&seg_blob(t, (uint32_t)en->value)->loc,
			       __ATOMIC_ACQUIRE) == BLOB_LOC_DOOMED;
}

/* Caller holds index stripe s.  Remove a ghost entry if its blob stripe
 * is free right now: sweeps never wait. */
static bool ghost_drop(struct tmem *t, unsigned s, uint32_t *link, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	struct tmem_entry *en = seg_entry(t, e);
	uint32_t id = (uint32_t)en->value;
	struct tmem_stripe *ds = seg_dstripe(t, blob_stripe(t, id));

	if (!tmem_trylock(t, &ds->lock))
		return false;
	*link = en->next;
	tmem_blob_unref_locked(t, id, en->pool);
	tmem_unlock(&ds->lock);
	tmem_gauge(t, en->pool, G_PAGES, -1);
	__atomic_store_n(&en->type, ENTRY_FREE, __ATOMIC_RELEASE);
	en->next = is->free_head;
	is->free_head = e;
	is->used--;
	return true;
}

/* Remove the entries a predicate picks from one stripe. */
static uint64_t stripe_drop(struct tmem *t, unsigned s, int mode, unsigned pool,
			    uint64_t object)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t nb, b, n = 0;

	/* Sweeps are opportunistic: never wait for an ephemeral stripe (a
	 * stopped cache process may hold it). */
	if (mode == 2) {
		if (!tmem_trylock(t, &is->lock))
			return 0;
	} else {
		tmem_lock(t, &is->lock);
	}
	if (is->used == 0) {
		tmem_unlock(&is->lock);
		return 0;
	}
	nb = stripe_mask(is) + 1;
	for (b = 0; b < nb; b++) {
		uint32_t *link = seg_ibucket(t, s, b);

		while (*link) {
			struct tmem_entry *en = seg_entry(t, *link);
			bool drop;

			if (mode == 2) {
				if (entry_is_ghost(t, en) &&
				    ghost_drop(t, s, link, *link)) {
					n++;
					continue;
				}
				drop = false;
			} else
				drop = en->pool == pool &&
				       (mode == 0 || en->object == object);
			if (drop) {
				tmem_index_remove(t, s, link, *link);
				n++;
			} else {
				link = &en->next;
			}
		}
	}
	/* After a bulk removal, exactly what is left needs. */
	tmem_index_resize(t, s, tmem_bits_for(is->used, ~0ULL));
	tmem_unlock(&is->lock);
	return n;
}

/* Drop every entry of a pool (all_objects) or of one object of it. */
void tmem_index_drop_where(struct tmem *t, unsigned pool, bool all_objects,
			   uint64_t object)
{
	unsigned half = TMEM_NR_STRIPES / 2, s;
	unsigned first = seg_pool(t, pool)->kind == TMEM_EPHEMERAL ? half : 0;

	for (s = first; s < first + half; s++)
		stripe_drop(t, s, all_objects ? 0 : 1, pool, object);
	for (s = first; s < first + half; s++)
		tmem_blob_stripe_fit(t, s);
}

/* Remove entries that still name evicted blobs. */
void tmem_index_sweep_ghosts(struct tmem *t)
{
	uint64_t n = 0;
	unsigned s;

	for (s = TMEM_NR_STRIPES / 2; s < TMEM_NR_STRIPES; s++)
		n += stripe_drop(t, s, 2, 0, 0);
	if (n >= atomic_load(&t->hdr->ghosts))
		atomic_store(&t->hdr->ghosts, 0);
	else
		atomic_fetch_sub(&t->hdr->ghosts, n);
}
