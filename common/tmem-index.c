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

#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-stats-internal.h"

unsigned tmem_key_stripe(enum tmem_kind kind, unsigned pool, uint64_t object,
			 uint64_t index, uint64_t *bucket)
{
	uint64_t key[3] = {pool, object, index};
	uint64_t h = XXH3_64bits(key, sizeof key);

	*bucket = h >> 32;
	return kind_stripe(kind, group_hash(kind, pool, (uint32_t)h));
}

uint32_t tmem_entry_check(uint64_t object, uint64_t index, uint32_t value,
			  uint32_t bhash)
{
	uint64_t v[3] = {object, index, (uint64_t)value << 32 | bhash};

	return (uint32_t)XXH3_64bits_withSeed(v, sizeof v, 0x746d656d);
}

bool tmem_blob_sane(struct tmem *t, const struct tmem_blob *b)
{
	uint32_t loc = __atomic_load_n(&b->loc, __ATOMIC_RELAXED);
	uint32_t len = blob_len(b);

	if (loc < 2 || len > TMEM_PAGE_SIZE)
		return false;
	return loc_chunk(loc) < t->geo->nr_chunks &&
	       (uint64_t)loc_off(loc) + alloc_size(len) <= TMEM_CHUNK_SIZE;
}

bool tmem_blob_placed(struct tmem *t, uint32_t id, const struct tmem_blob *b)
{
	uint32_t loc = __atomic_load_n(&b->loc, __ATOMIC_RELAXED), c;

	if (!tmem_blob_sane(t, b))
		return false;
	c = loc_chunk(loc);
	/* Never a chunk that holds nothing: its pages may be punched, and
	 * reading one would fault memory in. */
	if (c >= __atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED) ||
	    !chunk_in_use(SL_STATE(atomic_load(&seg_chunk(t, c)->sl))))
		return false;
	if (blob_len(b) != TMEM_PAGE_SIZE)
		return !seg_chunk(t, c)->raw &&
		       __atomic_load_n(loc_hdr(t, loc), __ATOMIC_ACQUIRE) == id;
	return seg_chunk(t, c)->raw && loc_off(loc) % TMEM_PAGE_SIZE == 0 &&
	       __atomic_load_n(seg_rawid(t, c, loc_off(loc) / TMEM_PAGE_SIZE),
			       __ATOMIC_ACQUIRE) == id;
}

bool tmem_entry_sound(struct tmem *t, const struct tmem_entry *en)
{
	unsigned pool = entry_pool(en);
	uint32_t bhash = 0, id;

	if (entry_type(en) == ENTRY_FREE)
		return false;
	if (entry_type(en) == ENTRY_BLOB) {
		id = entry_payload(en);
		if (!blob_id_valid(t, id,
				   (enum tmem_kind)seg_pool(t, pool)->kind))
			return false;
		bhash = __atomic_load_n(&seg_blob(t, id)->hash,
					__ATOMIC_RELAXED);
	}
	return en->check ==
	       tmem_entry_check(en->object, en->index, en->value, bhash);
}

uint32_t tmem_index_find_checked(struct tmem *t, unsigned s, uint64_t bucket,
				 unsigned pool, uint64_t object, uint64_t index,
				 uint32_t **linkp, uint32_t *bad)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint32_t *link;
	uint64_t steps = 0;

	*bad = 0;
	/* Callers take the stripe sound (istripe_lock); kept so that a
	 * damaged count read here is a damaged chain, never a miss. */
	if (!stripe_sound(is, t->geo->ibuckets_per_stripe)) {
		*bad = UINT32_MAX;
		*linkp = seg_ibucket(t, s, 0);
		return 0;
	}
	link = seg_ibucket(t, s, bucket & stripe_mask(is));
	*linkp = link;
	while (*link) {
		struct tmem_entry *en;

		if (!entry_id_valid(t, *link) || ++steps > is->used + 1) {
			*bad = UINT32_MAX;
			return 0;
		}
		en = seg_entry(t, *link);
		if (en->index == index && en->object == object &&
		    entry_pool(en) == pool) {
			*linkp = link;
			return *link;
		}
		link = &en->next;
	}
	/* A miss: was one of these entries this key's before damage? */
	for (link = *linkp; *link; link = &seg_entry(t, *link)->next) {
		if (!tmem_entry_sound(t, seg_entry(t, *link))) {
			*bad = *link;
			break;
		}
	}
	return 0;
}

/* Caller holds the entry's index stripe.  Whether a chained entry may
 * mark where a changed link cut its chain: a free record (on no chain), or
 * one that fails its check and that no repair has relinked since. */
static bool entry_suspect(struct tmem *t, const struct tmem_entry *en)
{
	if (entry_type(en) == ENTRY_FREE)
		return true;
	return !(en->flags & ENTRY_F_RELINKED) && !tmem_entry_sound(t, en);
}

bool tmem_index_chain_suspect(struct tmem *t, unsigned s, uint64_t bucket)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t steps = 0;
	uint32_t e;

	if (!stripe_sound(is, t->geo->ibuckets_per_stripe))
		return true;
	for (e = *seg_ibucket(t, s, bucket & stripe_mask(is)); e;
	     e = seg_entry(t, e)->next) {
		const struct tmem_entry *en;

		if (!entry_id_valid(t, e) || ++steps > is->used + 1)
			return true;
		en = seg_entry(t, e);
		if (entry_suspect(t, en))
			return true;
	}
	return false;
}

/* Caller holds index stripe s.  Returns the entry (0: none) and, in
 * *linkp, the link that points at it (or where a new one would go). */
uint32_t tmem_index_find(struct tmem *t, unsigned s, uint64_t bucket,
			 unsigned pool, uint64_t object, uint64_t index,
			 uint32_t **linkp)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint32_t *link;
	uint64_t steps = 0;

	/* Callers take the stripe sound (istripe_lock); a damaged count
	 * would stay in the table all the same. */
	uint64_t mask = stripe_buckets(is, t->geo->ibuckets_per_stripe) - 1;

	link = seg_ibucket(t, s, bucket & mask);
	*linkp = link;
	while (*link) {
		struct tmem_entry *en;

		/* A damaged chain ends here (see tmem_index_find_checked). */
		if (!entry_id_valid(t, *link) || ++steps > is->used + 1)
			return 0;
		en = seg_entry(t, *link);

		if (en->index == index && en->object == object &&
		    entry_pool(en) == pool) {
			*linkp = link;
			return *link;
		}
		link = &en->next;
	}
	return 0;
}

/* Bucket bits for a table of used records: at most TMEM_LOAD (4) per
 * bucket, up to max_buckets. */
unsigned tmem_bits_for(uint64_t used, uint64_t max_buckets)
{
	unsigned bits = 0;

	while ((TMEM_LOAD << bits) < used && (1ULL << bits) < max_buckets)
		bits++;
	return bits;
}

/* Whether index stripe s's first nb chains are whole: every link within
 * the table, and no more links than it has records (a loop).  A resize
 * moves records only then. */
static bool chains_sound(struct tmem *t, unsigned s, uint64_t nb)
{
	uint64_t b, steps = 0, most = seg_istripe(t, s)->used + 1ULL;
	uint32_t e;

	for (b = 0; b < nb; b++)
		for (e = *seg_ibucket(t, s, b); e; e = seg_entry(t, e)->next)
			if (!entry_id_valid(t, e) || ++steps > most)
				return false;
	return true;
}

/* Caller holds index stripe s: rehash it into 1 << bits buckets (at most
 * the whole array: a stripe with more than its share has longer chains).
 * A stripe with a damaged count is left for the repair: its chains are
 * not where the count says, and the buckets past it hold old heads; so
 * is one whose chains are damaged (chains_sound), and it asks for it. */
void tmem_index_resize(struct tmem *t, unsigned s, unsigned bits)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t old = stripe_buckets(is, t->geo->ibuckets_per_stripe), nb, b;
	uint32_t all = 0, e, next;

	bits = bits_within(bits, t->geo->ibuckets_per_stripe);
	nb = 1ULL << bits;
	if (bits == is->bits || !stripe_sound(is, t->geo->ibuckets_per_stripe))
		return;
	if (!chains_sound(t, s, old)) {
		tmem_repair_ask(t, s / TMEM_HALF);
		return;
	}
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
	stripe_set_bits(is, bits);
	for (e = all; e; e = next) {
		struct tmem_entry *en = seg_entry(t, e);
		uint64_t bucket;
		uint32_t *head;

		next = en->next;
		tmem_key_stripe(
			(enum tmem_kind)seg_pool(t, entry_pool(en))->kind,
			entry_pool(en), en->object, en->index, &bucket);
		head = seg_ibucket(t, s, bucket & stripe_mask(is));
		en->next = *head;
		*head = e;
	}
}

/* Caller holds index stripe s: put entry e at the head of its bucket. */
void tmem_index_link(struct tmem *t, unsigned s, uint64_t bucket, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t mask = stripe_buckets(is, t->geo->ibuckets_per_stripe) - 1;
	uint32_t *head = seg_ibucket(t, s, bucket & mask);

	seg_entry(t, e)->next = *head;
	*head = e;
	if (is->bits < 32 && is->used > (TMEM_LOAD << is->bits))
		tmem_index_resize(t, s, is->bits + 1);
}

/* Whether a request may take record n of a kind's half of a table (blobs,
 * or the index's entries): one mapped in this process.  While a grower
 * runs, it faults them in ahead of use (tmem-grower.c fault_ahead; its
 * mark never passes a record it could not map, for want of memory or of
 * room in /dev/shm) and a request must not fault.  Without one, or with
 * put_may_grow (a put may fault a chunk in, as well a record), a put
 * may (record_backed). */
static bool record_ready(struct tmem *t, bool blobs, unsigned kind, uint64_t n)
{
	return !t->grower_running || t->may_grow ||
	       n < atomic_load_explicit(&t->ahead[blobs][kind],
					memory_order_acquire);
}

/* Record n was just taken from the bump: in the last half of the records
 * mapped ahead, wake the growers (every 256 records, not each time) so
 * that they map more before puts get to the end (a grower's period is 50
 * ms; fast puts of zero pages take 4,096 records in a few). */
static void record_taken(struct tmem *t, bool blobs, unsigned kind, uint64_t n)
{
	if (t->grower_running && n % 256 == 0 &&
	    n + TMEM_AHEAD_RECORDS / 2 >=
		    atomic_load_explicit(&t->ahead[blobs][kind],
					 memory_order_relaxed))
		tmem_grower_wake(t);
}

/* Caller holds stripe s of the blob table (blobs) or the index.  Take the
 * head of its free list: 0 when it is empty, or (*later) when its record
 * is not mapped in this process yet (another process took it past this
 * one's mark), which is known before the record is read.  The head is
 * checked first: a record of s's half, free (a blob without location, an
 * entry without value).  A damaged one (a changed link, or a record in
 * use) ends the list: the list is dropped, its records lost to allocation
 * until the repair (asked for) files them again. */
uint32_t tmem_free_pop(struct tmem *t, bool blobs, unsigned s, bool *later)
{
	struct tmem_stripe *st = blobs ? seg_dstripe(t, s) : seg_istripe(t, s);
	enum tmem_kind kind = (enum tmem_kind)(s / TMEM_HALF);
	uint64_t half = (blobs ? t->geo->nr_blobs : t->geo->nr_entries) / 2;
	uint32_t id = st->free_head;
	bool free;

	if (!id)
		return 0;
	free = blobs ? blob_id_valid(t, id, kind)
		     : entry_id_valid(t, id) &&
			       (id >= half) == (kind == TMEM_EPHEMERAL);
	if (free && !record_ready(t, blobs, kind, id - kind * half)) {
		*later = true;
		return 0;
	}
	if (free && blobs)
		free = __atomic_load_n(&seg_blob(t, id)->loc,
				       __ATOMIC_RELAXED) == BLOB_LOC_FREE;
	else if (free)
		free = __atomic_load_n(&seg_entry(t, id)->value,
				       __ATOMIC_RELAXED) == 0;
	if (!free) {
		st->free_head = 0;
		tmem_repair_ask(t, kind);
		return 0;
	}
	st->free_head = blobs ? seg_blob(t, id)->next : seg_entry(t, id)->next;
	return id;
}

/* Whether record n of a kind's half may be taken by a process whose
 * records no grower maps ahead (record_ready lets it take any): its page
 * may not be in the segment's file yet, and a first touch on a full
 * /dev/shm would be SIGBUS.  So the first record on a page (or of the
 * half) is taken only once its page is faulted in, before the bump
 * passes it: a record after it on the page is taken only then.  With a
 * grower's mark, record_ready decides alone. */
static bool record_backed(struct tmem *t, bool blobs, unsigned kind, uint64_t n)
{
	uint64_t off = seg_record_off(t, blobs, kind, n);
	size_t size =
		blobs ? sizeof(struct tmem_blob) : sizeof(struct tmem_entry);

	if (t->grower_running && !t->may_grow)
		return true;
	if (n > 1 && off % 4096 >= size)
		return true;
	return tmem_fault_in(t, off, size) == 0;
}

/* Caller holds stripe s.  A new record of s's kind from the shared count,
 * or, when none is left (or none mapped here yet: *later), one another
 * stripe has free (only tried). */
uint32_t tmem_record_new(struct tmem *t, bool blobs, unsigned s, bool *later)
{
	unsigned kind = s / TMEM_HALF, i;
	uint64_t half = (blobs ? t->geo->nr_blobs : t->geo->nr_entries) / 2;
	_Atomic uint32_t *bump =
		blobs ? &t->hdr->bbump[kind] : &t->hdr->ebump[kind];
	uint32_t n = atomic_load(bump), id = 0;

	while (n < half) {
		if (!record_ready(t, blobs, kind, n) ||
		    !record_backed(t, blobs, kind, n)) {
			*later = true;
			break;
		}
		if (atomic_compare_exchange_weak(bump, &n, n + 1)) {
			record_taken(t, blobs, kind, n);
			return (uint32_t)(kind * half) + n;
		}
	}
	for (i = 1; i < TMEM_HALF && !id; i++) {
		unsigned o = kind * TMEM_HALF + (s % TMEM_HALF + i) % TMEM_HALF;
		struct tmem_stripe *os =
			blobs ? seg_dstripe(t, o) : seg_istripe(t, o);

		if (!tmem_trylock(t, &os->lock))
			continue;
		id = tmem_free_pop(t, blobs, o, later);
		tmem_unlock(&os->lock);
	}
	return id;
}

/* Caller holds index stripe s.  ALLOC_OK and *out; ALLOC_RECORD_LATER when
 * the records left are not mapped in this process yet; or
 * ALLOC_NO_RECORD. */
enum alloc_outcome tmem_index_alloc(struct tmem *t, unsigned s, uint32_t *out)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	bool later = false;
	uint32_t e = tmem_free_pop(t, false, s, &later);

	if (!e)
		e = tmem_record_new(t, false, s, &later);
	if (!e)
		return later ? ALLOC_RECORD_LATER : ALLOC_NO_RECORD;
	seg_entry(t, e)->next = 0;
	is->used++;
	*out = e;
	return ALLOC_OK;
}

/* Caller holds the entry's index stripe.  Mark a persistent sub-pool's
 * page as read back (once), holding len payload bytes. */
void tmem_entry_read_mark(struct tmem *t, struct tmem_entry *en, uint32_t len)
{
	unsigned pool = entry_pool(en);

	if ((en->flags & ENTRY_F_READ) ||
	    seg_pool(t, pool)->kind != TMEM_PERSISTENT)
		return;
	en->flags |= ENTRY_F_READ | len << ENTRY_F_READ_SHIFT;
	tmem_gauge(t, pool, G_READ, 1);
	tmem_gauge(t, pool, G_READ_BYTES, len);
}

/* Caller holds the entry's index stripe.  Take a read-back mark off the
 * gauges (the entry is going, or being rewritten). */
void tmem_entry_read_forget(struct tmem *t, const struct tmem_entry *en)
{
	if (!(en->flags & ENTRY_F_READ))
		return;
	tmem_gauge(t, entry_pool(en), G_READ, -1);
	tmem_gauge(t, entry_pool(en), G_READ_BYTES,
		   -(int64_t)(en->flags >> ENTRY_F_READ_SHIFT));
}

/* Caller holds the entry's index stripe.  Give up what the entry holds. */
void tmem_entry_release(struct tmem *t, struct tmem_entry *en)
{
	unsigned pool = entry_pool(en);

	tmem_entry_read_forget(t, en);

	switch (entry_type(en)) {
	case ENTRY_ZERO:
		tmem_gauge(t, pool, G_ZERO, -1);
		break;
	case ENTRY_SAME:
		tmem_gauge(t, pool, G_SAME, -1);
		break;
	case ENTRY_BLOB:
		tmem_blob_unref(t, entry_payload(en));
		break;
	}
	if (entry_type(en) != ENTRY_FREE)
		tmem_gauge(t, pool, G_PAGES, -1);
}

/* Caller holds index stripe s; *link points at e.  Never rehashes, so
 * that a walk over the buckets can go on from link. */
static void index_unlink(struct tmem *t, unsigned s, uint32_t *link, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	struct tmem_entry *en = seg_entry(t, e);

	*link = en->next;
	CRASH_POINT(11);
	/* A damaged entry's payload is not trusted: what it names may be
	 * another key's blob.  Its reference is left for repair. */
	if (entry_type(en) == ENTRY_FREE || tmem_entry_sound(t, en)) {
		tmem_entry_release(t, en);
	} else {
		tmem_entry_read_forget(t, en);
		tmem_gauge(t, entry_pool(en), G_PAGES, -1);
	}
	__atomic_store_n(&en->value, 0, __ATOMIC_RELEASE);
	en->next = is->free_head;
	is->free_head = e;
	is->used--;
}

/* Caller holds index stripe s; *link points at e.  May rehash the stripe:
 * links into it are stale afterwards. */
void tmem_index_remove(struct tmem *t, unsigned s, uint32_t *link, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);

	index_unlink(t, s, link, e);
	/* Shrink lazily (a quarter of the growth load) so that a stripe
	 * hovering at a boundary does not rehash on every put and flush. */
	if (is->bits && is->used * 16 < stripe_mask(is) + 1)
		tmem_index_resize(t, s, tmem_bits_for(is->used, ~0ULL));
}

/* A damaged entry is never taken for a ghost: its blob id may be out of
 * the table, or another key's. */
static bool entry_is_ghost(struct tmem *t, const struct tmem_entry *en)
{
	return entry_type(en) == ENTRY_BLOB &&
	       blob_id_valid(
		       t, entry_payload(en),
		       (enum tmem_kind)seg_pool(t, entry_pool(en))->kind) &&
	       __atomic_load_n(&seg_blob(t, entry_payload(en))->loc,
			       __ATOMIC_ACQUIRE) == BLOB_LOC_DOOMED &&
	       tmem_entry_sound(t, en);
}

/* Caller holds index stripe s.  Remove a ghost entry if its blob stripe
 * is free right now: sweeps never wait. */
static bool ghost_drop(struct tmem *t, unsigned s, uint32_t *link, uint32_t e)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	struct tmem_entry *en = seg_entry(t, e);
	uint32_t id = entry_payload(en);
	struct tmem_stripe *ds = seg_dstripe(t, blob_stripe(t, id));

	if (!tmem_trylock(t, &ds->lock))
		return false;
	*link = en->next;
	tmem_blob_unref_locked(t, id);
	tmem_unlock(&ds->lock);
	tmem_entry_read_forget(t, en);
	tmem_gauge(t, entry_pool(en), G_PAGES, -1);
	__atomic_store_n(&en->value, 0, __ATOMIC_RELEASE);
	en->next = is->free_head;
	is->free_head = e;
	is->used--;
	return true;
}

/* What stripe_drop removes. */
enum drop_what {
	DROP_POOL,   /* every entry of a sub-pool */
	DROP_OBJECT, /* every entry of one object of a sub-pool */
	DROP_GHOSTS, /* entries naming doomed blobs, whose stripes are free */
};

/* Remove the entries a predicate picks from one stripe: true, or false
 * when a damaged chain (a link out of the table, more links than the
 * stripe has records, or, for a sub-pool's or an object's drop, a
 * suspect entry: entry_suspect) may hide some, and the repair is asked
 * for.  A damaged bucket count is walked past: every chain is within the
 * array (a resize empties the buckets past the count it leaves). */
static bool stripe_drop(struct tmem *t, unsigned s, enum drop_what what,
			unsigned pool, uint64_t object)
{
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t max = t->geo->ibuckets_per_stripe;
	uint64_t nb, b, steps = 0, most;
	bool sound, whole = true, suspect = false;

	/* Sweeps are opportunistic: never wait for an ephemeral stripe (a
	 * stopped cache process may hold it). */
	if (what == DROP_GHOSTS) {
		if (!tmem_trylock(t, &is->lock))
			return true;
	} else {
		tmem_lock(t, &is->lock);
	}
	sound = stripe_sound(is, max);
	nb = sound ? stripe_buckets(is, max) : max;
	most = is->used + 1ULL;
	for (b = 0; b < nb && whole; b++) {
		uint32_t *link = seg_ibucket(t, s, b);

		while (*link) {
			struct tmem_entry *en;
			bool drop;

			if (!entry_id_valid(t, *link) || ++steps > most) {
				whole = false;
				break;
			}
			en = seg_entry(t, *link);
			if (what == DROP_GHOSTS) {
				if (entry_is_ghost(t, en) &&
				    ghost_drop(t, s, link, *link))
					continue;
				drop = false;
			} else {
				/* A damaged entry may mark a cut; a free
				 * record is on a free list already. */
				suspect |= entry_suspect(t, en);
				drop = entry_type(en) != ENTRY_FREE &&
				       entry_pool(en) == pool &&
				       (what == DROP_POOL ||
					en->object == object);
			}
			/* Not tmem_index_remove: a shrink would rehash
			 * entries into buckets already walked, and they
			 * would survive the sweep. */
			if (drop)
				index_unlink(t, s, link, *link);
			else
				link = &en->next;
		}
	}
	whole = whole && !suspect;
	if (!sound || !whole)
		tmem_repair_ask(t, s / TMEM_HALF);
	else /* after a bulk removal, exactly what is left needs */
		tmem_index_resize(t, s, tmem_bits_for(is->used, ~0ULL));
	tmem_unlock(&is->lock);
	return whole;
}

/* Drop every entry of a pool (all_objects) or of one object of it: true,
 * or false when damage may have hidden some (stripe_drop), and the
 * repair of the pool's half is asked for.  A persistent sub-pool's
 * entries are all on its group's stripes (tmem_key_stripe, and the
 * repair links them there): only those are waited for, so that a
 * server of another group stopped holding one of its own stripes holds
 * up no drop here.  Blob stripes are only tried. */
bool tmem_index_drop_where(struct tmem *t, unsigned pool, bool all_objects,
			   uint64_t object)
{
	unsigned half = TMEM_NR_STRIPES / 2, s, first, n;
	bool whole = true;

	if (seg_pool(t, pool)->kind == TMEM_EPHEMERAL) {
		first = half;
		n = half;
	} else {
		first = pool_group(pool) * TMEM_GROUP_STRIPES;
		n = TMEM_GROUP_STRIPES;
	}
	for (s = first; s < first + n; s++)
		whole &=
			stripe_drop(t, s, all_objects ? DROP_POOL : DROP_OBJECT,
				    pool, object);
	first = seg_pool(t, pool)->kind == TMEM_EPHEMERAL ? half : 0;
	for (s = first; s < first + half; s++)
		tmem_blob_stripe_fit(t, s);
	return whole;
}

/* Remove entries that still name evicted blobs. */
void tmem_index_sweep_ghosts(struct tmem *t)
{
	unsigned s;

	/* Each entry dropped counts itself off (tmem_blob_unref_locked). */
	for (s = TMEM_NR_STRIPES / 2; s < TMEM_NR_STRIPES; s++)
		stripe_drop(t, s, DROP_GHOSTS, 0, 0);
}
