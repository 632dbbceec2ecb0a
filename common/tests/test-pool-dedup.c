/* tmem: which stored pages a put may share.  A put that finds an identical
 * page is faster than one that stores it, so sharing is a timing oracle
 * for whoever puts: it stays inside one sub-pool, and a sub-pool whose
 * puts come from users who must not learn of each other's pages (the read
 * cache) shares nothing (TMEM_DEDUP_NONE). */
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
	printf("test-pool-dedup: passed\n");
	return 0;
}
