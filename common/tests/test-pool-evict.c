/* tmem: capacity — CLOCK eviction of ephemeral chunks with a second chance
 * for pages that were read, persistent pages never evicted, -ENOSPC when
 * only persistent data is left (and the older version of the key kept),
 * a sub-pool's maximum and minimum shares. */
#include <config.h>

#include "test-pool.h"

/* Raw pages fill their own chunks, 16 to a 64 KiB chunk. */
#define PER_CHUNK 16

static unsigned char page[4096], back[4096];

static bool present(struct tmem *t, uint32_t pool, uint64_t obj, uint64_t i,
		    bool random)
{
	int r = tmem_get(t, pool, obj, i, back);

	if (r == -ENOENT)
		return false;
	CHECK_RC(r, 0);
	if (random)
		page_random(page, obj * 100000 + i);
	else
		page_text(page, obj * 100000 + i);
	CHECK(memcmp(page, back, 4096) == 0);
	return true;
}

static void put_random(struct tmem *t, uint32_t pool, uint64_t obj, uint64_t i,
		       int want)
{
	page_random(page, obj * 100000 + i);
	CHECK_RC(tmem_put(t, pool, obj, i, page), want);
}

static void test_clock(void)
{
	const char *name = test_segment_name("evict");
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	uint32_t e, p, q;
	uint64_t i, n, chunks;
	int r;

	/* 2 MiB: 32 usable chunks (chunk 0 lies beyond the ceiling); one
	 * context so that chunks fill in order. */
	test_options(&o, name, 2 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	/* One chunk stays free for compaction. */
	chunks = 31;
	n = chunks * PER_CHUNK;
	for (i = 0; i < n; i++)
		put_random(t, e, 1, i, 0);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.evictions == 0);
	CHECK(st.raw_pages == n);
	/* Read the first chunk's pages: they get a second chance. */
	for (i = 0; i < PER_CHUNK; i++)
		CHECK(present(t, e, 1, i, true));
	put_random(t, e, 1, n, 0);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.evictions == PER_CHUNK);
	for (i = 0; i < PER_CHUNK; i++)
		CHECK(present(t, e, 1, i, true));
	for (i = PER_CHUNK; i < 2 * PER_CHUNK; i++)
		CHECK(!present(t, e, 1, i, true));
	for (i = 2 * PER_CHUNK; i <= n; i++)
		CHECK(present(t, e, 1, i, true));
	CHECK_RC(tmem_check(t), 0);

	/* Persistent pages push the cache out and are never evicted. */
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0;; i++) {
		page_random(page, 2 * 100000 + i);
		r = tmem_put(t, p, 2, i, page);
		if (r == -ENOSPC)
			break;
		CHECK_RC(r, 0);
		CHECK(i < 10000);
	}
	/* Less the cache's open chunks (up to four). */
	CHECK(i >= (chunks - 4) * PER_CHUNK);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.rejects[TMEM_REJECT_NOSPACE] >= 1);
	for (n = 0; n < i; n++)
		CHECK(present(t, p, 2, n, true));
	/* Only the chunks the cache is still filling (open) may remain. */
	{
		uint64_t left = 0;

		for (n = 0; n <= chunks * PER_CHUNK; n++)
			left += present(t, e, 1, n, true);
		CHECK(left <= 4 * PER_CHUNK);
	}
	/* A persistent put that fails leaves the key as it was: its older
	 * version reads back, never nothing (a swap device's refused write
	 * must not turn the page to zeros). */
	page_random(page, 999999);
	CHECK_RC(tmem_put(t, p, 2, 0, page), -ENOSPC);
	CHECK(present(t, p, 2, 0, true));
	/* Ephemeral puts can only evict ephemeral data (their own chunk
	 * here), never persistent pages. */
	for (n = 0; n <= 2 * PER_CHUNK; n++) {
		page_random(page, 1 * 100000 + n);
		CHECK_RC(tmem_put(t, e, 1, n, page), 0);
	}
	CHECK(present(t, e, 1, 2 * PER_CHUNK, true));
	for (n = 0; n < i; n++)
		CHECK(present(t, p, 2, n, true));
	/* Zero pages need no space. */
	memset(page, 0, sizeof page);
	CHECK_RC(tmem_put(t, p, 3, 0, page), 0);
	CHECK_RC(tmem_check(t), 0);
	CHECK_RC(tmem_pool_destroy(t, p), 0);
	CHECK_RC(tmem_check(t), 0);

	/* Maximum share: a capped cache evicts its own chunks only. */
	CHECK_RC(tmem_pool_open(t, "small", TMEM_EPHEMERAL, 0, 4 << 16, &q), 0);
	for (i = 0; i < 10 * PER_CHUNK; i++)
		put_random(t, q, 4, i, 0);
	CHECK(tmem_pool_list(t, NULL, 0) == 2);
	{
		struct tmem_pool_info info[2];

		CHECK(tmem_pool_list(t, info, 2) == 2);
		CHECK(info[1].stats.bytes_resident <= 4 << 16);
		CHECK(info[1].stats.evictions > 0);
	}
	for (i = 10 * PER_CHUNK - 2 * PER_CHUNK; i < 10 * PER_CHUNK; i++)
		CHECK(present(t, q, 4, i, true));
	/* A capped persistent pool says no instead. */
	CHECK_RC(tmem_pool_open(t, "pcap", TMEM_PERSISTENT, 0, 2 << 16, &p), 0);
	for (i = 0; i < 3 * PER_CHUNK; i++) {
		page_random(page, 5 * 100000 + i);
		r = tmem_put(t, p, 5, i, page);
		if (r)
			break;
	}
	CHECK_RC(r, -ENOSPC);
	CHECK(i <= 2 * PER_CHUNK);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.rejects[TMEM_REJECT_POOL_MAX] >= 1);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	tmem_unlink(name);
}

/* Minimum share: another cache cannot push a pool below its minimum. */
static void test_min(void)
{
	const char *name = test_segment_name("evictmin");
	struct tmem_options o;
	struct tmem *t;
	uint32_t a, b;
	uint64_t i;

	test_options(&o, name, 2 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_EPHEMERAL, 8 << 16, 0, &a), 0);
	CHECK_RC(tmem_pool_open(t, "b", TMEM_EPHEMERAL, 0, 0, &b), 0);
	for (i = 0; i < 7 * PER_CHUNK; i++)
		put_random(t, a, 1, i, 0);
	for (i = 0; i < 100 * PER_CHUNK; i++)
		put_random(t, b, 2, i, 0);
	for (i = 0; i < 7 * PER_CHUNK; i++)
		CHECK(present(t, a, 1, i, true));
	CHECK(present(t, b, 2, 100 * PER_CHUNK - 1, true));
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

static uint64_t evictions(struct tmem *t)
{
	struct tmem_stats st;

	CHECK_RC(tmem_stats_get(t, &st), 0);
	return st.evictions;
}

/* The segment's evictions counter never goes down: not when the pool
 * that evicted is destroyed, nor when its slot is reused, nor across
 * processes attaching anew.  A reused slot's pool starts from zero. */
static void test_evictions_monotonic(void)
{
	const char *name = test_segment_name("evictmono");
	struct tmem_pool_info info[2];
	struct tmem_options o;
	struct tmem *t;
	uint64_t i, e1, e2;
	uint32_t c, c2;

	test_options(&o, name, 2 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "c", TMEM_EPHEMERAL, 0, 0, &c), 0);
	for (i = 0; i < 60 * PER_CHUNK; i++)
		put_random(t, c, 1, i, 0);
	e1 = evictions(t);
	CHECK(e1 >= 20 * PER_CHUNK);
	CHECK_RC(tmem_pool_destroy(t, c), 0);
	CHECK(evictions(t) == e1);
	CHECK_RC(tmem_pool_open(t, "d", TMEM_EPHEMERAL, 0, 0, &c2), 0);
	CHECK((c2 & 0xff) == (c & 0xff)); /* the same slot, reused */
	CHECK(evictions(t) == e1);
	CHECK_RC(tmem_pool_list(t, info, 2), 1);
	CHECK(info[0].stats.evictions == 0);
	tmem_close(t);
	/* Another process slot, and a pool that evicts again. */
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK(evictions(t) == e1);
	for (i = 0; i < 60 * PER_CHUNK; i++)
		put_random(t, c2, 2, i, 0);
	e2 = evictions(t);
	CHECK(e2 >= e1 + 20 * PER_CHUNK);
	CHECK_RC(tmem_pool_list(t, info, 2), 1);
	CHECK(info[0].stats.evictions == e2 - e1);
	CHECK_RC(tmem_pool_destroy(t, c2), 0);
	CHECK(evictions(t) == e2);
	CHECK_RC(tmem_check(t), 0);
	CHECK(evictions(t) == e2);
	tmem_close(t);
	tmem_unlink(name);
}

/* A chunk that a context kept open while the hand went round (older pages
 * in it, then new ones) was marked by the hand as it passed: closed, its
 * new pages get a turn, and chunks filled before them go first.  Without
 * it the chunk went at the first eviction after it closed.  The FUSE
 * cache's admission at the second miss relies on it: a page admitted
 * must outlive the scan that follows. */
static void test_late_close(void)
{
	const char *name = test_segment_name("evictlate");
	struct tmem_options o;
	struct tmem *a, *b;
	uint32_t q;
	uint64_t i;

	test_options(&o, name, 2 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &a), 0);
	CHECK_RC(tmem_open(&o, &b), 0);
	CHECK_RC(tmem_pool_open(a, "late", TMEM_EPHEMERAL, 0, 4 << 16, &q), 0);
	/* a's open chunk: half of it old pages. */
	for (i = 0; i < PER_CHUNK / 2; i++)
		put_random(a, q, 1, i, 0);
	/* b goes round the cap a few times; a's chunk, open, stays. */
	for (i = 0; i < 10 * PER_CHUNK; i++)
		put_random(b, q, 2, i, 0);
	/* New pages fill a's chunk; one more closes it (and evicts). */
	for (i = PER_CHUNK / 2; i <= PER_CHUNK; i++)
		put_random(a, q, 1, i, 0);
	/* Two more of b's chunks: the two it closed before go. */
	for (i = 10 * PER_CHUNK; i < 12 * PER_CHUNK; i++)
		put_random(b, q, 2, i, 0);
	for (i = PER_CHUNK / 2; i <= PER_CHUNK; i++)
		CHECK(present(a, q, 1, i, true));
	CHECK_RC(tmem_check(a), 0);
	tmem_close(b);
	tmem_close(a);
	tmem_unlink(name);
}

int main(void)
{
	test_clock();
	test_min();
	test_evictions_monotonic();
	test_late_close();
	return 0;
}
