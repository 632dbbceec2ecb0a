/* tmem: a known workload for the tmemctl tests.
 *
 *   ctl-put SEGMENT fill      create the segment and store a fixed set of
 *                             pages, so that every figure tmemctl prints
 *                             has a value the test can predict
 *   ctl-put SEGMENT hold      attach and wait until killed (a process
 *                             using the segment, for destroy)
 *
 * fill, in the persistent sub-pool "swap0": 10 zero pages, 5 pages of one
 * repeated byte, 8 distinct text pages and 4 copies of the first text
 * page; then gets of those 27 keys (hits) and of 3 absent keys (misses),
 * and a flush of one copy.  In the ephemeral sub-pool "cache0": 3 random
 * pages, got back once.  It prints nothing on success.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tmem.h"

static void die(const char *what, int r)
{
	fprintf(stderr, "ctl-put: %s: %s\n", what, tmem_strerror(r));
	exit(1);
}

/* A persistent put answers -ENOSPC at once while the grower has not yet
 * made room: give it a moment, as the swap path's caller would retry. */
static void put_retry(struct tmem *t, uint32_t pool, uint64_t obj, uint64_t idx,
		      const void *page)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int r, tries;

	for (tries = 0; tries < 500; tries++) {
		r = tmem_put(t, pool, obj, idx, page);
		if (r != -ENOSPC)
			break;
		nanosleep(&ts, NULL);
	}
	if (r < 0)
		die("put", r);
}

static void text_page(unsigned char *page, unsigned n)
{
	size_t off = 0;
	int len;

	while (off < TMEM_PAGE_SIZE) {
		len = snprintf((char *)page + off, TMEM_PAGE_SIZE - off,
			       "page %u line %zu: the quick brown fox jumps "
			       "over the lazy dog\n",
			       n, off);
		if (len <= 0 || (size_t)len >= TMEM_PAGE_SIZE - off)
			break;
		off += (size_t)len;
	}
	memset(page + off, '.', TMEM_PAGE_SIZE - off);
}

static void fill(struct tmem *t)
{
	unsigned char page[TMEM_PAGE_SIZE], got[TMEM_PAGE_SIZE];
	uint32_t swap, cache;
	unsigned i;
	int r;

	r = tmem_pool_open(t, "swap0", TMEM_PERSISTENT, 0, 0, &swap);
	if (r < 0)
		die("pool swap0", r);
	r = tmem_pool_open(t, "cache0", TMEM_EPHEMERAL, 0, 0, &cache);
	if (r < 0)
		die("pool cache0", r);

	memset(page, 0, sizeof page);
	for (i = 0; i < 10; i++)
		put_retry(t, swap, 1, i, page);
	memset(page, 0xab, sizeof page);
	for (i = 10; i < 15; i++)
		put_retry(t, swap, 1, i, page);
	for (i = 15; i < 23; i++) {
		text_page(page, i);
		put_retry(t, swap, 1, i, page);
	}
	text_page(page, 15);
	for (i = 23; i < 27; i++)
		put_retry(t, swap, 1, i, page);

	for (i = 0; i < 27; i++) {
		r = tmem_get(t, swap, 1, i, got);
		if (r < 0)
			die("get", r);
	}
	text_page(page, 15);
	if (memcmp(got, page, sizeof page) != 0) {
		fprintf(stderr, "ctl-put: page 26 came back wrong\n");
		exit(1);
	}
	for (i = 100; i < 103; i++) {
		r = tmem_get(t, swap, 1, i, got);
		if (r != -ENOENT)
			die("get of an absent key", r ? r : -EEXIST);
	}
	r = tmem_flush_page(t, swap, 1, 26);
	if (r < 0)
		die("flush", r);

	srand(42);
	for (i = 0; i < 3; i++) {
		size_t j;

		for (j = 0; j < sizeof page; j++)
			page[j] = (unsigned char)rand();
		put_retry(t, cache, 7, i, page);
	}
	for (i = 0; i < 3; i++) {
		r = tmem_get(t, cache, 7, i, got);
		if (r < 0 && r != -ENOENT)
			die("get from cache0", r);
	}
}

int main(int argc, char **argv)
{
	struct tmem_options opts;
	struct tmem *t;
	int r;

	if (argc != 3 ||
	    (strcmp(argv[2], "fill") != 0 && strcmp(argv[2], "hold") != 0)) {
		fprintf(stderr, "usage: ctl-put SEGMENT fill|hold\n");
		return 2;
	}
	tmem_options_init(&opts);
	opts.name = argv[1];
	opts.pool_size = 64ULL << 20;
	opts.lock = false;
	opts.create = strcmp(argv[2], "fill") == 0;
	r = tmem_open(&opts, &t);
	if (r < 0)
		die(argv[1], r);
	r = tmem_start(t);
	if (r < 0)
		die("start", r);
	if (strcmp(argv[2], "fill") == 0) {
		fill(t);
	} else {
		printf("attached\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	tmem_close(t);
	return 0;
}
