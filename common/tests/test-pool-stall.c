/* tmem: a cache process stopped (SIGSTOP) in the middle of compaction
 * holds no lock the swap side needs.
 *
 * The swap side (this process) stores pages in a persistent sub-pool and
 * flushes most of them, leaving its chunks very sparse; a cache process
 * does the same, less sparsely, in an ephemeral sub-pool, then compacts
 * as its grower does and stops itself while moving a blob (crash point 35,
 * with the blob's stripe held).  The swap side then gets every page it
 * still holds, puts and flushes: a watchdog fails the test when a request
 * waits longer than a second. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "test-watchdog.h"
#include "tmem-internal.h"

static const char *name;

static void cache_process(void)
{
	struct tmem_options o;
	unsigned char page[4096];
	struct tmem *t;
	uint32_t e;
	uint64_t i;

	test_options(&o, name, 0);
	o.create = false;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	for (i = 0; i < 3000; i++) {
		page_text(page, 700000 + i);
		CHECK_RC(tmem_put(t, e, 1, i, page), 0);
	}
	for (i = 0; i < 3000; i++)
		if (i % 4)
			CHECK_RC(tmem_flush_page(t, e, 1, i), 0);
	/* What its grower does to keep the pool packed; stop while
	 * moving a blob. */
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 35;
	tmem_compact(t, 8, TMEM_COMPACT_FULL);
	fprintf(stderr, "the cache process compacted without stopping\n");
	_exit(2);
}

int main(void)
{
	struct tmem_options o;
	unsigned char page[4096], back[4096];
	struct tmem *t;
	uint32_t p;
	uint64_t i;
	int status;
	pid_t pid;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	name = test_segment_name("stall");
	test_options(&o, name, 16 << 20);
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < 3000; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	for (i = 0; i < 3000; i++)
		if (i % 16)
			CHECK_RC(tmem_flush_page(t, p, 1, i), 0);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		cache_process();
	if (!test_wait_stop(pid, &status)) {
		fprintf(stderr,
			"the cache process did not stop in compaction "
			"(status %#x)\n",
			status);
		return 1;
	}
	test_watchdog_start(1000, "with the cache process stopped", pid);
	/* The swap side carries on. */
	for (i = 0; i < 3000; i += 16) {
		page_text(page, i);
		TIMED("get", CHECK_RC(tmem_get(t, p, 1, i, back), 0));
		CHECK(memcmp(page, back, 4096) == 0);
	}
	for (i = 0; i < 3000; i++) {
		page_text(page, 100000 + i);
		TIMED("put", CHECK_RC(tmem_put(t, p, 2, i, page), 0));
		TIMED("get", CHECK_RC(tmem_get(t, p, 2, i, back), 0));
		CHECK(memcmp(page, back, 4096) == 0);
		if (i % 2)
			TIMED("flush",
			      CHECK_RC(tmem_flush_page(t, p, 2, i), 0));
	}
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	tmem_close(t);
	return 0;
}
