/* tmem: what one object's flush costs as the pool grows.
 *
 * An ephemeral sub-pool holds FILL other pages (same-filled: an index
 * entry each, no payload), then an object of 32 pages is put and flushed,
 * REPS times, with tmem_flush_object (walks the index of every stripe of
 * the kind) and with tmem_flush_range over its 32 pages (one lookup
 * each).  Prints one line per fill: microseconds per flush of each kind.
 *
 *   bench-flush [REPS]
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tmem.h"

#define OBJ_PAGES 32

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int put_object(struct tmem *t, uint32_t p, unsigned char *page)
{
	for (uint64_t i = 0; i < OBJ_PAGES; i++) {
		memset(page, (int)(i + 1), 4096);
		if (tmem_put(t, p, 1, i, page) != 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const uint64_t fills[] = {0, 10000, 100000, 1000000};
	static unsigned char page[4096];
	int reps = argc > 1 ? atoi(argv[1]) : 50;
	char name[64];
	uint64_t have = 0;
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;
	int r;

	if (reps < 1) {
		fprintf(stderr, "usage: bench-flush [REPS]\n");
		return 2;
	}
	snprintf(name, sizeof name, "bench-flush-%d", (int)getpid());
	tmem_options_init(&o);
	o.name = name;
	o.pool_size = 1ULL << 30;
	r = tmem_open(&o, &t);
	if (r == 0)
		r = tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &p);
	if (r) {
		fprintf(stderr, "bench-flush: %s\n", tmem_strerror(r));
		return 1;
	}
	printf("pages in the pool, us per flush_object, us per flush_range "
	       "(%d pages), ratio\n",
	       OBJ_PAGES);
	for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
		double obj_us = 0, range_us = 0, t0;

		for (; have < fills[f]; have++) {
			memset(page, (int)(have % 250 + 1), 4096);
			if (tmem_put(t, p, 2 + have / 4096, have % 4096,
				     page) != 0) {
				fprintf(stderr, "bench-flush: fill refused\n");
				goto err;
			}
		}
		for (int i = 0; i < reps; i++) {
			if (put_object(t, p, page))
				goto err;
			t0 = now_us();
			tmem_flush_object(t, p, 1);
			obj_us += now_us() - t0;
			if (put_object(t, p, page))
				goto err;
			t0 = now_us();
			tmem_flush_range(t, p, 1, 0, OBJ_PAGES);
			range_us += now_us() - t0;
		}
		printf("%" PRIu64 " %.1f %.1f %.0f\n", fills[f], obj_us / reps,
		       range_us / reps, obj_us / range_us);
	}
	tmem_close(t);
	tmem_unlink(name);
	return 0;
err:
	tmem_close(t);
	tmem_unlink(name);
	return 1;
}
