/* tmem: verification that changes nothing and stops nobody.
 *
 * tmem_verify walks the index one bucket at a time, holding only that
 * bucket's index stripe (and, to read a blob, its blob stripe) for the
 * few entries of the bucket, so the data path waits at most that long.
 * Quick: every link stays in the table and every chain ends; every
 * entry's check holds (its key, what it holds and its blob's hash agree);
 * every blob it names is a live record whose bytes lie in the data area.
 * Each stripe's chains must reach exactly the entries it holds, each of
 * them in use and on its own key's bucket (under the stripe's lock), and
 * each stripe of both tables must have a sound bucket count: one that
 * does not asks for the repair, the one change verification makes.
 * Deep: also every stored page is decompressed and its checksum compared,
 * at a bounded rate.  Pages written while it runs may be seen twice or
 * not at all; a page damaged before it starts is reported.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "tmem-check-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"

struct verify {
	struct tmem *t;
	struct tmem_ctx *c;
	bool deep;
	uint64_t rate; /* pages per second, 0: unbounded */
	uint64_t budget;
	struct timespec slice;
	struct tmem_verify_result *res;
};

static void report(struct verify *v, const struct tmem_entry *en,
		   const char *what)
{
	unsigned pool = entry_pool(en);

	v->res->bad_pages++;
	tmem_log(v->t, TMEM_LOG_ERROR,
		 "sub-pool %s object %llu index %llu (entry %u): %s",
		 seg_pool(v->t, pool)->name, (unsigned long long)en->object,
		 (unsigned long long)en->index,
		 (unsigned)(en - seg_entry(v->t, 0)), what);
}

/* Caller holds the entry's index stripe. */
static void verify_entry(struct verify *v, struct tmem_entry *en)
{
	struct tmem *t = v->t;
	struct tmem_stripe *ds;
	struct tmem_blob *b;
	uint32_t id, hash;
	int r;

	v->res->entries++;
	CRASH_POINT(52);
	if (entry_type(en) == ENTRY_FREE) {
		report(v, en, "a free entry in a chain");
		return;
	}
	if (!tmem_entry_sound(t, en)) {
		report(v, en,
		       "its index entry fails its check (a changed key, value "
		       "or blob id)");
		return;
	}
	if (entry_type(en) != ENTRY_BLOB)
		return;
	id = entry_payload(en);
	b = seg_blob(t, id);
	ds = seg_dstripe(t, blob_stripe(t, id));
	tmem_lock(t, &ds->lock);
	if (b->loc == BLOB_LOC_DOOMED) {
		tmem_unlock(&ds->lock);
		return; /* evicted, swept later */
	}
	if (!tmem_blob_sane(t, b)) {
		tmem_unlock(&ds->lock);
		report(v, en, "its blob record is damaged");
		return;
	}
	if (!v->deep) {
		tmem_unlock(&ds->lock);
		return;
	}
	hash = blob_hash(b);
	r = tmem_page_decompress(t, v->c, loc_data(t, b->loc, blob_len(b)),
				 blob_len(b), v->c->dbuf);
	tmem_unlock(&ds->lock);
	v->res->pages++;
	if (r == -ENOKEY)
		report(v, en,
		       "the stored page needs the dictionary, which "
		       "fails its checksum");
	else if (r || !blob_hash_matches(blob_kind(t, id), hash,
					 (uint32_t)tmem_page_hash(v->c->dbuf)))
		report(v, en, "the stored page fails its checksum");
}

/* Sleep off what the pages read since the last sleep cost at v->rate. */
static void verify_pace(struct verify *v)
{
	if (!v->rate || v->res->pages < v->budget)
		return;
	nanosleep(&v->slice, NULL);
	v->budget = v->res->pages + (v->rate + 99) / 100;
}

/* One bucket of stripe s under its lock; false once past the last. */
static bool verify_bucket(struct verify *v, unsigned s, uint64_t b)
{
	struct tmem *t = v->t;
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t steps = 0;
	uint32_t e;

	tmem_lock(t, &is->lock);
	if (!stripe_sound(is, t->geo->ibuckets_per_stripe)) {
		/* A damaged count (its copies differ, or it is past the
		 * array: 64 bits or more too): no chain is walked. */
		if (b == 0) {
			v->res->bad_chains++;
			tmem_log(t, TMEM_LOG_ERROR,
				 "index stripe %u: a damaged bucket count "
				 "(%u bits, sealed %u, at most %llu buckets)",
				 s, is->bits, is->seal ^ STRIPE_SEAL,
				 (unsigned long long)
					 t->geo->ibuckets_per_stripe);
		}
		tmem_unlock(&is->lock);
		return false;
	}
	if (b > stripe_mask(is)) {
		tmem_unlock(&is->lock);
		return false;
	}
	for (e = *seg_ibucket(t, s, b); e; e = seg_entry(t, e)->next) {
		if (!entry_id_valid(t, e) || ++steps > is->used + 1) {
			v->res->bad_chains++;
			tmem_log(t, TMEM_LOG_ERROR,
				 "index stripe %u bucket %llu: the chain is "
				 "broken (%s)",
				 s, (unsigned long long)b,
				 entry_id_valid(t, e)
					 ? "a loop, or more entries than the "
					   "stripe holds"
					 : "a link out of the table");
			break;
		}
		verify_entry(v, seg_entry(t, e));
	}
	tmem_unlock(&is->lock);
	return true;
}

/* Stripe s (index or blob, of the half s / TMEM_HALF) is to be rebuilt:
 * counted in cut_stripes, and the repair asked for (its half's
 * needs_repair), which the data path waits for (stripe_lock). */
static void ask_repair(struct verify *v, unsigned s)
{
	v->res->cut_stripes++;
	tmem_repair_ask(v->t, s / TMEM_HALF);
}

/* Whether an entry on bucket b of index stripe s belongs there: in use,
 * and its key's bucket (an entry that fails its check is the entry
 * check's to report, not placed by a key it may not have).  A link
 * changed to a free record, or to another bucket's, can leave the count
 * right with a cut elsewhere. */
static bool entry_placed(struct tmem *t, const struct tmem_entry *en,
			 unsigned s, uint64_t b)
{
	unsigned pool = entry_pool(en);
	uint64_t bucket;

	if (entry_type(en) == ENTRY_FREE)
		return false;
	if (!tmem_entry_sound(t, en))
		return true;
	return tmem_key_stripe((enum tmem_kind)seg_pool(t, pool)->kind, pool,
			       en->object, en->index, &bucket) == s &&
	       (bucket & stripe_mask(seg_istripe(t, s))) == b;
}

/* Whether stripe s's chains reach exactly the entries it holds, under its
 * lock for the whole walk (links only, nothing decompressed: a stripe
 * holds a 256th of the index).  A chain cut by damage hides the entries
 * after the cut, which would read as never written: zeros on a swap
 * device.  Such a stripe asks for the repair, which relinks every entry
 * from the records (tmem-check.c) before the data path uses the stripe
 * again. */
static void count_stripe(struct verify *v, unsigned s)
{
	struct tmem *t = v->t;
	struct tmem_stripe *is = seg_istripe(t, s);
	uint64_t b, nb, reached = 0, misplaced = 0, steps;
	uint32_t e;

	tmem_lock(t, &is->lock);
	if (!stripe_sound(is, t->geo->ibuckets_per_stripe)) {
		/* verify_bucket reported the count; the repair rebuilds
		 * the stripe from the records before its next taker walks
		 * it. */
		tmem_log(t, TMEM_LOG_ERROR,
			 "index stripe %u: asking for the repair, which "
			 "rebuilds its buckets from the records",
			 s);
		ask_repair(v, s);
		tmem_unlock(&is->lock);
		return;
	}
	nb = stripe_mask(is) + 1;
	for (b = 0; b < nb && reached <= is->used; b++) {
		steps = 0;
		for (e = *seg_ibucket(t, s, b);
		     e && entry_id_valid(t, e) && ++steps <= is->used + 1;
		     e = seg_entry(t, e)->next) {
			reached++;
			misplaced += !entry_placed(t, seg_entry(t, e), s, b);
		}
	}
	if (reached != is->used || misplaced) {
		v->res->bad_chains++;
		tmem_log(t, TMEM_LOG_ERROR,
			 "index stripe %u: its chains reach %llu entries of "
			 "the %u it holds, %llu of them free or another "
			 "bucket's (a changed link); asking for the repair, "
			 "which relinks them from the records",
			 s, (unsigned long long)reached, is->used,
			 (unsigned long long)misplaced);
		ask_repair(v, s);
	}
	tmem_unlock(&is->lock);
}

/* Whether blob stripe s's bucket count is sound.  A damaged one asks for
 * the repair now (its next put would, and its freed records wait for it:
 * tmem_blob_unlink_chain), which rebuilds the stripe from the records. */
static void count_blob_stripe(struct verify *v, unsigned s)
{
	struct tmem *t = v->t;
	struct tmem_stripe *ds = seg_dstripe(t, s);

	tmem_lock(t, &ds->lock);
	if (!stripe_sound(ds, t->geo->dbuckets_per_stripe)) {
		v->res->bad_chains++;
		tmem_log(t, TMEM_LOG_ERROR,
			 "blob stripe %u: a damaged bucket count (%u bits, "
			 "sealed %u); asking for the repair, which rebuilds "
			 "its buckets from the records",
			 s, ds->bits, ds->seal ^ STRIPE_SEAL);
		ask_repair(v, s);
	}
	tmem_unlock(&ds->lock);
}

/* Index and blob stripes first .. last - 1; adds to *res. */
static void verify_stripes(struct tmem *t, bool deep, uint64_t pages_per_sec,
			   unsigned first, unsigned last,
			   struct tmem_verify_result *res)
{
	struct verify v = {
		.t = t,
		.deep = deep,
		.rate = pages_per_sec,
		.slice = {0, 10 * 1000 * 1000},
		.res = res,
	};
	unsigned s;
	uint64_t b;

	v.budget = res->pages + (v.rate + 99) / 100; /* per 10 ms slice */
	v.c = deep ? tmem_ctx_get(t) : NULL;	     /* only to decompress */
	for (s = first; s < last; s++) {
		count_blob_stripe(&v, s);
		count_stripe(&v, s);
		for (b = 0; verify_bucket(&v, s, b); b++)
			verify_pace(&v);
	}
	if (v.c)
		tmem_ctx_put(v.c);
}

int tmem_verify(struct tmem *t, bool deep, uint64_t pages_per_sec,
		struct tmem_verify_result *res)
{
	memset(res, 0, sizeof *res);
	if (t->readonly)
		return -EROFS;
	/* The persistent half's stripes come first (kind_stripe). */
	res->served_by = tmem_served_by(t);
	verify_stripes(t, deep, pages_per_sec, res->served_by ? TMEM_HALF : 0,
		       TMEM_NR_STRIPES, res);
	return res->bad_pages || res->bad_chains ? -EUCLEAN : 0;
}

void tmem_verify_persistent(struct tmem *t, struct tmem_verify_result *res)
{
	memset(res, 0, sizeof *res);
	verify_stripes(t, false, 0, 0, TMEM_HALF, res);
}
