/* fc-pressure: put the pool under pressure from a second process.
 *
 *   fc-pressure SEGMENT put PAGES    store PAGES distinct incompressible
 *                                    pages in a persistent sub-pool of its
 *                                    own, check them, drop the sub-pool
 *   fc-pressure SEGMENT stats NAME   print the statistics of sub-pool NAME
 *
 * Persistent pages take priority over ephemeral ones, so the puts evict
 * the read cache's pages: the FUSE tests use it to check that reads stay
 * correct while the cache loses pages under them.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmem.h"

static void fill_page(unsigned char *page, uint64_t n)
{
	uint64_t x = n * 0x9E3779B97F4A7C15ULL + 1;
	for (size_t i = 0; i < TMEM_PAGE_SIZE; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 2685821657736338717ULL;
		memcpy(page + i, &v, 8);
	}
}

static int do_put(struct tmem *t, uint64_t pages)
{
	unsigned char page[TMEM_PAGE_SIZE], back[TMEM_PAGE_SIZE];
	char name[TMEM_NAME_MAX + 1];
	uint32_t id;
	uint64_t stored = 0, nospace = 0;
	int r;

	snprintf(name, sizeof(name), "fc-pressure-%d", (int)getpid());
	r = tmem_pool_open(t, name, TMEM_PERSISTENT, 0, 0, &id);
	if (r < 0) {
		fprintf(stderr, "fc-pressure: sub-pool %s: %s\n", name,
			tmem_strerror(r));
		return 1;
	}
	for (uint64_t i = 0; i < pages; i++) {
		fill_page(page, i);
		r = tmem_put(t, id, 1, i, page);
		if (r == -ENOSPC) {
			nospace++;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "fc-pressure: put %" PRIu64 ": %s\n", i,
				tmem_strerror(r));
			return 1;
		}
		stored++;
	}
	/* Persistent pages must all still be there. */
	uint64_t checked = 0;
	for (uint64_t i = 0; i < pages; i++) {
		r = tmem_get(t, id, 1, i, back);
		if (r == -ENOENT)
			continue;
		fill_page(page, i);
		if (r < 0 || memcmp(page, back, TMEM_PAGE_SIZE) != 0) {
			fprintf(stderr, "fc-pressure: page %" PRIu64 " %s\n", i,
				r < 0 ? tmem_strerror(r) : "differs");
			return 1;
		}
		checked++;
	}
	printf("fc-pressure: stored %" PRIu64 " persistent pages (%" PRIu64
	       " refused for space), %" PRIu64 " read back intact\n",
	       stored, nospace, checked);
	if (checked != stored) {
		fprintf(stderr, "fc-pressure: persistent pages were lost\n");
		return 1;
	}
	tmem_pool_destroy(t, id);
	return 0;
}

static int do_stats(struct tmem *t, const char *name)
{
	struct tmem_pool_info pools[64];
	int n = tmem_pool_list(t, pools, 64);

	if (n < 0) {
		fprintf(stderr, "fc-pressure: %s\n", tmem_strerror(n));
		return 1;
	}
	for (int i = 0; i < n && i < 64; i++) {
		const struct tmem_stats *s = &pools[i].stats;
		if (strcmp(pools[i].name, name) != 0)
			continue;
		printf("pages %" PRIu64 " puts %" PRIu64 " gets %" PRIu64
		       " hits %" PRIu64 " misses %" PRIu64 " flushes %" PRIu64
		       " evictions %" PRIu64 " dedup %" PRIu64 "\n",
		       s->pages_stored, s->puts, s->gets, s->hits, s->misses,
		       s->flushes, s->evictions, s->dedup_hits);
		for (int k = 0; k < TMEM_REJECT_NR; k++)
			if (s->rejects[k])
				printf("rejected (%s) %" PRIu64 "\n",
				       tmem_reject_names[k], s->rejects[k]);
		return 0;
	}
	fprintf(stderr, "fc-pressure: no sub-pool named %s\n", name);
	return 1;
}

int main(int argc, char *argv[])
{
	struct tmem_options opts;
	struct tmem *t;
	int r;

	if (argc != 4 ||
	    (strcmp(argv[2], "put") != 0 && strcmp(argv[2], "stats") != 0)) {
		fprintf(stderr, "usage: fc-pressure SEGMENT put PAGES\n"
				"       fc-pressure SEGMENT stats NAME\n");
		return 2;
	}
	tmem_options_init(&opts);
	opts.name = argv[1];
	opts.create = false;
	r = tmem_open(&opts, &t);
	if (r < 0) {
		fprintf(stderr, "fc-pressure: segment %s: %s\n", argv[1],
			tmem_strerror(r));
		return 1;
	}
	if (strcmp(argv[2], "put") == 0)
		r = do_put(t, strtoull(argv[3], NULL, 0));
	else
		r = do_stats(t, argv[3]);
	tmem_close(t);
	return r;
}
