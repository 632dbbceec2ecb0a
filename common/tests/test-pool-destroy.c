/* tmem: nothing of a destroyed sub-pool or a flushed object survives.
 *
 * A sub-pool reopened under the same name gets a new id and sees none of
 * the old pool's pages; a flushed object's pages are all gone while its
 * neighbours' are intact.  Many pages, so that the stripes' buckets shrink
 * while they are swept; and once with other threads putting into other
 * sub-pools while the pool is destroyed and reopened.
 */
#include <config.h>

#include <pthread.h>
#include <stdatomic.h>

#include "test-pool.h"
#include "tmem-internal.h"

static unsigned char page[4096], back[4096];

static void page_make(void *p, bool random, uint64_t seed)
{
	if (random)
		page_random(p, seed);
	else
		page_text(p, seed);
}

/* Every key of the old pool must be a miss in the new one. */
static uint64_t count_visible(struct tmem *t, uint32_t p, uint64_t n)
{
	enum tmem_page_state ps;
	uint64_t i, seen = 0;
	int r;

	for (i = 0; i < n; i++) {
		r = tmem_get(t, p, i % 7, i, back);
		CHECK(r == 0 || r == -ENOENT);
		CHECK_RC(tmem_probe(t, p, i % 7, i, &ps), 0);
		CHECK((r == 0) == (ps != TMEM_PAGE_ABSENT));
		seen += r == 0;
	}
	return seen;
}

/* thin: flush most pages one by one first, so that the stripes keep
 * more buckets than they need when the pool is destroyed. */
static void test_reopen(const char *name, enum tmem_kind kind, uint64_t n,
			bool random, bool thin)
{
	struct tmem_options o;
	struct tmem_pool_info info[4];
	struct tmem *t;
	uint32_t p, p2, other;
	uint64_t i, seen;

	test_options(&o, name, 128 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	/* A neighbour whose pages must all stay: of the same kind, or, when
	 * thinning, of the other (it would keep the stripes from shrinking
	 * and hide what a shrink during the sweep does). */
	CHECK_RC(tmem_pool_open(t, "other",
				thin ? (enum tmem_kind) !kind : kind, 0, 0,
				&other),
		 0);
	CHECK_RC(tmem_pool_open(t, "sub", kind, 0, 0, &p), 0);
	for (i = 0; i < n; i++) {
		page_make(page, random, i);
		CHECK_RC(tmem_put(t, p, i % 7, i, page), 0);
		if (i % 16 == 0) {
			page_make(page, random, i + 1000000);
			CHECK_RC(tmem_put(t, other, i % 7, i, page), 0);
		}
	}
	for (i = 0; thin && i < n; i++) {
		if (i % 10)
			CHECK_RC(tmem_flush_page(t, p, i % 7, i), 0);
	}
	CHECK_RC(tmem_pool_destroy(t, p), 0);
	CHECK_RC(tmem_get(t, p, 0, 0, back), -ENOENT);
	/* This process served the persistent sub-pool: no more (its slot may
	 * become another process's, whose blobs compaction must not move);
	 * its neighbour, thinned, is ephemeral. */
	if (thin && kind == TMEM_PERSISTENT)
		CHECK(atomic_load(&t->own_persistent) == 0);
	CHECK_RC(tmem_pool_open(t, "sub", kind, 0, 0, &p2), 0);
	CHECK(p2 != p);
	seen = count_visible(t, p2, n);
	if (seen)
		fprintf(stderr,
			"%s, %llu pages%s: %llu of the old pool's pages "
			"readable after reopen\n",
			kind == TMEM_PERSISTENT ? "persistent" : "ephemeral",
			(unsigned long long)n, thin ? " (thinned)" : "",
			(unsigned long long)seen);
	CHECK(seen == 0);
	CHECK_RC(tmem_pool_list(t, info, 4), 2);
	CHECK(info[0].stats.pages_stored + info[1].stats.pages_stored ==
	      (n + 15) / 16);
	for (i = 0; i < n; i += 16) {
		page_make(page, random, i + 1000000);
		CHECK_RC(tmem_get(t, other, i % 7, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

static void test_flush_object(const char *name, enum tmem_kind kind, uint64_t n)
{
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;
	uint64_t i, seen = 0;
	int r;

	test_options(&o, name, 128 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "sub", kind, 0, 0, &p), 0);
	for (i = 0; i < n; i++) {
		page_random(page, i);
		CHECK_RC(tmem_put(t, p, i % 3, i, page), 0);
	}
	/* Thin the other objects out: their few pages must not keep the
	 * stripes from shrinking while object 1 is swept. */
	for (i = 0; i < n; i++) {
		if (i % 3 != 1 && i % 30)
			CHECK_RC(tmem_flush_page(t, p, i % 3, i), 0);
	}
	CHECK_RC(tmem_flush_object(t, p, 1), 0);
	for (i = 0; i < n; i++) {
		r = tmem_get(t, p, i % 3, i, back);
		if (i % 3 != 1 && i % 30) {
			CHECK_RC(r, -ENOENT);
			continue;
		}
		if (i % 3 == 1) {
			CHECK(r == 0 || r == -ENOENT);
			seen += r == 0;
			continue;
		}
		CHECK_RC(r, 0);
		page_random(page, i);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	if (seen)
		fprintf(stderr,
			"flush_object, %llu pages: %llu still readable\n",
			(unsigned long long)n, (unsigned long long)seen);
	CHECK(seen == 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

struct writer {
	struct tmem *t;
	uint32_t pool;
	uint64_t object;
	atomic_bool *stop;
	uint64_t puts;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char buf[4096];
	uint64_t i;

	for (i = 0; !atomic_load(w->stop); i++) {
		int r;

		page_text(buf, i % 5000 + w->object * 100000);
		r = tmem_put(w->t, w->pool, w->object, i % 5000, buf);
		CHECK(r == 0 || r == -ENOSPC || r == -EBUSY);
		w->puts++;
	}
	return NULL;
}

/* Destroy and reopen while other threads put into other sub-pools (whose
 * stripes the sweep shares). */
static void test_concurrent(const char *name)
{
	struct tmem_options o;
	struct tmem *t;
	struct writer w[2];
	pthread_t th[2];
	atomic_bool stop = false;
	uint32_t p, old;
	uint64_t i, seen;
	int round, k;

	test_options(&o, name, 128 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	for (k = 0; k < 2; k++) {
		w[k] = (struct writer){
			.t = t, .object = 100 + k, .stop = &stop};
		CHECK_RC(tmem_pool_open(t, k ? "eph" : "pers",
					k ? TMEM_EPHEMERAL : TMEM_PERSISTENT, 0,
					0, &w[k].pool),
			 0);
		CHECK(pthread_create(&th[k], NULL, writer_main, &w[k]) == 0);
	}
	CHECK_RC(tmem_pool_open(t, "victim", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (round = 0; round < 6; round++) {
		for (i = 0; i < 6000; i++) {
			page_random(page, i + (uint64_t)round * 7);
			CHECK_RC(tmem_put(t, p, i % 7, i, page), 0);
		}
		for (i = 0; round % 2 && i < 6000; i++) {
			if (i % 10)
				CHECK_RC(tmem_flush_page(t, p, i % 7, i), 0);
		}
		old = p;
		CHECK_RC(tmem_pool_destroy(t, p), 0);
		CHECK_RC(tmem_pool_open(t, "victim", TMEM_PERSISTENT, 0, 0, &p),
			 0);
		CHECK(p != old);
		seen = count_visible(t, p, 6000);
		if (seen)
			fprintf(stderr, "round %d: %llu stale pages\n", round,
				(unsigned long long)seen);
		CHECK(seen == 0);
	}
	atomic_store(&stop, true);
	for (k = 0; k < 2; k++)
		CHECK(pthread_join(th[k], NULL) == 0);
	CHECK(w[0].puts > 0 && w[1].puts > 0);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	CHECK_RC(tmem_unlink(name), 0);
}

int main(void)
{
	const char *name = test_segment_name("destroy");

	test_reopen(name, TMEM_PERSISTENT, 2560, true, false);
	test_reopen(name, TMEM_EPHEMERAL, 2560, true, false);
	test_reopen(name, TMEM_PERSISTENT, 20000, false, true);
	test_reopen(name, TMEM_EPHEMERAL, 20000, false, true);
	test_reopen(name, TMEM_PERSISTENT, 20000, false, false);
	test_reopen(name, TMEM_EPHEMERAL, 20000, false, false);
	test_flush_object(name, TMEM_PERSISTENT, 20000);
	test_flush_object(name, TMEM_EPHEMERAL, 20000);
	test_concurrent(name);
	return 0;
}
