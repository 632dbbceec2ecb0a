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

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define WAIT_LIMIT 1000000000LL /* ns */

static const char *name;
static _Atomic long long since; /* ns when the pending request began */
static const char *what;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *watchdog(void *arg)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
	pid_t cache = *(pid_t *)arg;

	for (;;) {
		long long s;

		nanosleep(&tick, NULL);
		s = atomic_load(&since);
		if (s && now_ns() - s > WAIT_LIMIT) {
			fprintf(stderr,
				"FAIL: with the cache process stopped, the "
				"swap side's %s waited more than 1 s\n",
				what);
			kill(cache, SIGKILL);
			tmem_unlink(name);
			_exit(1);
		}
	}
	return NULL;
}

#define TIMED(op, call)                         \
	do {                                    \
		what = (op);                    \
		atomic_store(&since, now_ns()); \
		call;                           \
		atomic_store(&since, 0);        \
	} while (0)

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
	pthread_t wd;
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
	CHECK(pthread_create(&wd, NULL, watchdog, &pid) == 0);
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
