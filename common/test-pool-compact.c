/* tmem: compaction bounds fragmentation.  Fill a persistent pool, flush
 * fourteen pages out of every fifteen (every chunk keeps one live page),
 * and the space must come back for new pages: the put path compacts. */
#include <config.h>

#include "test-pool.h"

#define PER_CHUNK 16

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
	return 0;
}
