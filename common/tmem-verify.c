/* tmem: verification that changes nothing and stops nobody.
 *
 * tmem_verify walks the index one bucket at a time, holding only that
 * bucket's index stripe (and, to read a blob, its blob stripe) for the
 * few entries of the bucket, so the data path waits at most that long.
 * Quick: every link stays in the table and every chain ends; every
 * entry's check holds (its key, what it holds and its blob's hash agree);
 * every blob it names is a live record whose bytes lie in the data area.
 * Deep: also every stored page is decompressed and its checksum compared,
 * at a bounded rate.  Pages written while it runs may be seen twice or
 * not at all; a page damaged before it starts is reported.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <time.h>

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
	else if (r || (uint32_t)tmem_page_hash(v->c->dbuf) != hash)
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
	if (b > stripe_mask(is) || b >= t->geo->ibuckets_per_stripe) {
		if (b == 0 || b < stripe_mask(is) + 1) {
			v->res->bad_chains++;
			tmem_log(t, TMEM_LOG_ERROR,
				 "index stripe %u: %u bucket bits, more than "
				 "the table holds",
				 s, is->bits);
		}
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

int tmem_verify(struct tmem *t, bool deep, uint64_t pages_per_sec,
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

	memset(res, 0, sizeof *res);
	if (t->readonly)
		return -EROFS;
	v.budget = (v.rate + 99) / 100; /* pages per 10 ms slice */
	v.c = tmem_ctx_get(t);
	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		for (b = 0; verify_bucket(&v, s, b); b++)
			verify_pace(&v);
	}
	tmem_ctx_put(v.c);
	return res->bad_pages || res->bad_chains ? -EUCLEAN : 0;
}
