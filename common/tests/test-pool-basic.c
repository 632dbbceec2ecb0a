/* tmem: round trips of every kind of page, overwrite, flush, probe,
 * sub-pools and statistics on one segment. */
#include <config.h>

#include "test-pool.h"

static unsigned char page[4096], back[4096];

static void round_trip(struct tmem *t, uint32_t pool, uint64_t obj,
		       uint64_t idx)
{
	CHECK_RC(tmem_put(t, pool, obj, idx, page), 0);
	memset(back, 0xee, sizeof back);
	CHECK_RC(tmem_get(t, pool, obj, idx, back), 0);
	CHECK(memcmp(page, back, 4096) == 0);
}

/* Every level works with the contexts made up front, fast ones too. */
static void test_levels(const char *name)
{
	static const int levels[] = {-7, -1, 1, 9, 19};
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	uint32_t p;
	size_t l;
	uint64_t i;

	for (l = 0; l < sizeof levels / sizeof levels[0]; l++) {
		test_options(&o, name, 4 << 20);
		o.level = levels[l];
		CHECK_RC(tmem_open(&o, &t), 0);
		CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
		for (i = 0; i < 20; i++) {
			page_text(page, i * 7 + l);
			round_trip(t, p, 1, i);
		}
		CHECK_RC(tmem_stats_get(t, &st), 0);
		CHECK(st.raw_pages == 0);
		CHECK(st.bytes_compressed < 20 * 2048);
		CHECK(st.rejects[TMEM_REJECT_COMPRESS_FAIL] == 0);
		tmem_close(t);
		CHECK_RC(tmem_unlink(name), 0);
	}
}

static struct tmem_stats pool_stats(struct tmem *t, uint32_t id)
{
	struct tmem_pool_info info[4];
	int i, n = tmem_pool_list(t, info, 4);

	for (i = 0; i < n; i++)
		if (info[i].id == id)
			return info[i].stats;
	CHECK(!"sub-pool listed");
	return info[0].stats;
}

/* A persistent page read since it was written is counted as read back
 * (likely stale swap), with the payload it holds, until it is written
 * again or dropped; an ephemeral sub-pool's reads mark nothing; repair's
 * recount (tmem_check) agrees at every step; tmem_read_back answers 1
 * for exactly the stored pages so marked. */
static void test_read_back(const char *name)
{
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	uint32_t p, e;
	uint64_t i, payload;

	test_options(&o, name, 8 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	for (i = 0; i < 8; i++) {
		page_text(page, 300 + i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
		CHECK_RC(tmem_put(t, e, 1, i, page), 0);
		CHECK_RC(tmem_get(t, e, 1, i, back), 0);
	}
	st = pool_stats(t, p);
	payload = st.bytes_compressed;
	CHECK(payload > 0);
	CHECK(st.pages_read_back == 0 && st.bytes_read_back == 0);
	st = pool_stats(t, e);
	CHECK(st.pages_read_back == 0 && st.bytes_read_back == 0);
	CHECK_RC(tmem_read_back(t, p, 1, 0), 0);
	CHECK_RC(tmem_read_back(t, e, 1, 0), 0); /* a cache read marks none */
	/* Read every page, some twice: each counts once. */
	for (i = 0; i < 8; i++)
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
	CHECK_RC(tmem_read_back(t, p, 1, 7), 1);
	CHECK_RC(tmem_read_back(t, p, 1, 8), 0);	/* absent */
	CHECK_RC(tmem_read_back(t, 63, 1, 0), -ENOENT); /* no such pool */
	for (i = 0; i < 4; i++)
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
	st = pool_stats(t, p);
	CHECK(st.pages_read_back == 8);
	CHECK(st.bytes_read_back == payload);
	CHECK_RC(tmem_check(t), 0);
	/* Written again: live, not read back. */
	page_text(page, 400);
	CHECK_RC(tmem_put(t, p, 1, 0, page), 0);
	/* A zero page read back holds no payload. */
	memset(page, 0, sizeof page);
	CHECK_RC(tmem_put(t, p, 1, 1, page), 0);
	CHECK_RC(tmem_get(t, p, 1, 1, back), 0);
	CHECK_RC(tmem_read_back(t, p, 1, 0), 0); /* written again */
	CHECK_RC(tmem_read_back(t, p, 1, 1), 0); /* a zero page: no payload */
	/* Flushed: gone from the figures. */
	CHECK_RC(tmem_flush_page(t, p, 1, 2), 0);
	st = pool_stats(t, p);
	CHECK(st.pages_read_back == 6);
	CHECK(st.bytes_read_back < payload);
	CHECK(st.bytes_read_back > 0);
	CHECK_RC(tmem_check(t), 0);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.pages_read_back == 6);
	CHECK_RC(tmem_flush_object(t, p, 1), 0);
	st = pool_stats(t, p);
	CHECK(st.pages_read_back == 0 && st.bytes_read_back == 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

int main(void)
{
	const char *name = test_segment_name("basic");
	struct tmem_options o;
	struct tmem_stats st, base;
	struct tmem_pool_info info[4];
	struct tmem *t;
	uint32_t p, e, p2, old;
	enum tmem_page_state ps;
	uint64_t i;

	test_options(&o, name, 16 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_check(t), 0);
	CHECK_RC(tmem_stats_get(t, &base), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p2), 0);
	CHECK(p2 == p);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_EPHEMERAL, 0, 0, &p2), -EEXIST);
	CHECK_RC(tmem_pool_find(t, "cache", &p2), 0);
	CHECK(p2 == e);
	CHECK_RC(tmem_pool_find(t, "nope", &p2), -ENOENT);

	/* Zero, same-filled, text, random. */
	memset(page, 0, sizeof page);
	round_trip(t, p, 1, 0);
	CHECK_RC(tmem_probe(t, p, 1, 0, &ps), 0);
	CHECK(ps == TMEM_PAGE_ZERO);
	page_fill64(page, 0xbeefbeefbeefbeefULL);
	round_trip(t, p, 1, 1);
	CHECK_RC(tmem_probe(t, p, 1, 1, &ps), 0);
	CHECK(ps == TMEM_PAGE_DATA);
	/* A wider pattern is stored compressed, and round-trips too. */
	page_fill64(page, 0x0123456789abcdefULL);
	round_trip(t, p, 1, 2);
	CHECK_RC(tmem_flush_page(t, p, 1, 2), 0);
	for (i = 0; i < 200; i++) {
		page_text(page, i);
		round_trip(t, p, 2, i);
		page_random(page, i);
		round_trip(t, e, 3, i);
	}
	CHECK_RC(tmem_probe(t, p, 9, 9, &ps), 0);
	CHECK(ps == TMEM_PAGE_ABSENT);
	CHECK_RC(tmem_get(t, p, 9, 9, back), -ENOENT);
	/* Everything is still there afterwards. */
	for (i = 0; i < 200; i++) {
		page_text(page, i);
		CHECK_RC(tmem_get(t, p, 2, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
		page_random(page, i);
		CHECK_RC(tmem_get(t, e, 3, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.pages_stored == 402);
	CHECK(st.zero_pages == 1);
	CHECK(st.same_filled_pages == 1);
	CHECK(st.raw_pages == 200);
	CHECK(st.dedup_hits == 0);
	CHECK(st.bytes_represented == 402 * 4096);
	CHECK(st.bytes_compressed > 200 * 4096);
	CHECK(st.bytes_compressed < 200 * 4096 + 200 * 2048);
	/* An entry (32 bytes) per key, a record (16) per blob: the zero and
	 * the same-filled page have none. */
	CHECK(st.bytes_index == 402 * 32 + 400 * 16);
	CHECK_RC(tmem_check(t), 0);

	/* Duplicates share a blob. */
	page_text(page, 5);
	round_trip(t, p, 4, 0);
	round_trip(t, p, 4, 1);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.dedup_hits == 2);
	CHECK(st.bytes_index == 404 * 32 + 400 * 16); /* no new blob */
	/* Overwrite: the new content, never the old. */
	page_text(page, 1000);
	round_trip(t, p, 2, 7);
	memset(page, 0, sizeof page);
	round_trip(t, p, 2, 8);
	page_text(page, 1001);
	round_trip(t, p, 2, 8);
	CHECK_RC(tmem_check(t), 0);

	/* Flush a page, an object, a pool. */
	CHECK_RC(tmem_flush_page(t, p, 2, 7), 0);
	CHECK_RC(tmem_get(t, p, 2, 7, back), -ENOENT);
	CHECK_RC(tmem_flush_page(t, p, 2, 7), 0);
	CHECK_RC(tmem_flush_object(t, p, 2), 0);
	for (i = 0; i < 200; i++)
		CHECK_RC(tmem_get(t, p, 2, i, back), -ENOENT);
	CHECK_RC(tmem_get(t, p, 4, 1, back), 0);
	CHECK_RC(tmem_check(t), 0);
	CHECK(tmem_pool_list(t, info, 4) == 2);
	CHECK(info[1].stats.pages_stored == 200);
	CHECK(info[1].kind == TMEM_EPHEMERAL);
	CHECK(strcmp(info[1].name, "cache") == 0);
	old = e;
	CHECK_RC(tmem_pool_destroy(t, e), 0);
	CHECK_RC(tmem_get(t, old, 3, 0, back), -ENOENT);
	CHECK_RC(tmem_put(t, old, 3, 0, page), -ENOENT);
	CHECK_RC(tmem_pool_destroy(t, old), -ENOENT);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	CHECK(e != old);
	CHECK_RC(tmem_get(t, e, 3, 0, back), -ENOENT);
	CHECK(tmem_pool_list(t, info, 4) == 2);
	CHECK(info[1].stats.puts == 0);
	CHECK_RC(tmem_check(t), 0);

	/* Everything flushed: back to the starting footprint. */
	CHECK_RC(tmem_flush_object(t, p, 1), 0);
	CHECK_RC(tmem_flush_object(t, p, 4), 0);
	/* A range: exactly its pages go, of that object only. */
	for (i = 0; i < 10; i++) {
		page_text(page, 900 + i);
		CHECK_RC(tmem_put(t, p, 9, i, page), 0);
		CHECK_RC(tmem_put(t, p, 10, i, page), 0);
	}
	CHECK_RC(tmem_flush_range(t, p, 9, 2, 3), 0);
	for (i = 0; i < 10; i++) {
		CHECK_RC(tmem_get(t, p, 9, i, back),
			 i >= 2 && i < 5 ? -ENOENT : 0);
		CHECK_RC(tmem_get(t, p, 10, i, back), 0);
	}
	CHECK_RC(tmem_flush_range(t, p, 9, UINT64_MAX, 2), -EINVAL);
	CHECK_RC(tmem_flush_range(t, p, 9, 0, 0), 0);
	CHECK_RC(tmem_flush_range(t, p, 9, 0, 10), 0);
	CHECK_RC(tmem_flush_range(t, p, 10, 0, 10), 0);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.pages_stored == 0);
	CHECK(st.bytes_compressed == 0);
	CHECK(st.bytes_used == base.bytes_used);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	test_levels(name);
	test_read_back(name);
	return 0;
}
