/* tmem: what sub-pools get when the pool is short (docs/vm.md).
 *
 * Guests' swap devices are persistent sub-pools of one pool.  A sub-pool
 * under its min-share must still get room when the others have taken the
 * rest: the one over its share gets ENOSPC (rejects.nospace), never the
 * one under it.  Once at its minimum, that sub-pool competes like the
 * others.  A sub-pool at its max-share gets ENOSPC (rejects.pool_max)
 * while the pool still has room.  Incompressible pages, 16 to a chunk.
 */
#include <config.h>

#include <time.h>

#include "test-pool.h"

#define PER_CHUNK 16
#define CHUNK	  (64 * 1024)

static unsigned char page[4096];

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The sub-pool's reject counter. */
static uint64_t pool_rejects(struct tmem *t, uint32_t id, enum tmem_reject why)
{
	struct tmem_pool_info pi[8];
	int n, i;

	n = tmem_pool_list(t, pi, 8);
	CHECK(n > 0 && n <= 8);
	for (i = 0; i < n; i++)
		if (pi[i].id == id)
			return pi[i].stats.rejects[why];
	CHECK(!"sub-pool not listed");
	return 0;
}

/* Put pages 0.. of object 1 in pool p until a put is refused for good
 * (a refusal counted as why; refusals while the reserve refills are
 * retried); at most max pages.  Returns the pages stored. */
static uint64_t fill(struct tmem *t, uint32_t p, uint64_t seed, uint64_t max,
		     enum tmem_reject why)
{
	uint64_t i, retries = 0, before;
	int r;

	for (i = 0; i < max; i++) {
		page_random(page, seed + i);
		for (;;) {
			before = pool_rejects(t, p, why);
			r = tmem_put(t, p, 1, i, page);
			if (r != -ENOSPC)
				break;
			if (pool_rejects(t, p, why) > before)
				return i;
			CHECK(++retries < 200000);
			sleep_ms(1);
		}
		CHECK_RC(r, 0);
	}
	return i;
}

static void test_min_share(const char *name)
{
	struct tmem_options o;
	struct tmem_segment_info si;
	struct tmem *t;
	uint64_t chunks, a_pages, b_pages;
	uint32_t a, b;

	test_options(&o, name, 2 << 20);
	o.grower = true;
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_segment_info(t, &si), 0);
	/* Every chunk of the ceiling but the compaction spare. */
	chunks = (si.pool_size / CHUNK) - 1;
	CHECK_RC(tmem_pool_open(t, "guest-a", TMEM_PERSISTENT, 0, 0, &a), 0);
	CHECK_RC(
		tmem_pool_open(t, "guest-b", TMEM_PERSISTENT, 8 * CHUNK, 0, &b),
		0);
	/* guest-a takes all it can: it is refused with the 8 chunks owed
	 * to guest-b still free. */
	a_pages = fill(t, a, 0, UINT64_MAX, TMEM_REJECT_NOSPACE);
	if (a_pages != (chunks - 8) * PER_CHUNK)
		fprintf(stderr, "guest-a stored %llu pages, expected %llu\n",
			(unsigned long long)a_pages,
			(unsigned long long)((chunks - 8) * PER_CHUNK));
	CHECK(a_pages == (chunks - 8) * PER_CHUNK);
	CHECK(pool_rejects(t, a, TMEM_REJECT_NOSPACE) == 1);
	/* guest-b, under its minimum, still gets all of it ... */
	b_pages = fill(t, b, 1000000, 8 * PER_CHUNK, TMEM_REJECT_NOSPACE);
	CHECK(b_pages == 8 * PER_CHUNK);
	CHECK(pool_rejects(t, b, TMEM_REJECT_NOSPACE) == 0);
	/* ... and at it, competes like anyone: the pool is full. */
	page_random(page, 2000000);
	sleep_ms(60);
	CHECK_RC(tmem_put(t, b, 2, 0, page), -ENOSPC);
	CHECK(pool_rejects(t, b, TMEM_REJECT_NOSPACE) == 1);
	/* guest-a is still refused, and what both stored reads back. */
	page_random(page, 3000000);
	CHECK_RC(tmem_put(t, a, 2, 0, page), -ENOSPC);
	CHECK(pool_rejects(t, a, TMEM_REJECT_NOSPACE) == 2);
	{
		unsigned char back[4096];
		uint64_t i;

		for (i = 0; i < a_pages; i += 37) {
			page_random(page, i);
			CHECK_RC(tmem_get(t, a, 1, i, back), 0);
			CHECK(memcmp(page, back, 4096) == 0);
		}
		for (i = 0; i < b_pages; i += 7) {
			page_random(page, 1000000 + i);
			CHECK_RC(tmem_get(t, b, 1, i, back), 0);
			CHECK(memcmp(page, back, 4096) == 0);
		}
	}
	/* Room that guest-a frees goes to whoever asks first. */
	CHECK_RC(tmem_flush_object(t, a, 1), 0);
	sleep_ms(120);
	CHECK(fill(t, b, 4000000, 4 * PER_CHUNK, TMEM_REJECT_NOSPACE) ==
	      4 * PER_CHUNK);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

static void test_max_share(const char *name)
{
	struct tmem_options o;
	struct tmem *t;
	uint64_t c_pages, d_pages;
	uint32_t c, d;

	test_options(&o, name, 2 << 20);
	o.grower = true;
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(
		tmem_pool_open(t, "guest-c", TMEM_PERSISTENT, 0, 4 * CHUNK, &c),
		0);
	CHECK_RC(tmem_pool_open(t, "guest-d", TMEM_PERSISTENT, 0, 0, &d), 0);
	/* guest-c stops at its cap, not for want of room ... */
	c_pages = fill(t, c, 0, UINT64_MAX, TMEM_REJECT_POOL_MAX);
	CHECK(c_pages == 4 * PER_CHUNK);
	CHECK(pool_rejects(t, c, TMEM_REJECT_POOL_MAX) == 1);
	CHECK(pool_rejects(t, c, TMEM_REJECT_NOSPACE) == 0);
	/* ... which guest-d still has. */
	d_pages = fill(t, d, 1000000, 8 * PER_CHUNK, TMEM_REJECT_NOSPACE);
	CHECK(d_pages == 8 * PER_CHUNK);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

int main(void)
{
	test_min_share(test_segment_name("shares"));
	test_max_share(test_segment_name("shares"));
	printf("shares: ok\n");
	return 0;
}
