/* tmem: consistency check and repair.
 *
 * Both work one half of the pool at a time (a kind's stripes, records and
 * chunks; tmem-layout.h), stopping that half's world (the header locks
 * and the half's stripes, in order), and recompute what its derived
 * structures should be from the primary records: an entry is
 * stored if its type is set and what it names is sound; a blob is live if
 * its location is set and the chunk header there names it back; a chunk's
 * state and owner say whether it is free, open, closed or in someone's
 * hands.  From those follow refcounts (plus the pending references live
 * processes hold), bucket chains, free lists, live bytes per chunk and
 * every gauge.  Check compares and reports each difference (-EUCLEAN);
 * repair rewrites the derived structures, frees what nobody references
 * and hands dead processes' chunks back.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cleanup.h"
#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

struct fsck {
	struct tmem *t;
	bool repair;
	unsigned halves; /* the one half (TMEM_HALF_BIT) it works on */
	unsigned problems;
	bool alive[TMEM_MAX_SLOTS];
	uint8_t *bstate; /* per blob: 0 free, 1 doomed, 2 live */
	uint32_t *brefs; /* references found */
	uint32_t *clive; /* live bytes found per chunk */
	uint64_t *locs;	 /* repair: loc << 32 | id of every live blob */
	uint32_t locs_cap;
	bool incomplete; /* repair: due again (see scan_layout) */
	int64_t g[TMEM_MAX_POOLS][G_NR];
	uint64_t ghosts;
};

#define PROBLEM(f, ...)                                                \
	do {                                                           \
		(f)->problems++;                                       \
		if ((f)->problems <= 20)                               \
			tmem_log((f)->t, TMEM_LOG_ERROR, __VA_ARGS__); \
	} while (0)

static bool kind_mine(struct fsck *f, unsigned kind)
{
	return (f->halves & TMEM_HALF_BIT(kind)) != 0;
}

/* The half of a sub-pool: its kind's. */
static unsigned pool_half(struct tmem *t, unsigned pool)
{
	return TMEM_HALF_BIT(seg_pool(t, pool)->kind == TMEM_EPHEMERAL
				     ? TMEM_EPHEMERAL
				     : TMEM_PERSISTENT);
}

/* Whether a chunk that holds blobs (in use, or being freed) is of the
 * half f works on: its sub-pool's.  One with no sound sub-pool is. */
static bool chunk_mine(struct fsck *f, const struct tmem_chunk *k)
{
	return k->pool >= TMEM_MAX_POOLS ||
	       (pool_half(f->t, k->pool) & f->halves) != 0;
}

static bool owner_alive(struct fsck *f, unsigned st, unsigned owner)
{
	unsigned slot;

	if (owner == 0)
		return false;
	slot = st == CHUNK_OPEN ? (owner - 1) / TMEM_MAX_CTX : owner - 1;
	return slot < TMEM_MAX_SLOTS && f->alive[slot];
}

/* Records [first, first + count) of a kind's half were ever handed out. */
static void kind_range(struct tmem *t, bool blobs, unsigned kind,
		       uint32_t *first, uint32_t *end)
{
	uint64_t half = (blobs ? t->geo->nr_blobs : t->geo->nr_entries) / 2;
	uint32_t n = blobs ? atomic_load(&t->hdr->bbump[kind])
			   : atomic_load(&t->hdr->ebump[kind]);

	if (n > half)
		n = (uint32_t)half;
	*first = (uint32_t)(kind * half) + (kind == 0);
	*end = (uint32_t)(kind * half) + n;
}

/* Pass 1: which blob records hold a sound blob. */
static void scan_blobs(struct fsck *f)
{
	struct tmem *t = f->t;
	uint32_t id, first, end;
	unsigned kind;

	for (kind = 0; kind < 2; kind++) {
		if (!kind_mine(f, kind))
			continue;
		kind_range(t, true, kind, &first, &end);
		for (id = first; id < end; id++) {
			struct tmem_blob *b = seg_blob(t, id);
			uint32_t c, off;
			struct tmem_chunk *k;

			if (b->loc == BLOB_LOC_FREE)
				continue;
			if (b->loc == BLOB_LOC_DOOMED) {
				f->bstate[id] = 1;
				continue;
			}
			c = loc_chunk(b->loc);
			if (c == 0 || c >= t->hdr->hole_bump)
				goto bad;
			k = seg_chunk(t, c);
			off = (uint32_t)((((uint64_t)(b->loc - 2))
					  << TMEM_UNIT_SHIFT) &
					 (TMEM_CHUNK_SIZE - 1));
			if (!chunk_in_use(SL_STATE(atomic_load(&k->sl))) ||
			    (blob_len(b) == TMEM_PAGE_SIZE
				     ? !k->raw || off % TMEM_PAGE_SIZE ||
					       *seg_rawid(
						       t, c,
						       off / TMEM_PAGE_SIZE) !=
						       id
				     : k->raw || *loc_hdr(t, b->loc) != id) ||
			    off + alloc_size(blob_len(b)) > k->fill ||
			    seg_pool(t, k->pool)->kind != kind)
				goto bad;
			f->bstate[id] = 2;
			continue;
		bad:
			PROBLEM(f, "blob %u: location %u is not sound", id,
				b->loc);
			if (f->repair) {
				b->loc = BLOB_LOC_DOOMED;
				f->bstate[id] = 1;
			}
		}
	}
}

static bool entry_sound(struct fsck *f, const struct tmem_entry *en)
{
	struct tmem_pool_rec *pr;

	if (entry_type(en) == ENTRY_FREE)
		return false;
	pr = seg_pool(f->t, entry_pool(en));
	/* A sub-pool being destroyed owns its entries until they are
	 * dropped: by its destroyer, or by the swap server's grower it was
	 * handed to (tmem_destroy_serve), which a check may run before.  A
	 * repair frees such a record before it scans the index. */
	if (atomic_load(&pr->state) != POOL_ACTIVE &&
	    atomic_load(&pr->state) != POOL_DESTROYING)
		return false;
	if (entry_type(en) == ENTRY_BLOB)
		return entry_payload(en) > 0 &&
		       entry_payload(en) < f->t->geo->nr_blobs &&
		       f->bstate[entry_payload(en)] != 0;
	return true;
}

/* Pass 2: entries — chains, free lists, references, page gauges. */
static void scan_index(struct fsck *f)
{
	struct tmem *t = f->t;
	uint32_t chained[TMEM_NR_STRIPES] = {0}, sound[TMEM_NR_STRIPES] = {0};
	uint32_t e, n, first, end;
	uint64_t total_free[2] = {0}, nb, b;
	unsigned s, kind;

	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		struct tmem_stripe *is = seg_istripe(t, s);

		if (!kind_mine(f, s / TMEM_HALF))
			continue;
		nb = stripe_mask(is) + 1;
		/* Damaged: a count whose two copies differ, or past the
		 * array (a count of 64 bits or more too, whose mask + 1 is
		 * 0). */
		if (!stripe_sound(is, t->geo->ibuckets_per_stripe)) {
			PROBLEM(f,
				"index stripe %u: a damaged bucket count "
				"(%u bits, sealed %u)",
				s, is->bits, is->seal ^ STRIPE_SEAL);
			/* A check leaves it (its next taker asks for the
			 * repair): a count set right here would hide the
			 * keys of the other buckets, absent to a get.  A
			 * repair empties the whole array. */
			nb = t->geo->ibuckets_per_stripe;
			if (!f->repair)
				continue;
		}
		if (f->repair) {
			/* Rebuilt below from the records. */
			for (b = 0; b < nb; b++)
				*seg_ibucket(t, s, b) = 0;
			stripe_set_bits(is, 0);
			is->free_head = 0;
			is->used = 0;
			continue;
		}
		for (b = 0; b < nb; b++) {
			n = 0;
			for (e = *seg_ibucket(t, s, b); e;
			     e = seg_entry(t, e)->next) {
				struct tmem_entry *en = seg_entry(t, e);
				uint64_t bucket = 0;
				unsigned ks = TMEM_NR_STRIPES;

				if (e >= t->geo->nr_entries ||
				    ++n > t->geo->nr_entries) {
					PROBLEM(f, "index stripe %u: bad chain",
						s);
					break;
				}
				if (entry_sound(f, en))
					ks = tmem_key_stripe(
						(enum tmem_kind)seg_pool(
							t, entry_pool(en))
							->kind,
						entry_pool(en), en->object,
						en->index, &bucket);
				if (ks != s || (bucket & (nb - 1)) != b)
					PROBLEM(f,
						"entry %u: unsound or "
						"misplaced",
						e);
				chained[s]++;
			}
		}
		for (e = is->free_head, n = 0; e; e = seg_entry(t, e)->next) {
			if (e >= t->geo->nr_entries ||
			    ++n > t->geo->nr_entries ||
			    seg_entry(t, e)->value != 0) {
				PROBLEM(f, "index stripe %u: bad free list", s);
				break;
			}
			total_free[s / TMEM_HALF]++;
		}
	}
	/* Every record ever handed out is in use or free. */
	for (kind = 0; kind < 2; kind++) {
		if (!kind_mine(f, kind))
			continue;
		kind_range(t, false, kind, &first, &end);
		for (e = first; e < end; e++) {
			struct tmem_entry *en = seg_entry(t, e);
			uint64_t bucket = 0;

			s = TMEM_NR_STRIPES;
			if (entry_sound(f, en))
				s = tmem_key_stripe((enum tmem_kind)seg_pool(
							    t, entry_pool(en))
							    ->kind,
						    entry_pool(en), en->object,
						    en->index, &bucket);
			if (s / TMEM_HALF != kind) {
				if (en->value != 0) {
					if (!f->repair)
						PROBLEM(f, "entry %u unsound",
							e);
					else
						en->value = 0;
				}
				if (f->repair) {
					struct tmem_stripe *fs = seg_istripe(
						t, kind * TMEM_HALF +
							   e % TMEM_HALF);

					en->next = fs->free_head;
					fs->free_head = e;
				}
				continue;
			}
			sound[s]++;
			f->g[entry_pool(en)][G_PAGES]++;
			if (en->flags & ENTRY_F_READ) {
				f->g[entry_pool(en)][G_READ]++;
				f->g[entry_pool(en)][G_READ_BYTES] +=
					en->flags >> ENTRY_F_READ_SHIFT;
			}
			if (entry_type(en) == ENTRY_ZERO)
				f->g[entry_pool(en)][G_ZERO]++;
			else if (entry_type(en) == ENTRY_SAME)
				f->g[entry_pool(en)][G_SAME]++;
			else {
				f->brefs[entry_payload(en)]++;
				if (f->bstate[entry_payload(en)] == 1 &&
				    kind == TMEM_EPHEMERAL)
					f->ghosts++;
			}
			if (f->repair) {
				/* Every record of the half is relinked: a
				 * damaged entry hides no other any more. */
				if (tmem_entry_sound(t, en))
					en->flags &= ~ENTRY_F_RELINKED;
				else
					en->flags |= ENTRY_F_RELINKED;
				seg_istripe(t, s)->used++;
				tmem_index_link(t, s, bucket, e);
			}
		}
		if (!f->repair) {
			uint64_t in_use = 0;

			for (s = kind * TMEM_HALF; s < (kind + 1) * TMEM_HALF;
			     s++)
				in_use += sound[s];
			if (in_use + total_free[kind] != end - first)
				PROBLEM(f,
					"index kind %u: %llu in use + %llu "
					"free, %u handed out",
					kind, (unsigned long long)in_use,
					(unsigned long long)total_free[kind],
					end - first);
		}
	}
	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		struct tmem_stripe *is = seg_istripe(t, s);

		if (!kind_mine(f, s / TMEM_HALF))
			continue;
		if (f->repair)
			tmem_index_resize(t, s, tmem_bits_for(is->used, ~0ULL));
		else if (chained[s] != sound[s] || is->used != sound[s])
			PROBLEM(f,
				"index stripe %u: %u chained, %u sound, "
				"used %u",
				s, chained[s], sound[s], is->used);
	}
}

/* Pass 3: blobs — references, chains, free lists, chunk live bytes. */
static void scan_blob_refs(struct fsck *f)
{
	struct tmem *t = f->t;
	uint32_t chained[TMEM_NR_STRIPES] = {0}, used[TMEM_NR_STRIPES] = {0};
	uint32_t live[TMEM_NR_STRIPES] = {0};
	uint32_t id, n, first, end;
	uint64_t total_free[2] = {0}, nb, b;
	unsigned s, x, kind;

	/* Pending references of live processes count too. */
	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		if (!f->alive[s])
			continue;
		for (x = 0; x < TMEM_MAX_CTX; x++) {
			/* The other half's change under its stripes; they
			 * are not this half's blobs (bstate 0). */
			id = __atomic_load_n(&seg_slot(t, s)->intent_blob[x],
					     __ATOMIC_RELAXED);
			if (id && id < t->geo->nr_blobs && f->bstate[id])
				f->brefs[id]++;
		}
	}
	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		struct tmem_stripe *ds = seg_dstripe(t, s);

		if (!kind_mine(f, s / TMEM_HALF))
			continue;
		nb = stripe_mask(ds) + 1;
		if (!stripe_sound(ds, t->geo->dbuckets_per_stripe)) {
			PROBLEM(f,
				"blob stripe %u: a damaged bucket count "
				"(%u bits, sealed %u)",
				s, ds->bits, ds->seal ^ STRIPE_SEAL);
			/* As for the index: a check leaves it, a repair
			 * empties the whole array. */
			nb = t->geo->dbuckets_per_stripe;
			if (!f->repair)
				continue;
		}
		if (f->repair) {
			for (b = 0; b < nb; b++)
				*seg_dbucket(t, s, b) = 0;
			stripe_set_bits(ds, 0);
			ds->free_head = 0;
			ds->used = 0;
			continue;
		}
		for (b = 0; b < nb; b++) {
			n = 0;
			for (id = *seg_dbucket(t, s, b); id;
			     id = seg_blob(t, id)->next) {
				if (id >= t->geo->nr_blobs ||
				    ++n > t->geo->nr_blobs ||
				    f->bstate[id] != 2 ||
				    blob_stripe(t, id) != s ||
				    tmem_dbucket_of(
					    t, s, blob_hash(seg_blob(t, id))) !=
					    b) {
					PROBLEM(f, "blob stripe %u: bad chain",
						s);
					break;
				}
				chained[s]++;
			}
		}
		for (id = ds->free_head, n = 0; id;
		     id = seg_blob(t, id)->next) {
			if (id >= t->geo->nr_blobs || ++n > t->geo->nr_blobs ||
			    f->bstate[id] != 0) {
				PROBLEM(f, "blob stripe %u: bad free list", s);
				break;
			}
			total_free[s / TMEM_HALF]++;
		}
	}
	for (kind = 0; kind < 2; kind++) {
		if (!kind_mine(f, kind))
			continue;
		kind_range(t, true, kind, &first, &end);
		for (id = first; id < end; id++) {
			struct tmem_blob *bl = seg_blob(t, id);
			unsigned pool, len;

			if (f->bstate[id] && f->brefs[id] == 0) {
				if (!f->repair) {
					PROBLEM(f, "blob %u: no references",
						id);
				} else {
					f->bstate[id] = 0;
					bl->loc = BLOB_LOC_FREE;
				}
			}
			if (f->bstate[id] == 0) {
				if (f->repair) {
					struct tmem_stripe *fs = seg_dstripe(
						t, kind * TMEM_HALF +
							   id % TMEM_HALF);

					bl->loc = BLOB_LOC_FREE;
					bl->rl = 0;
					bl->next = fs->free_head;
					fs->free_head = id;
				}
				continue;
			}
			s = blob_stripe(t, id);
			used[s]++;
			if (blob_refs(bl) != f->brefs[id]) {
				if (!f->repair)
					PROBLEM(f, "blob %u: %u refs, found %u",
						id, blob_refs(bl),
						f->brefs[id]);
				else
					bl->rl = (bl->rl & ~BLOB_REFS_MASK) |
						 f->brefs[id];
			}
			if (f->repair)
				seg_dstripe(t, s)->used++;
			if (f->bstate[id] != 2)
				continue;
			live[s]++;
			len = blob_len(bl);
			pool = seg_chunk(t, loc_chunk(bl->loc))->pool;
			f->clive[loc_chunk(bl->loc)] += alloc_size(len);
			if (pool < TMEM_MAX_POOLS) {
				f->g[pool][G_BLOBS]++;
				f->g[pool][G_COMPRESSED] += len;
				if (len == TMEM_PAGE_SIZE)
					f->g[pool][G_RAW]++;
			}
			if (f->repair) {
				uint32_t *head = seg_dbucket(
					t, s,
					tmem_dbucket_of(t, s, blob_hash(bl)));
				bl->next = *head;
				*head = id;
				if (seg_dstripe(t, s)->used >
				    (TMEM_LOAD << seg_dstripe(t, s)->bits))
					tmem_blob_resize(
						t, s,
						seg_dstripe(t, s)->bits + 1);
			}
		}
		if (!f->repair) {
			uint64_t in_use = 0;

			for (s = kind * TMEM_HALF; s < (kind + 1) * TMEM_HALF;
			     s++)
				in_use += used[s];
			if (in_use + total_free[kind] != end - first)
				PROBLEM(f,
					"blob kind %u: %llu in use + %llu "
					"free, %u handed out",
					kind, (unsigned long long)in_use,
					(unsigned long long)total_free[kind],
					end - first);
		}
	}
	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		struct tmem_stripe *ds = seg_dstripe(t, s);

		if (!kind_mine(f, s / TMEM_HALF))
			continue;
		if (f->repair)
			tmem_blob_resize(t, s, tmem_bits_for(ds->used, ~0ULL));
		else if (chained[s] != live[s] || ds->used != used[s])
			PROBLEM(f,
				"blob stripe %u: %u chained, %u live, used "
				"%u (found %u)",
				s, chained[s], live[s], ds->used, used[s]);
	}
}

static int loc_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void mark_dead(struct tmem *t, uint32_t c, uint32_t off, uint32_t size)
{
	*loc_hdr(t, loc_make(c, off)) = HDR_DEAD | size;
}

/* Pass 3b: chunks in use must be walkable (eviction and compaction walk
 * them): allocations back to back up to the fill mark, each a live blob
 * or a dead marker.  Repair rewrites every marker from the live blobs. */
static void scan_layout(struct fsck *f)
{
	struct tmem *t = f->t;
	uint64_t *locs = f->locs;
	uint32_t n = 0, i = 0, id, c;

	if (f->repair) {
		for (id = 1; id < t->geo->nr_blobs; id++)
			n += f->bstate[id] == 2;
		if (n > f->locs_cap) {
			/* More blobs than the scratch made before the world
			 * stopped has room for (puts between the two): no
			 * allocation here, the next repair sizes it anew. */
			f->incomplete = true;
			return;
		}
		n = 0;
		for (id = 1; id < t->geo->nr_blobs; id++)
			if (f->bstate[id] == 2)
				locs[n++] = (uint64_t)seg_blob(t, id)->loc
						    << 32 |
					    id;
		qsort(locs, n, sizeof *locs, loc_cmp);
	}
	for (c = 1; c < t->hdr->hole_bump; c++) {
		struct tmem_chunk *k = seg_chunk(t, c);
		uint32_t fill, off = 0;

		if (!chunk_in_use(SL_STATE(atomic_load(&k->sl))) ||
		    !chunk_mine(f, k))
			continue;
		fill = chunk_get(k, fill); /* the other half's may be moving */
		if (f->repair) {
			unsigned r;

			for (; i < n && loc_chunk(locs[i] >> 32) < c; i++)
				;
			if (k->raw)
				for (r = 0; r < TMEM_RAW_SLOTS; r++)
					*seg_rawid(t, c, r) = 0;
			for (; i < n && loc_chunk(locs[i] >> 32) == c; i++) {
				uint32_t loc = (uint32_t)(locs[i] >> 32);
				uint32_t bid = (uint32_t)locs[i], o;
				struct tmem_blob *b = seg_blob(t, bid);

				o = loc_off(loc);
				if (o > off && !k->raw)
					mark_dead(t, c, off, o - off);
				alloc_mark(t, loc, blob_len(b), bid);
				off = o + alloc_size(blob_len(b));
			}
			if (fill > off && !k->raw)
				mark_dead(t, c, off, fill - off);
			continue;
		}
		if (k->raw) {
			for (off = 0; off + TMEM_PAGE_SIZE <= fill;
			     off += TMEM_PAGE_SIZE) {
				uint32_t h =
					*seg_rawid(t, c, off / TMEM_PAGE_SIZE);

				if (h &&
				    (h >= t->geo->nr_blobs ||
				     f->bstate[h] != 2 ||
				     seg_blob(t, h)->loc != loc_make(c, off)))
					break;
			}
		}
		while (!k->raw && off + 4 <= fill) {
			uint32_t h = *loc_hdr(t, loc_make(c, off)), size;

			if (h & HDR_DEAD) {
				size = h & ~HDR_DEAD;
			} else if (h && h < t->geo->nr_blobs &&
				   f->bstate[h] == 2 &&
				   seg_blob(t, h)->loc == loc_make(c, off)) {
				size = alloc_size(blob_len(seg_blob(t, h)));
			} else {
				break;
			}
			if (size < 4)
				break;
			off += size;
		}
		if (off != fill)
			PROBLEM(f,
				"chunk %u: allocations unreadable at %u of %u",
				c, off, fill);
	}
}

static unsigned list_check(struct fsck *f, uint32_t head, unsigned want_state,
			   const char *what)
{
	struct tmem *t = f->t;
	unsigned n = 0;
	uint32_t c;

	for (c = head; c; c = seg_chunk(t, c)->next) {
		uint64_t sl = atomic_load(&seg_chunk(t, c)->sl);

		if (c >= t->geo->nr_chunks || ++n > t->geo->nr_chunks ||
		    SL_STATE(sl) != want_state || SL_OWNER(sl) != 0) {
			PROBLEM(f, "%s list: chunk %u does not belong", what,
				c);
			break;
		}
	}
	return n;
}

/* Repair, holding chunk_lock: take the orphan stack over.  Its chunks are
 * made ownerless (FREEING or HOLE), so that the scan files them; a chunk
 * pushed from now on, by a process alive when the repair began, stays
 * ORPHAN and is left to the stack (see scan_chunks).  The walk stops at
 * anything that is not an orphan (a damaged stack): the chunks behind it
 * of dead pushers are filed by the scan all the same, those of live
 * pushers stay unfiled until a repair after their pusher's end. */
static void orphans_adopt(struct fsck *f)
{
	struct tmem *t = f->t;
	uint32_t c = atomic_exchange(&t->hdr->orphan_head, 0), next, n = 0;

	for (; c; c = next) {
		struct tmem_chunk *k;
		unsigned st;

		if (c >= t->geo->nr_chunks || ++n > t->geo->nr_chunks)
			break;
		k = seg_chunk(t, c);
		st = SL_STATE(atomic_load(&k->sl));
		if (st != CHUNK_ORPHAN && st != CHUNK_ORPHAN_HOLE)
			break;
		next = k->next;
		atomic_store(&k->sl, SL_MAKE(st == CHUNK_ORPHAN ? CHUNK_FREEING
								: CHUNK_HOLE,
					     0, 0));
	}
}

/* Pass 4: chunks — states, owners, live bytes, free lists.  The free
 * lists are the whole pool's (chunk_lock, held, guards them): a repair of
 * either half rebuilds them, and files every free chunk a dead process
 * left in its hands; the check of the persistent half checks them.
 * Chunks that hold the other half's blobs are left as they are: only
 * their sub-pool's chunk count is taken (under chunk_lock, like every
 * change of it; a chunk is counted from the moment it leaves the free
 * lists, when it is opened or marked GROWING with its sub-pool, see
 * chunk_acquire). */
static void scan_chunks(struct fsck *f)
{
	struct tmem *t = f->t;
	struct tmem_header *h = t->hdr;
	uint32_t c, nres = 0, nhole = 0, npunch = 0;

	if (!f->repair) {
		if (!kind_mine(f, TMEM_PERSISTENT))
			;
		else if (list_check(f, h->reserve_head, CHUNK_RESERVE,
				    "reserve") != h->reserve_count ||
			 list_check(f, h->hole_head, CHUNK_HOLE, "hole") +
					 (t->geo->nr_chunks - h->hole_bump) !=
				 h->hole_count ||
			 list_check(f, h->punch_head, CHUNK_PUNCHING,
				    "punch") != h->punch_count)
			PROBLEM(f, "free chunk lists disagree with counts");
	} else {
		h->reserve_head = h->hole_head = h->punch_head = 0;
		orphans_adopt(f);
		chunk_count_set(&h->reserve_count, 0);
		chunk_count_set(&h->hole_count, 0);
		chunk_count_set(&h->punch_count, 0);
		CRASH_POINT(50);
	}
	if (h->hole_bump == 0 || h->hole_bump > t->geo->nr_chunks) {
		PROBLEM(f, "chunk bump %u out of range", h->hole_bump);
		if (!f->repair)
			return;
		chunk_count_set(&h->hole_bump, (uint32_t)t->geo->nr_chunks);
	}
	for (c = h->hole_bump - 1; c >= 1; c--) {
		struct tmem_chunk *k = seg_chunk(t, c);
		uint64_t sl = atomic_load(&k->sl);
		unsigned st = SL_STATE(sl), owner = SL_OWNER(sl);
		bool alive = owner_alive(f, st, owner);
		bool holds = chunk_in_use(st) || st == CHUNK_FREEING ||
			     st == CHUNK_ORPHAN;

		/* The other half's: only counted (a free one a dead process
		 * left is filed below all the same). */
		if (holds && !chunk_mine(f, k) &&
		    (chunk_in_use(st) || alive || !f->repair)) {
			unsigned kp = chunk_get(k, pool);

			if (kp < TMEM_MAX_POOLS)
				f->g[kp][G_CHUNKS]++;
			continue;
		}

		/* An ORPHAN whose pusher is alive is on the orphan stack (or
		 * about to be, see orphans_adopt): left to it. */
		if (f->repair && !alive) {
			/* Whatever a dead process was doing with it. */
			if (st == CHUNK_OPEN || st == CHUNK_EVICTING ||
			    st == CHUNK_COMPACTING)
				st = CHUNK_CLOSED;
			else if (st == CHUNK_FREEING || st == CHUNK_ORPHAN)
				st = CHUNK_RESERVE;
			else if (st == CHUNK_ORPHAN_HOLE)
				st = CHUNK_HOLE;
			else if (st == CHUNK_GROWING ||
				 (st == CHUNK_PUNCHING && owner)) {
				tmem_chunk_punch(t, c);
				st = CHUNK_HOLE;
			}
			if (st == CHUNK_CLOSED && f->clive[c] == 0)
				st = CHUNK_RESERVE;
			if (st == CHUNK_RESERVE || st == CHUNK_HOLE ||
			    st == CHUNK_PUNCHING) {
				chunk_set(k, fill, 0);
				owner = 0;
			}
			if (st == CHUNK_CLOSED || st == CHUNK_OPEN)
				owner = st == CHUNK_OPEN ? owner : 0;
			atomic_store(&k->sl, SL_MAKE(st, owner, f->clive[c]));
			if (st == CHUNK_RESERVE) {
				k->next = h->reserve_head;
				h->reserve_head = c;
				nres++;
			} else if (st == CHUNK_HOLE) {
				k->next = h->hole_head;
				h->hole_head = c;
				nhole++;
			} else if (st == CHUNK_PUNCHING) {
				k->next = h->punch_head;
				h->punch_head = c;
				npunch++;
			}
		} else if (f->repair) {
			/* A live owner may move it on meanwhile without a lock
			 * (an eviction ending, a free going to the orphan
			 * stack): its move wins, only the live count of the
			 * state seen is corrected. */
			atomic_compare_exchange_strong(
				&k->sl, &sl, SL_MAKE(st, owner, f->clive[c]));
			st = SL_STATE(atomic_load(&k->sl));
		} else if (SL_LIVE(sl) != f->clive[c]) {
			PROBLEM(f,
				"chunk %u (state %u): %u live bytes, found %u",
				c, st, SL_LIVE(sl), f->clive[c]);
		} else if (!chunk_in_use(st) && st != CHUNK_FREEING &&
			   st != CHUNK_ORPHAN && f->clive[c]) {
			PROBLEM(f, "free chunk %u holds blobs", c);
		}
		/* A chunk leaves its sub-pool's count when it is filed; a
		 * writer's, taken from the holes, is in it while it grows
		 * (the grower's own are no sub-pool's, pool 0xff). */
		if (chunk_in_use(st) || st == CHUNK_FREEING ||
		    st == CHUNK_ORPHAN || (st == CHUNK_GROWING && alive)) {
			unsigned kp = chunk_get(k, pool);

			if (kp < TMEM_MAX_POOLS)
				f->g[kp][G_CHUNKS]++;
		}
	}
	if (f->repair) {
		chunk_count_set(&h->reserve_count, nres);
		chunk_count_set(
			&h->hole_count,
			nhole + (uint32_t)(t->geo->nr_chunks - h->hole_bump));
		chunk_count_set(&h->punch_count, npunch);
	}
}

static void check_gauges(struct fsck *f)
{
	static const char *const names[G_NR] = {
		"pages",      "zero",	"same", "raw",	      "blobs",
		"compressed", "chunks", "read", "read_bytes",
	};
	struct tmem *t = f->t;
	unsigned p, i;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);
		bool mine = (pool_half(t, p) & f->halves) != 0;

		for (i = 0; i < G_NR; i++) {
			int64_t have = atomic_load(&pr->g[i]);

			/* Another half's sub-pool: its chunk count only,
			 * and only rewritten (the check of its half says
			 * whether it was right). */
			if (!mine && (i != G_CHUNKS || !f->repair))
				continue;
			if (have == f->g[p][i])
				continue;
			if (f->repair)
				atomic_store(&pr->g[i], f->g[p][i]);
			else
				PROBLEM(f,
					"pool %u: gauge %s is %lld, found "
					"%lld",
					p, names[i], (long long)have,
					(long long)f->g[p][i]);
		}
	}
}

/* n bytes of scratch, zeroed and faulted in now: the scan runs with a
 * half's locks and the header locks held, and a fault there could wait
 * for reclaim, which may need this very pool's swap device. */
static void *scratch(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p)
		memset(p, 0, n);
	return p;
}

/* Blob records handed out so far, and room for those handed out before
 * the world stops: a bound on the live blobs the repair will find. */
static uint32_t locs_bound(struct tmem *t)
{
	uint64_t n = (uint64_t)atomic_load(&t->hdr->bbump[0]) +
		     atomic_load(&t->hdr->bbump[1]);

	n += n / 8 + 4096;
	return n < t->geo->nr_blobs ? (uint32_t)n : (uint32_t)t->geo->nr_blobs;
}

/* How long a serving process waits for a half's locks before it lets go
 * of what it took and tries again later (REPAIR_BACKOFF_MS on its grower):
 * a stopped process may hold one, and the header locks and the half's
 * stripes taken so far must not be held meanwhile. */
#define REPAIR_LOCK_WAIT_MS 50
#define REPAIR_BACKOFF_MS   500

/* Check (repair false) or repair one half of the pool (halves: one
 * TMEM_HALF_BIT); *problems (if not NULL): the differences found.
 * Everything it needs is allocated and faulted in before it takes a lock:
 * without memory it returns -ENOMEM having held nothing, and a due repair
 * stays due.  A serving process waits at most REPAIR_LOCK_WAIT_MS for the
 * half's locks, else -EBUSY having held nothing; any other waits for
 * them. */
static int fsck_run(struct tmem *t, bool repair, unsigned halves,
		    unsigned *problems)
{
	struct fsck *f;
	unsigned s;
	int r;

	if (t->readonly)
		return -EROFS;
	f = scratch(sizeof *f);
	if (!f)
		return -ENOMEM;
	f->t = t;
	f->repair = repair;
	f->halves = halves;
	f->bstate = scratch(t->geo->nr_blobs);
	f->brefs = scratch(t->geo->nr_blobs * sizeof *f->brefs);
	f->clive = scratch(t->geo->nr_chunks * sizeof *f->clive);
	if (repair) {
		f->locs_cap = locs_bound(t);
		f->locs = scratch((size_t)f->locs_cap * sizeof *f->locs);
	}
	if (!f->bstate || !f->brefs || !f->clive || (repair && !f->locs)) {
		r = -ENOMEM;
		goto out;
	}
	if (!tmem_world_stop(t, halves,
			     t->grower_running ? REPAIR_LOCK_WAIT_MS : -1)) {
		r = -EBUSY;
		goto out;
	}
	CRASH_POINT(51);
	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		struct tmem_slot *sl = seg_slot(t, s);

		f->alive[s] =
			sl->state == SLOT_ATTACHED && tmem_slot_alive(t, s);
		if (sl->state != SLOT_ATTACHED || f->alive[s] || !repair)
			continue;
		/* A dead process: what it left in this half goes below;
		 * its slot is freed once both halves are rebuilt. */
		if (sl->repaired == 0)
			tmem_log(t, TMEM_LOG_WARNING,
				 "repairing after process %d (slot %u) died",
				 sl->pid, s);
		slot_set(&sl->repaired, sl->repaired | halves);
		if ((sl->repaired & TMEM_HALVES) == TMEM_HALVES) {
			slot_set(&sl->state, SLOT_FREE);
			slot_set(&sl->repaired, 0);
			atomic_store(&sl->grower, 0);
			memset(sl->intent_blob, 0, sizeof sl->intent_blob);
		}
	}
	for (s = 0; s < TMEM_MAX_POOLS; s++) {
		struct tmem_pool_rec *pr = seg_pool(t, s);

		/* Changed while attached (the attach checks every seal):
		 * reported, not mended, as nothing tells which value was
		 * the record's. */
		if (atomic_load(&pr->state) != POOL_FREE &&
		    (pool_half(t, s) & halves) &&
		    __atomic_load_n(&pr->seal, __ATOMIC_RELAXED) !=
			    tmem_pool_seal(pr))
			PROBLEM(f,
				"sub-pool record %u: its seal does not match "
				"(a changed state, kind, dedup scope or name)",
				s);
		/* Its destroyer died in it, or it was handed over to the
		 * swap server and is not finished yet: its pool's entries
		 * go below. */
		if (atomic_load(&pr->state) == POOL_DESTROYING && repair &&
		    (pool_half(t, s) & halves)) {
			atomic_store(&pr->state, POOL_FREE);
			tmem_pool_reseal(pr);
		}
	}
	scan_blobs(f);
	scan_index(f);
	scan_blob_refs(f);
	scan_layout(f);
	scan_chunks(f);
	check_gauges(f);
	if (repair) {
		/* Only the cache's blobs are ever doomed by eviction. */
		if (halves & TMEM_HALF_BIT(TMEM_EPHEMERAL))
			atomic_store(&t->hdr->ghosts, f->ghosts);
		/* Incomplete, it is due again (whether or not it was due
		 * when it began: a dead process's slot may be freed
		 * already). */
		if (f->incomplete)
			atomic_fetch_or(&t->hdr->needs_repair, halves);
		else
			atomic_fetch_and(&t->hdr->needs_repair, ~halves);
		if (!f->incomplete) {
			atomic_fetch_add(&t->hdr->repairs, 1);
			/* This process's requests that gave up on it wait
			 * the full bound for the next one (another
			 * process's repair is seen by the next request:
			 * tmem_repair_seen_done). */
			tmem_repair_seen_done(t, halves);
		}
	}
	tmem_world_start(t, halves);
	r = !repair && f->problems ? -EUCLEAN : 0;
	if (problems)
		*problems = f->problems;
	if (repair && f->incomplete)
		tmem_log(t, TMEM_LOG_WARNING,
			 "repair found more live blobs than its scratch has "
			 "room for: it runs again");
	else if (repair && f->problems)
		tmem_log(t, TMEM_LOG_WARNING, "repair fixed %u problems",
			 f->problems);
out:
	free(f->bstate);
	free(f->brefs);
	free(f->clive);
	free(f->locs);
	free(f);
	return r;
}

/* A dead process's slot whose halves are not all rebuilt yet, of those
 * given.  No lock (a hint: the repair reads them under slots_lock). */
static bool dead_slot_in(struct tmem *t, unsigned halves)
{
	unsigned s;

	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		struct tmem_slot *sl = seg_slot(t, s);

		if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) ==
			    SLOT_ATTACHED &&
		    (__atomic_load_n(&sl->repaired, __ATOMIC_RELAXED) &
		     halves) != halves &&
		    !tmem_slot_alive(t, s))
			return true;
	}
	return false;
}

/* The halves this process repairs itself.  Without a grower (it runs
 * a repair only when no process serves the pool): both.  With one: both
 * if it serves a persistent sub-pool itself or no live process that does
 * is attached; else none.  So while a swap server lives, only its grower
 * repairs: a cache daemon that stalls inside a repair would hold the
 * header locks (slots, pools, chunks) that the swap half's repair needs
 * too, and so stop swap. */
static unsigned halves_mine(struct tmem *t)
{
	unsigned s;

	if (!t->grower_running || atomic_load(&t->own_persistent))
		return TMEM_HALVES;
	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		struct tmem_slot *sl = seg_slot(t, s);

		if ((int)s != t->slot &&
		    __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) ==
			    SLOT_ATTACHED &&
		    (atomic_load(&sl->grower) & SLOT_GROWER_PERSISTENT) &&
		    tmem_slot_alive(t, s))
			return 0;
	}
	return TMEM_HALVES;
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Whether the dead process of slot s left anything in half k that only a
 * repair of that half puts right: a pending reference to one of its blobs
 * or a chunk of its sub-pools in its hands (open, being evicted or
 * compacted); and, for either half, a free chunk in its hands (either
 * half's repair files it).  A lock it held raised the half's needs_repair
 * bit instead: so did a destroy it died in, which holds pool_lock from
 * the record's DESTROYING to its drop.  A record DESTROYING with no such
 * death is a destroy handed over to the swap server (tmem_pool_destroy),
 * whoever its destroyer was: its grower finishes it, no repair.  No lock:
 * a dead process's intents and chunks change only by a repair. */
static bool dead_left_in(struct tmem *t, unsigned s, unsigned k)
{
	struct tmem_slot *sl = seg_slot(t, s);
	uint32_t c, id;
	uint32_t end = __atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED);
	unsigned x;

	for (x = 0; x < TMEM_MAX_CTX; x++) {
		id = __atomic_load_n(&sl->intent_blob[x], __ATOMIC_RELAXED);
		if (id && (id >= t->geo->nr_blobs / 2) == (k == TMEM_EPHEMERAL))
			return true;
	}
	if (end > t->geo->nr_chunks)
		end = (uint32_t)t->geo->nr_chunks;
	for (c = 1; c < end; c++) {
		struct tmem_chunk *ch = seg_chunk(t, c);
		uint64_t w = atomic_load(&ch->sl);
		unsigned st = SL_STATE(w), owner = SL_OWNER(w);

		if (owner == 0 || (st == CHUNK_OPEN ? (owner - 1) / TMEM_MAX_CTX
						    : owner - 1) != s)
			continue;
		/* A free one in its hands (growing, punching, being freed):
		 * some repair must file it, so neither half is skipped. */
		if (!chunk_in_use(st) || ch->pool >= TMEM_MAX_POOLS ||
		    pool_half(t, ch->pool) == TMEM_HALF_BIT(k))
			return true;
	}
	return false;
}

/* Mark half k rebuilt for every dead process's slot that left nothing in
 * it (dead_left_in) and no lock of it held, freeing the slots whose halves
 * are then all done, under slots_lock (not waited for: busy, it is left to
 * the repair).  So a cache process or a tool that dies outside the swap
 * half's locks costs swap no repair of its half. */
static void dead_skip_half(struct tmem *t, unsigned k)
{
	unsigned s, h = TMEM_HALF_BIT(k);

	if (!tmem_trylock(t, &t->hdr->slots_lock))
		return;
	/* A lock a dead process held is found by its next taker: take each
	 * of the half's that is free now, and let go (a busy one is a live
	 * holder's).  One found so raises the half's needs_repair. */
	if (tmem_trylock(t, &t->hdr->pool_lock))
		tmem_unlock(&t->hdr->pool_lock);
	if (tmem_trylock(t, &t->hdr->chunk_lock))
		tmem_unlock(&t->hdr->chunk_lock);
	for (s = k * TMEM_HALF; s < (k + 1) * TMEM_HALF; s++) {
		if (tmem_trylock(t, &seg_istripe(t, s)->lock))
			tmem_unlock(&seg_istripe(t, s)->lock);
		if (tmem_trylock(t, &seg_dstripe(t, s)->lock))
			tmem_unlock(&seg_dstripe(t, s)->lock);
	}
	if (tmem_repair_pending_in(t, h)) {
		tmem_unlock(&t->hdr->slots_lock);
		return;
	}
	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		struct tmem_slot *sl = seg_slot(t, s);

		if (sl->state != SLOT_ATTACHED || (sl->repaired & h) ||
		    tmem_slot_alive(t, s) || dead_left_in(t, s, k))
			continue;
		if (sl->repaired == 0)
			tmem_log(t, TMEM_LOG_WARNING,
				 "repairing after process %d (slot %u) died",
				 sl->pid, s);
		slot_set(&sl->repaired, sl->repaired | h);
		if ((sl->repaired & TMEM_HALVES) == TMEM_HALVES) {
			slot_set(&sl->state, SLOT_FREE);
			slot_set(&sl->repaired, 0);
			atomic_store(&sl->grower, 0);
			memset(sl->intent_blob, 0, sizeof sl->intent_blob);
		}
	}
	tmem_unlock(&t->hdr->slots_lock);
}

/* Repair, one at a time, each of the given halves that is due (or, with
 * all set, every one of them).  0; -ENOMEM (no scratch) or -EBUSY (a
 * serving process did not get a half's locks in time: on its grower,
 * that half is not tried again for REPAIR_BACKOFF_MS, so that growing
 * goes on; the other half's repair is not held up by it). */
static int repair_halves(struct tmem *t, unsigned halves, bool all)
{
	static _Thread_local long long busy_until[2];
	bool grower = tmem_on_grower_thread(t);
	unsigned k, h;
	int r, ret = 0;

	for (k = 0; k < 2; k++) {
		h = TMEM_HALF_BIT(k);
		if (!(halves & h) || (!all && !tmem_repair_pending_in(t, h) &&
				      !dead_slot_in(t, h)))
			continue;
		/* Due only for dead processes that left nothing in it. */
		if (!all && !tmem_repair_pending_in(t, h)) {
			dead_skip_half(t, k);
			if (!tmem_repair_pending_in(t, h) &&
			    !dead_slot_in(t, h))
				continue;
		}
		if (grower && !all && ms_now() < busy_until[k])
			r = -EBUSY;
		else
			r = fsck_run(t, true, h, NULL);
		if (r == -EBUSY && grower && ms_now() >= busy_until[k]) {
			busy_until[k] = ms_now() + REPAIR_BACKOFF_MS;
			tmem_log(t, TMEM_LOG_DEBUG,
				 "repair of the %s half: a lock stayed busy "
				 "%d ms; trying again in %d ms",
				 k == TMEM_PERSISTENT ? "persistent"
						      : "ephemeral",
				 REPAIR_LOCK_WAIT_MS, REPAIR_BACKOFF_MS);
		}
		if (r && !ret)
			ret = r;
	}
	return ret;
}

/* Check (each half in turn) or repair (each half this process repairs). */
int tmem_fsck(struct tmem *t, bool repair)
{
	unsigned problems = 0, k, n;
	int r;

	if (repair)
		return repair_halves(t, halves_mine(t), true);
	for (k = 0; k < 2; k++) {
		n = 0;
		r = fsck_run(t, false, TMEM_HALF_BIT(k), &n);
		if (r && r != -EUCLEAN)
			return r;
		problems += n;
	}
	return problems ? -EUCLEAN : 0;
}

/* A repair that could not be done (no memory for its scratch) is tried
 * again after this long, holding nothing meanwhile. */
#define REPAIR_RETRY_MS 10

/* Repair those of the given halves that are due and that this process
 * repairs (halves_mine). */
#ifdef TMEM_TEST_HOOKS
unsigned tmem_served_wait_ms = TMEM_SERVED_WAIT_MS;
#define served_wait_ms() tmem_served_wait_ms
#else
#define served_wait_ms() TMEM_SERVED_WAIT_MS
#endif

static pid_t pool_server(struct tmem *t);

/* Grower of a process that leaves repairs to a live swap server (a cache
 * daemon): the cache half, when it has been due for served_wait_ms()
 * without that server repairing it (the server is stopped, say), so that
 * the cache's requests do not wait for ever.  That takes the header locks
 * and the cache stripes, never the swap stripes. */
static unsigned cache_half_overdue(struct tmem *t)
{
	static _Thread_local long long due_since;
	static _Thread_local bool said;
	unsigned e = TMEM_HALF_BIT(TMEM_EPHEMERAL);

	if (!tmem_on_grower_thread(t) || !tmem_repair_pending_in(t, e)) {
		due_since = 0;
		said = false;
		return 0;
	}
	if (!due_since)
		due_since = ms_now();
	if (ms_now() - due_since < served_wait_ms())
		return 0;
	if (!said && (said = true))
		tmem_log(t, TMEM_LOG_WARNING,
			 "the cache half has waited %u s for the swap server "
			 "(pid %d) to repair it; repairing it here",
			 (served_wait_ms() + 999) / 1000, (int)pool_server(t));
	return e;
}

static void repair_if_needed_in(struct tmem *t, unsigned halves)
{
	struct timespec retry = {0, REPAIR_RETRY_MS * 1000000L};
	static _Atomic bool said;
	unsigned mine = halves & halves_mine(t);

	if (!mine)
		mine = halves & cache_half_overdue(t);
	if (!tmem_repair_pending_in(t, mine))
		return;
	if (repair_halves(t, mine, false) == -ENOMEM) {
		if (!atomic_exchange(&said, true))
			tmem_log(t, TMEM_LOG_ERROR,
				 "no memory for the repair's scratch: the "
				 "pool waits for it, retrying every %d ms",
				 REPAIR_RETRY_MS);
		nanosleep(&retry, NULL);
	}
}

void tmem_repair_if_needed(struct tmem *t)
{
	repair_if_needed_in(t, TMEM_HALVES);
}

/* The pid of a live process, not this one, that runs a grower thread, or
 * 0 when there is none: the pool's server (one that serves a persistent
 * sub-pool first: its grower is the one that checks); with
 * persistent_only, only such a one.  No lock (the slot's words are read
 * as they are; a slot freed meanwhile is not alive). */
static pid_t server_find(struct tmem *t, bool persistent_only)
{
	pid_t any = 0;
	unsigned s;

	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		struct tmem_slot *sl = seg_slot(t, s);
		uint32_t g;

		if ((int)s == t->slot ||
		    __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) !=
			    SLOT_ATTACHED ||
		    !(g = atomic_load(&sl->grower)) || !tmem_slot_alive(t, s))
			continue;
		if (g & SLOT_GROWER_PERSISTENT)
			return __atomic_load_n(&sl->pid, __ATOMIC_RELAXED);
		if (!any && !persistent_only)
			any = __atomic_load_n(&sl->pid, __ATOMIC_RELAXED);
	}
	return any;
}

static pid_t pool_server(struct tmem *t)
{
	return server_find(t, false);
}

int tmem_swap_server(struct tmem *t)
{
	return (int)server_find(t, true);
}

/* What a process without a grower waits for from the pool's server. */
enum served_wait {
	WAIT_REPAIR,  /* no repair of the halves due */
	WAIT_DEAD,    /* and no dead process's slot left in them */
	WAIT_CHECK,   /* check_answer's generation reaches req */
	WAIT_DESTROY, /* sub-pool req no longer being destroyed */
};

static bool served_done(struct tmem *t, enum served_wait what, uint32_t req,
			unsigned halves)
{
	uint64_t ans;

	switch (what) {
	case WAIT_DESTROY:
		return atomic_load(&seg_pool(t, req)->state) != POOL_DESTROYING;
	case WAIT_CHECK:
		ans = atomic_load(&t->hdr->check_answer);
		return (int32_t)((uint32_t)(ans >> 32) - req) >= 0;
	case WAIT_DEAD:
		if (dead_slot_in(t, halves))
			return false;
		/* fall through */
	case WAIT_REPAIR:
		break;
	}
	return !tmem_repair_pending_in(t, halves);
}

/* In a process without a grower: wait, holding no pool lock, until the
 * server's grower has done what is awaited, waking the growers and looking
 * for the server every 100 ms.  0: done, or there is no live server any
 * more (the caller then does the work itself).  -ETIMEDOUT, logged naming
 * the server's pid, when a live server did not do it within
 * served_wait_ms(): the caller fails rather than stop the world of a pool
 * that is served. */
static int served_wait(struct tmem *t, enum served_wait what, uint32_t req,
		       unsigned halves)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	long long start = ms_now(), next = start;
	pid_t server = 0;

	for (;;) {
		long long now;

		if (served_done(t, what, req, halves))
			return 0;
		now = ms_now();
		if (now >= next) {
			/* A destroy is finished by a swap server's grower
			 * alone (tmem_destroy_serve). */
			server = server_find(t, what == WAIT_DESTROY);
			if (!server)
				return 0;
			tmem_grower_wake(t);
			next = now + 100;
		}
		if (now - start >= served_wait_ms())
			break;
		nanosleep(&ms, NULL);
	}
	if (what == WAIT_DESTROY) {
		tmem_log(t, TMEM_LOG_ERROR,
			 "sub-pool %s: the pool is served by pid %d, whose "
			 "grower has not finished destroying it in %u s; it "
			 "will",
			 seg_pool(t, req)->name, (int)server,
			 (served_wait_ms() + 999) / 1000);
		return -ETIMEDOUT;
	}
	tmem_log(t, TMEM_LOG_ERROR,
		 "the pool is served by pid %d, whose grower has not %s it in "
		 "%u s; not %s a served pool",
		 (int)server, what == WAIT_CHECK ? "checked" : "repaired",
		 (served_wait_ms() + 999) / 1000,
		 what == WAIT_CHECK ? "checking" : "repairing");
	return -ETIMEDOUT;
}

int tmem_destroy_wait(struct tmem *t, unsigned pool)
{
	int r;

	tmem_grower_wake(t);
	r = served_wait(t, WAIT_DESTROY, pool, TMEM_HALVES);
	if (r)
		return r;
	return served_done(t, WAIT_DESTROY, pool, TMEM_HALVES) ? 0 : 1;
}

/* How long a serving process's thread that is not its grower (one that
 * calls tmem_check, say) leaves a due repair to that grower first. */
#define REPAIR_DEFER_MS 3000

/* Called with no pool lock held by a thread that found a repair of the
 * given halves due (the halves of the lock it was taking).  The repair
 * stops the half's world and allocates its scratch: a serving process's
 * request threads never run it.  They wake their grower thread, which
 * repairs, and sleep a millisecond (no allocation, no log, no lock)
 * before they look again (0); -ETIMEDOUT once the request has waited
 * twice served_wait_ms() in all (*since): the grower cannot take a lock
 * of the half while a stopped process holds it (a header lock, say), and
 * a kernel swapping to this server would wait with the request.  (Twice:
 * a cache daemon's grower takes the cache half's repair over from a
 * stopped swap server after served_wait_ms(), and its requests wait for
 * that.)  Once one request has given up, the half's next ones wait only
 * a tenth of served_wait_ms() (the grower's next try after a busy lock
 * comes within REPAIR_BACKOFF_MS) until one finds the half repaired
 * (repair_given_up): a request queued behind another's (the nbd plugin's
 * page locks), or one that waits at several stripes, waits about one
 * bound in all, not one each.  A
 * process that runs no grower (tmemctl, a program of its own) leaves the
 * repair to the grower of a live serving process and waits for it
 * (served_wait): -ETIMEDOUT if it does not come; it repairs itself (0)
 * only when no live process runs a grower. */
int tmem_repair_wait(struct tmem *t, unsigned halves, long long *since)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	int r;

	if (t->grower_running && !tmem_on_grower_thread(t)) {
		long long now = ms_now(), bound = 2LL * served_wait_ms();

		if (atomic_load(&t->repair_given_up) & halves)
			bound = served_wait_ms() / 10;
		if (!*since) {
			*since = now;
		} else if (now - *since >= bound) {
			atomic_fetch_or(&t->repair_given_up, halves);
			return -ETIMEDOUT;
		}
		tmem_grower_wake(t);
		nanosleep(&ms, NULL);
		return 0;
	}
	if (!t->grower_running) {
		r = served_wait(t, WAIT_REPAIR, 0, halves);
		if (r)
			return r;
	}
	repair_if_needed_in(t, halves);
	/* Left to another process's grower, or this one's backs off: the
	 * caller looks again, not at once. */
	if (tmem_repair_pending_in(t, halves))
		nanosleep(&ms, NULL);
	return 0;
}

int tmem_served_by(struct tmem *t)
{
	return t->grower_running ? 0 : (int)pool_server(t);
}

bool tmem_repair_deferred(struct tmem *t)
{
	return t->grower_running ? !tmem_on_grower_thread(t)
				 : tmem_served_by(t) != 0;
}

/* Repair if an attached process has died since.  On the grower thread, or
 * in a process without a grower and without a live server: at once.  A
 * serving process's other threads give their grower REPAIR_DEFER_MS
 * first; never called from its request threads.  A process without a
 * grower on a served pool waits for the server (served_wait) and never
 * repairs itself: 0, or -ETIMEDOUT.  A cache daemon leaves the repair to
 * a live swap server's grower (halves_mine). */
int tmem_reap_dead(struct tmem *t)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	unsigned waited, mine = halves_mine(t);
	int r;

	if (!t->grower_running) {
		r = served_wait(t, WAIT_DEAD, 0, TMEM_HALVES);
		if (r)
			return r;
	} else if (!tmem_on_grower_thread(t)) {
		for (waited = 0;
		     waited < REPAIR_DEFER_MS &&
		     (dead_slot_in(t, mine) || tmem_repair_pending_in(t, mine));
		     waited++) {
			if (waited % 100 == 0)
				tmem_grower_wake(t);
			nanosleep(&ms, NULL);
		}
	}
	repair_halves(t, mine, false);
	return 0;
}

/* Check each half in turn; *problems: the differences found.  A serving
 * process's thread that is not its grower tries a busy half again, every
 * 10 ms for a few seconds (a lock holder may be slow; a stopped one makes
 * it -EBUSY). */
static int check_halves(struct tmem *t, unsigned *problems)
{
	struct timespec ms10 = {.tv_sec = 0, .tv_nsec = 10000000};
	unsigned k, n, tries;
	int r;

	*problems = 0;
	for (k = 0; k < 2; k++) {
		for (tries = 0;; tries++) {
			n = 0;
			r = fsck_run(t, false, TMEM_HALF_BIT(k), &n);
			if (r != -EBUSY || tmem_on_grower_thread(t) ||
			    tries >= 300)
				break;
			nanosleep(&ms10, NULL);
		}
		if (r && r != -EUCLEAN)
			return r;
		*problems += n;
	}
	return *problems ? -EUCLEAN : 0;
}

/* Grower thread: answer a check that a process without a grower asked
 * for (check_req moved past check_answer's generation): repair after dead
 * processes, check, verify the persistent sub-pools' index (which that
 * process leaves alone: tmem_verify), log what was found, publish.  Only
 * a grower that repairs answers (a cache daemon's leaves it to the swap
 * server's); one that could not take a half's locks answers later
 * (REPAIR_BACKOFF_MS).  false: none asked, or not answered now. */
bool tmem_check_serve(struct tmem *t)
{
	static _Thread_local long long busy_until;
	struct tmem_header *h = t->hdr;
	uint32_t req = atomic_load(&h->check_req), word;
	uint64_t ans = atomic_load(&h->check_answer);
	unsigned problems = 0;
	int r;

	if ((uint32_t)(ans >> 32) == req || halves_mine(t) != TMEM_HALVES ||
	    ms_now() < busy_until)
		return false;
	tmem_reap_dead(t);
	r = check_halves(t, &problems);
	if (r == -EBUSY) {
		busy_until = ms_now() + REPAIR_BACKOFF_MS;
		return false;
	}
	if (r == 0 || r == -EUCLEAN) {
		struct tmem_verify_result vr;

		tmem_verify_persistent(t, &vr);
		problems += (unsigned)(vr.bad_pages + vr.bad_chains);
		word = problems < CHECK_ANSWER_ERR ? problems
						   : CHECK_ANSWER_ERR - 1;
		tmem_log(t, problems ? TMEM_LOG_WARNING : TMEM_LOG_INFO,
			 "check asked for by a process without a grower: "
			 "%u problems",
			 problems);
	} else {
		word = CHECK_ANSWER_ERR | (uint32_t)-r;
	}
	/* Forward only: another grower may have answered a later one. */
	while ((int32_t)((uint32_t)(ans >> 32) - req) < 0 &&
	       !atomic_compare_exchange_weak(&h->check_answer, &ans,
					     (uint64_t)req << 32 | word))
		;
	return true;
}

/* Ask the server's grower to check, and wait for its answer.  1: there is
 * no live server (any more): check here. */
static int check_by_server(struct tmem *t, struct tmem_check_result *res)
{
	uint32_t req = atomic_fetch_add(&t->hdr->check_req, 1) + 1, word;
	int r;

	res->checked_by = pool_server(t);
	tmem_grower_wake(t);
	r = served_wait(t, WAIT_CHECK, req, TMEM_HALVES);
	if (r)
		return r;
	if (!served_done(t, WAIT_CHECK, req, TMEM_HALVES))
		return 1;
	word = (uint32_t)atomic_load(&t->hdr->check_answer);
	if (word & CHECK_ANSWER_ERR)
		return -(int)(word & ~CHECK_ANSWER_ERR);
	res->problems = word;
	return word ? -EUCLEAN : 0;
}

int tmem_check_report(struct tmem *t, struct tmem_check_result *res)
{
	int r;

	memset(res, 0, sizeof *res);
	if (t->readonly)
		return -EROFS;
	/* A process with a grower that leaves repairs to the swap server
	 * (a cache daemon) leaves it checks too. */
	if (tmem_served_by(t) || halves_mine(t) != TMEM_HALVES) {
		r = check_by_server(t, res);
		if (r <= 0)
			return r;
		res->checked_by = 0;
	}
	r = tmem_reap_dead(t);
	if (r)
		return r;
	return check_halves(t, &res->problems);
}

int tmem_check(struct tmem *t)
{
	struct tmem_check_result res;

	return tmem_check_report(t, &res);
}

#ifdef TMEM_TEST_HOOKS
int tmem_crash_at;
int tmem_crash_signal = SIGKILL;

/* TMEM_CRASH_POINT=N kills (or stops) the process at step N (tests). */
void tmem_crash_point(int n)
{
	if (tmem_crash_at == n)
		raise(tmem_crash_signal);
}

int tmem_test_corrupt(struct tmem *t, uint32_t pool_id, uint64_t object,
		      uint64_t index)
{
	unsigned pool = pool_id & 0xff, s;
	uint64_t bucket;
	uint32_t e, *link;
	int r = -ENOENT;

	s = tmem_key_stripe((enum tmem_kind)seg_pool(t, pool)->kind, pool,
			    object, index, &bucket);
	tmem_lock(t, &seg_istripe(t, s)->lock);
	e = tmem_index_find(t, s, bucket, pool, object, index, &link);
	if (e && entry_type(seg_entry(t, e)) == ENTRY_BLOB) {
		struct tmem_blob *b =
			seg_blob(t, entry_payload(seg_entry(t, e)));

		if (b->loc >= 2) {
			loc_data(t, b->loc, blob_len(b))[blob_len(b) / 2] ^=
				0x5a;
			r = 0;
		}
	}
	tmem_unlock(&seg_istripe(t, s)->lock);
	return r;
}
#endif
