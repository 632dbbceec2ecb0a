/* tmem: does the grower keep ahead of a sustained writer?
 *
 * One thread puts MB megabytes of compressible pages (about 3:1) into a
 * persistent sub-pool of a segment that grows on demand (grower running,
 * no prefault), as a swap device's writer would, and counts the puts the
 * pool refused because its reserve of ready chunks was empty, or the index
 * records it faults in ahead were used up.  A refused
 * put is retried after a yield, as callers do.  Run it next to busy
 * processes (e.g. one `yes >/dev/null` per core) to see a loaded machine.
 *
 *   bench-pool-grow [MB] [may-grow]
 *
 * The last line is key=value pairs: puts, reserve_empty and records_later
 * rejects, their share of the puts in percent, nospace rejects, MB of segment
 * used, seconds, MB/s.
 */
#include <config.h>

#include <sched.h>
#include <time.h>

#include "test-pool.h"

/* About 3:1 under zstd, like anonymous memory: a third random bytes,
 * the rest text. */
static void page_mixed(void *page, uint64_t seed)
{
	unsigned char noise[4096];

	page_text(page, seed);
	page_random(noise, seed);
	memcpy(page, noise, 1300);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *name = test_segment_name("bench-grow");
	uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : 200;
	bool may_grow = argc > 2 && strcmp(argv[2], "may-grow") == 0;
	static unsigned char page[4096];
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	uint64_t i, n, retries = 0;
	uint32_t p;
	double t0, t1;
	int r;

	if (mb == 0 || mb > 4096) {
		fprintf(stderr, "bench-pool-grow: MB must be 1..4096\n");
		return 2;
	}
	n = mb << 8;
	test_options(&o, name, 1ULL << 30);
	o.grower = true;
	o.put_may_grow = may_grow;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	t0 = now();
	for (i = 0; i < n; i++) {
		page_mixed(page, i);
		while ((r = tmem_put(t, p, 1, i, page)) == -ENOSPC) {
			CHECK(++retries < 100000000);
			sched_yield();
		}
		CHECK_RC(r, 0);
	}
	t1 = now();
	CHECK_RC(tmem_stats_get(t, &st), 0);
	printf("puts=%llu reserve_empty=%llu records_later=%llu "
	       "reject_pct=%.3f nospace=%llu used_mb=%llu secs=%.2f mb_s=%.0f "
	       "may_grow=%d\n",
	       (unsigned long long)n,
	       (unsigned long long)st.rejects[TMEM_REJECT_RESERVE_EMPTY],
	       (unsigned long long)st.rejects[TMEM_REJECT_RECORDS_LATER],
	       100.0 *
		       (double)(st.rejects[TMEM_REJECT_RESERVE_EMPTY] +
				st.rejects[TMEM_REJECT_RECORDS_LATER]) /
		       (double)n,
	       (unsigned long long)st.rejects[TMEM_REJECT_NOSPACE],
	       (unsigned long long)(st.bytes_used >> 20), t1 - t0,
	       (double)mb / (t1 - t0), may_grow);
	tmem_close(t);
	return 0;
}
