/* tmem: compaction bounds fragmentation.  Fill a persistent pool, flush
 * fourteen pages out of every fifteen (every chunk keeps one live page),
 * and the space must come back for new pages: the put path compacts.
 * Then churn, as swap does: pages of many sizes overwritten at random
 * until every chunk has decayed, with the live payload at 70% of the
 * pool, then at 88% (each key keeping its size): every put must still find
 * room.  At 88% the chunks decay evenly to about nine tenths live, so a
 * put that compacted only chunks up to seven eighths live was refused. */
#include <config.h>

#include "test-pool.h"

#define PER_CHUNK 16

/* A page that compresses to roughly len bytes: random, then text. */
static void page_sized(unsigned char *page, uint64_t seed, unsigned len)
{
	unsigned char rnd[4096];

	page_text(page, seed);
	page_random(rnd, seed);
	memcpy(page, rnd, len);
}

/* Each key keeps its size, so that the payload stays where the fill left
 * it while the churn decays every chunk. */
#define SIZE_OF(k) ((unsigned)((k)*7919 % 2000))

static void test_churn(const char *name, unsigned percent)
{
	enum { KEYS_MAX = 8192 };
	static uint32_t seed_of[KEYS_MAX];
	struct tmem_options o;
	struct tmem_stats st;
	unsigned char page[4096], back[4096];
	uint64_t rng = 42, k, i, keys = 0, pool_bytes = 4 << 20;
	struct tmem *t;
	uint32_t p;

	tmem_unlink(name);
	test_options(&o, name, pool_bytes);
	o.contexts = 2;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (;;) {
		CHECK_RC(tmem_stats_get(t, &st), 0);
		if (st.bytes_compressed >= pool_bytes * percent / 100)
			break;
		CHECK(keys < KEYS_MAX);
		seed_of[keys] = (uint32_t)keys + 1;
		page_sized(page, seed_of[keys], SIZE_OF(keys));
		CHECK_RC(tmem_put(t, p, 3, keys, page), 0);
		keys++;
	}
	for (i = 0; i < keys * 20; i++) {
		k = test_rand(&rng) % keys;
		seed_of[k] = (uint32_t)(keys + i + 1);
		page_sized(page, seed_of[k], SIZE_OF(k));
		CHECK_RC(tmem_put(t, p, 3, k, page), 0);
	}
	CHECK_RC(tmem_stats_get(t, &st), 0);
	printf("test-pool-compact: churn at %u%%: %llu keys overwritten %llu "
	       "times: payload %llu of %llu bytes used\n",
	       percent, (unsigned long long)keys, (unsigned long long)keys * 20,
	       (unsigned long long)st.bytes_compressed,
	       (unsigned long long)st.bytes_used);
	for (k = 0; k < keys; k++) {
		page_sized(page, seed_of[k], SIZE_OF(k));
		CHECK_RC(tmem_get(t, p, 3, k, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
}

int main(void)
{
	const char *name = test_segment_name("compact");
	struct tmem_options o;
	struct tmem_stats st, full;
	unsigned char page[4096], back[4096];
	struct tmem *t;
	uint32_t p;
	uint64_t i, n;
	int r;

	test_options(&o, name, 4 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (n = 0;; n++) {
		page_random(page, n);
		r = tmem_put(t, p, 1, n, page);
		if (r == -ENOSPC)
			break;
		CHECK_RC(r, 0);
	}
	CHECK(n >= 60 * PER_CHUNK);
	CHECK_RC(tmem_stats_get(t, &full), 0);
	for (i = 0; i < n; i++) {
		if (i % PER_CHUNK)
			CHECK_RC(tmem_flush_page(t, p, 1, i), 0);
	}
	CHECK_RC(tmem_check(t), 0);
	/* Nearly all of it is dead space now: new pages must fit. */
	for (i = 0; i < n * 3 / 4; i++) {
		page_random(page, 1000000 + i);
		CHECK_RC(tmem_put(t, p, 2, i, page), 0);
	}
	for (i = 0; i < n; i += PER_CHUNK) {
		page_random(page, i);
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	for (i = 0; i < n * 3 / 4; i++) {
		page_random(page, 1000000 + i);
		CHECK_RC(tmem_get(t, p, 2, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.bytes_used <= full.bytes_used);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	test_churn(name, 70);
	test_churn(name, 88);
	return 0;
}
