/* tmem: which stored pages a put may share.  A put that finds an identical
 * page is faster than one that stores it, so sharing is a timing oracle
 * for whoever puts: it stays inside one sub-pool, and a sub-pool whose
 * puts come from users who must not learn of each other's pages (the read
 * cache) shares nothing (TMEM_DEDUP_NONE); sharing across sub-pools is an
 * opt-in of each (TMEM_DEDUP_POOL). */
#include <config.h>

#include "test-pool.h"

static unsigned char page[4096], back[4096];

static struct tmem_pool_info pool_info(struct tmem *t, uint32_t id)
{
	struct tmem_pool_info info[8];
	int i, n = tmem_pool_list(t, info, 8);

	for (i = 0; i < n; i++)
		if (info[i].id == id)
			return info[i];
	fprintf(stderr, "test-pool-dedup: pool %u not listed\n", id);
	exit(1);
}

/* Put the same page under two keys of a, then under one key of b. */
static void put_twice_then_other(struct tmem *t, uint32_t a, uint32_t b)
{
	CHECK_RC(tmem_put(t, a, 1, 0, page), 0);
	CHECK_RC(tmem_put(t, a, 1, 1, page), 0);
	CHECK_RC(tmem_put(t, b, 1, 0, page), 0);
	CHECK_RC(tmem_get(t, a, 1, 1, back), 0);
	CHECK(memcmp(page, back, sizeof page) == 0);
	CHECK_RC(tmem_get(t, b, 1, 0, back), 0);
	CHECK(memcmp(page, back, sizeof page) == 0);
}

/* TMEM_DEDUP_POOL: the sub-pools set so share one copy of a page, kept in
 * TMEM_SHARED_POOL and charged to it; one left at the default shares
 * nothing with them; a sub-pool destroyed leaves the others' pages whole;
 * the shared sub-pool cannot go while it holds a page, nor in a process
 * that stores there; a sub-pool with a reserved minimum cannot opt in; a
 * segment without dedup keeps the pages where they were. */
static void test_pool_scope(void)
{
	const char *name = test_segment_name("dedup-pool");
	struct tmem_pool_info i1, i2, i3, is;
	struct tmem_options o;
	struct tmem *t;
	uint32_t g1, g2, g3, e, sid;
	uint64_t i, n = 64;

	test_options(&o, name, 16 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "g1", TMEM_PERSISTENT, 0, 0, &g1), 0);
	CHECK_RC(tmem_pool_open(t, "g2", TMEM_PERSISTENT, 0, 0, &g2), 0);
	CHECK_RC(tmem_pool_open(t, "g3", TMEM_PERSISTENT, 0, 0, &g3), 0);
	CHECK_RC(tmem_pool_open(t, "e", TMEM_EPHEMERAL, 0, 0, &e), 0);
	/* The name is reserved; a cache cannot opt in. */
	CHECK_RC(tmem_pool_open(t, TMEM_SHARED_POOL, TMEM_PERSISTENT, 0, 0,
				&sid),
		 -EINVAL);
	CHECK_RC(tmem_pool_set_dedup(t, e, TMEM_DEDUP_POOL), -EINVAL);
	CHECK_RC(tmem_pool_find(t, TMEM_SHARED_POOL, &sid), -ENOENT);
	CHECK_RC(tmem_pool_set_dedup(t, g1, TMEM_DEDUP_POOL), 0);
	CHECK_RC(tmem_pool_set_dedup(t, g2, TMEM_DEDUP_POOL), 0);
	CHECK_RC(tmem_pool_find(t, TMEM_SHARED_POOL, &sid), 0);
	CHECK(pool_info(t, g1).dedup == TMEM_DEDUP_POOL);

	for (i = 0; i < n; i++) {
		page_text(page, 500 + i);
		CHECK_RC(tmem_put(t, g1, 1, i, page), 0);
		CHECK_RC(tmem_put(t, g2, 7, i, page), 0);
		CHECK_RC(tmem_put(t, g3, 1, i, page), 0);
	}
	i1 = pool_info(t, g1);
	i2 = pool_info(t, g2);
	i3 = pool_info(t, g3);
	is = pool_info(t, sid);
	CHECK(i1.stats.pages_stored == n && i2.stats.pages_stored == n);
	CHECK(i2.stats.dedup_hits == n); /* every page found in g1's */
	CHECK(i3.stats.dedup_hits == 0); /* the default shares nothing */
	CHECK(i1.stats.bytes_compressed == 0 && i2.stats.bytes_compressed == 0);
	CHECK(is.stats.bytes_compressed == i3.stats.bytes_compressed);
	CHECK(is.stats.pages_stored == 0);
	CHECK_RC(tmem_check(t), 0);

	/* g1 goes: g2's pages stay, in the shared sub-pool. */
	CHECK_RC(tmem_pool_destroy(t, g1), 0);
	for (i = 0; i < n; i++) {
		page_text(page, 500 + i);
		CHECK_RC(tmem_get(t, g2, 7, i, back), 0);
		CHECK(memcmp(page, back, sizeof page) == 0);
	}
	CHECK(pool_info(t, sid).stats.bytes_compressed ==
	      i3.stats.bytes_compressed);
	CHECK_RC(tmem_check(t), 0);
	/* A page another key shares is no candidate for a move out. */
	page_text(page, 500);
	CHECK_RC(tmem_put(t, g3, 2, 0, page), 0);
	CHECK_RC(tmem_get(t, g3, 2, 0, back), 0);
	CHECK_RC(tmem_get(t, g3, 1, 0, back), 0);
	CHECK_RC(tmem_read_back(t, g3, 2, 0), 0);
	CHECK_RC(tmem_flush_page(t, g3, 2, 0), 0);
	CHECK_RC(tmem_read_back(t, g3, 1, 0), 1);
	/* This process stores there: it may not destroy it (a put of its own
	 * may be on its way in). */
	CHECK_RC(tmem_pool_destroy(t, sid), -EBUSY);
	tmem_close(t);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "g2", TMEM_PERSISTENT, 0, 0, &g2), 0);
	CHECK_RC(tmem_pool_destroy(t, sid), -ENOTEMPTY);
	CHECK_RC(tmem_flush_object(t, g2, 7), 0);
	CHECK(pool_info(t, sid).stats.bytes_compressed == 0);
	CHECK_RC(tmem_check(t), 0);
	/* Empty, it may go; g2's later puts then use its own chunks. */
	CHECK_RC(tmem_pool_destroy(t, sid), 0);
	page_text(page, 900);
	CHECK_RC(tmem_put(t, g2, 8, 0, page), 0);
	CHECK_RC(tmem_get(t, g2, 8, 0, back), 0);
	CHECK(memcmp(page, back, sizeof page) == 0);
	CHECK(pool_info(t, g2).stats.bytes_compressed > 0);
	CHECK_RC(tmem_check(t), 0);

	/* A reserved minimum could not be used by pages kept in .shared. */
	CHECK_RC(tmem_pool_open(t, "m", TMEM_PERSISTENT, 1 << 20, 0, &g1), 0);
	CHECK_RC(tmem_pool_set_dedup(t, g1, TMEM_DEDUP_POOL), -EINVAL);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);

	/* A segment made with dedup off shares nothing: the pages stay in
	 * the sub-pool's own chunks, under its cap. */
	test_options(&o, name, 16 << 20);
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "g1", TMEM_PERSISTENT, 0, 0, &g1), 0);
	CHECK_RC(tmem_pool_set_dedup(t, g1, TMEM_DEDUP_POOL), 0);
	CHECK_RC(tmem_pool_find(t, TMEM_SHARED_POOL, &sid), 0);
	page_text(page, 77);
	CHECK_RC(tmem_put(t, g1, 1, 0, page), 0);
	CHECK(pool_info(t, g1).stats.bytes_compressed > 0);
	CHECK(pool_info(t, sid).stats.bytes_compressed == 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

int main(void)
{
	const char *name = test_segment_name("dedup");
	struct tmem_pool_info ia, ib;
	struct tmem_options o;
	struct tmem *t;
	uint32_t a, b, c, d, old;
	int kind;

	test_options(&o, name, 16 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);

	for (kind = TMEM_PERSISTENT; kind <= TMEM_EPHEMERAL; kind++) {
		char na[8], nb[8];

		snprintf(na, sizeof na, "a%d", kind);
		snprintf(nb, sizeof nb, "b%d", kind);
		CHECK_RC(tmem_pool_open(t, na, kind, 0, 0, &a), 0);
		CHECK_RC(tmem_pool_open(t, nb, kind, 0, 0, &b), 0);
		CHECK(pool_info(t, a).dedup == TMEM_DEDUP_SUBPOOL);

		/* The default: a sub-pool shares its own pages, never
		 * another's, even of the same kind. */
		page_text(page, 100 + kind);
		put_twice_then_other(t, a, b);
		ia = pool_info(t, a);
		ib = pool_info(t, b);
		CHECK(ia.stats.dedup_hits == 1);
		CHECK(ib.stats.dedup_hits == 0);
		CHECK(ib.stats.bytes_compressed > 0);

		/* NONE: every put stores its own copy. */
		CHECK_RC(tmem_pool_set_dedup(t, a, TMEM_DEDUP_NONE), 0);
		CHECK(pool_info(t, a).dedup == TMEM_DEDUP_NONE);
		page_text(page, 200 + kind);
		CHECK_RC(tmem_put(t, a, 2, 0, page), 0);
		CHECK_RC(tmem_put(t, a, 2, 1, page), 0);
		CHECK_RC(tmem_put(t, a, 2, 2, page), 0);
		ia = pool_info(t, a);
		CHECK(ia.stats.dedup_hits == 1); /* the one from before */
		CHECK_RC(tmem_get(t, a, 2, 2, back), 0);
		CHECK(memcmp(page, back, sizeof page) == 0);
		/* Back to SUBPOOL: shares again. */
		CHECK_RC(tmem_pool_set_dedup(t, a, TMEM_DEDUP_SUBPOOL), 0);
		CHECK_RC(tmem_put(t, a, 2, 3, page), 0);
		CHECK(pool_info(t, a).stats.dedup_hits == 2);
		CHECK_RC(tmem_check(t), 0);
	}

	/* A sub-pool made again in a freed slot starts with the default. */
	CHECK_RC(tmem_pool_open(t, "c", TMEM_EPHEMERAL, 0, 0, &c), 0);
	CHECK_RC(tmem_pool_set_dedup(t, c, TMEM_DEDUP_NONE), 0);
	old = c;
	CHECK_RC(tmem_pool_destroy(t, c), 0);
	CHECK_RC(tmem_pool_set_dedup(t, old, TMEM_DEDUP_NONE), -ENOENT);
	CHECK_RC(tmem_pool_open(t, "d", TMEM_EPHEMERAL, 0, 0, &d), 0);
	CHECK(pool_info(t, d).dedup == TMEM_DEDUP_SUBPOOL);
	CHECK_RC(tmem_pool_set_dedup(t, d, (enum tmem_dedup_scope)7), -EINVAL);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);

	/* Read-only: refused. */
	o.readonly = true;
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_set_dedup(t, d, TMEM_DEDUP_NONE), -EROFS);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	test_pool_scope();
	printf("test-pool-dedup: passed\n");
	return 0;
}
