/* tmem: the count of references to evicted (doomed) blobs.  Eviction adds
 * the references a blob had; every way an entry naming such a blob goes —
 * a get that misses on it, an overwrite, a flush of the page or of the
 * object, a sweep, a destroyed sub-pool — must take its own off.  A count
 * left high keeps the grower sweeping every ephemeral stripe for ever. */
#include <config.h>

#include <inttypes.h>

#include "test-pool.h"
#include "tmem-internal.h"

static unsigned char page[4096];

static uint64_t ghosts(struct tmem *t)
{
	return atomic_load(&t->hdr->ghosts);
}

/* Fill an ephemeral sub-pool capped at 4 chunks with n keys of object obj
 * (each page stored twice, under index i and i + n, to share its blob):
 * the first ones are evicted and their entries become ghosts. */
static void fill(struct tmem *t, uint32_t p, uint64_t obj, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		page_random(page, obj * 1000 + i);
		CHECK_RC(tmem_put(t, p, obj, i, page), 0);
		CHECK_RC(tmem_put(t, p, obj, i + n, page), 0);
	}
}

static uint32_t evicting_pool(struct tmem *t, const char *name)
{
	uint32_t p;

	CHECK_RC(tmem_pool_open(t, name, TMEM_EPHEMERAL, 0, 4 * 65536, &p), 0);
	return p;
}

int main(void)
{
	const char *name = test_segment_name("ghosts");
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;
	uint64_t i, g;

	test_options(&o, name, 4 << 20);
	o.contexts = 1;
	CHECK_RC(tmem_open(&o, &t), 0);

	/* flush_object */
	p = evicting_pool(t, "a");
	fill(t, p, 1, 200);
	g = ghosts(t);
	printf("after filling: %" PRIu64 " ghost references\n", g);
	CHECK(g > 0);
	CHECK_RC(tmem_flush_object(t, p, 1), 0);
	CHECK(ghosts(t) == 0);

	/* flush_page, overwrite and a get that misses, key by key */
	fill(t, p, 2, 200);
	CHECK(ghosts(t) > 0);
	for (i = 0; i < 200; i++) {
		CHECK_RC(tmem_flush_page(t, p, 2, i), 0);
		page_random(page, 77 + i);
		CHECK_RC(tmem_put(t, p, 2, i + 200, page), 0);
	}
	for (i = 0; i < 400; i++)
		tmem_get(t, p, 2, i, page);
	CHECK_RC(tmem_flush_object(t, p, 2), 0);
	CHECK(ghosts(t) == 0);

	/* a sweep, then a destroyed sub-pool */
	fill(t, p, 3, 200);
	tmem_index_sweep_ghosts(t);
	CHECK(ghosts(t) == 0);
	fill(t, p, 4, 200);
	CHECK(ghosts(t) > 0);
	CHECK_RC(tmem_pool_destroy(t, p), 0);
	CHECK(ghosts(t) == 0);
	CHECK_RC(tmem_check(t), 0);

	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
	printf("test-pool-ghosts: passed\n");
	return 0;
}
