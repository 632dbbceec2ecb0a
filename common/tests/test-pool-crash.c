/* tmem: a process killed (SIGKILL) at each numbered step of put, flush,
 * eviction, chunk freeing and pool destruction — sometimes inside a
 * critical section — leaves the pool usable, consistent and without leaked
 * space: another process attaches, the survivor carries on, tmem_check
 * passes, and bytes_used returns to its baseline once the dead process's
 * data is flushed. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"

static const int points[] = {1,	 2,  3,	 4,  5,	 6,  7,	 10,
			     11, 20, 21, 22, 30, 31, 32, 40};

static const char *name;

static void child_work(void)
{
	struct tmem_options o;
	unsigned char page[4096];
	struct tmem *t;
	uint32_t p, e, tmp;
	uint64_t i, n;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "p", &p), 0);
	CHECK_RC(tmem_pool_open(t, "ce", TMEM_EPHEMERAL, 0, 4 << 16, &e), 0);
	for (i = 0; i < 200; i++) {
		page_text(page, 5000 + i);
		CHECK_RC(tmem_put(t, p, 500, i, page), 0);
	}
	for (i = 0; i < 50; i++) {
		page_text(page, 6000 + i);
		CHECK_RC(tmem_put(t, p, 500, i, page), 0);
	}
	for (i = 0; i < 10; i++)
		CHECK_RC(tmem_flush_page(t, p, 500, i), 0);
	CHECK_RC(tmem_flush_object(t, p, 500), 0);
	CHECK_RC(tmem_pool_open(t, "tmp", TMEM_PERSISTENT, 0, 0, &tmp), 0);
	CHECK_RC(tmem_put(t, tmp, 1, 1, page), 0);
	CHECK_RC(tmem_pool_destroy(t, tmp), 0);
	for (i = 0; i < 1000; i++) {
		page_random(page, 7000 + i);
		CHECK_RC(tmem_put(t, e, 600, i, page), 0);
	}
	/* Fragment the pool, then make the put path compact. */
	for (i = 0;; i++) {
		page_random(page, 9000 + i);
		if (tmem_put(t, p, 800, i, page) != 0)
			break;
	}
	n = i;
	for (i = 0; i < n; i++) {
		if (i % 15)
			CHECK_RC(tmem_flush_page(t, p, 800, i), 0);
	}
	for (i = 0; i < n / 2; i++) {
		page_random(page, 20000 + i);
		CHECK_RC(tmem_put(t, p, 801, i, page), 0);
	}
	/* Leave data behind for the survivor to flush. */
	for (i = 0; i < 100; i++) {
		page_text(page, 8000 + i);
		CHECK_RC(tmem_put(t, p, 700, i, page), 0);
	}
	tmem_close(t);
}

static void verify_own(struct tmem *t, uint32_t p)
{
	unsigned char page[4096], back[4096];
	uint64_t i;

	for (i = 0; i < 50; i++) {
		page_text(page, i);
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
}

int main(void)
{
	struct tmem_options o, o2;
	struct tmem_stats st, base;
	unsigned char page[4096], back[4096];
	struct tmem *t, *t2;
	uint32_t p, x;
	size_t k;
	uint64_t i;
	int status;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	name = test_segment_name("crash");
	test_options(&o, name, 8 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < 50; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	CHECK_RC(tmem_stats_get(t, &base), 0);
	for (k = 0; k < sizeof points / sizeof points[0]; k++) {
		char env[16];
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0) {
			snprintf(env, sizeof env, "%d", points[k]);
			setenv("TMEM_CRASH_POINT", env, 1);
			child_work();
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			fprintf(stderr, "crash point %d was never reached\n",
				points[k]);
			return 1;
		}
		/* A second attach, the lock's first taker: a sub-pool
		 * record the dead process changed before its new seal (22)
		 * is sealed again, not taken for damage. */
		test_options(&o2, name, 0);
		o2.create = false;
		CHECK_RC(tmem_open(&o2, &t2), 0);
		tmem_close(t2);
		/* The survivor carries on. */
		CHECK_RC(tmem_check(t), 0);
		verify_own(t, p);
		page_random(page, 42);
		CHECK_RC(tmem_put(t, p, 2, 0, page), 0);
		CHECK_RC(tmem_get(t, p, 2, 0, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
		CHECK_RC(tmem_flush_page(t, p, 2, 0), 0);
		/* Flush what the dead one left: back to the baseline. */
		CHECK_RC(tmem_flush_object(t, p, 500), 0);
		CHECK_RC(tmem_flush_object(t, p, 700), 0);
		CHECK_RC(tmem_flush_object(t, p, 800), 0);
		CHECK_RC(tmem_flush_object(t, p, 801), 0);
		if (tmem_pool_find(t, "ce", &x) == 0)
			CHECK_RC(tmem_pool_destroy(t, x), 0);
		if (tmem_pool_find(t, "tmp", &x) == 0)
			CHECK_RC(tmem_pool_destroy(t, x), 0);
		CHECK_RC(tmem_check(t), 0);
		CHECK_RC(tmem_stats_get(t, &st), 0);
		if (st.bytes_used != base.bytes_used ||
		    st.pages_stored != base.pages_stored) {
			fprintf(stderr,
				"crash point %d: bytes_used %llu (baseline "
				"%llu), pages %llu (baseline %llu)\n",
				points[k], (unsigned long long)st.bytes_used,
				(unsigned long long)base.bytes_used,
				(unsigned long long)st.pages_stored,
				(unsigned long long)base.pages_stored);
			return 1;
		}
	}
	verify_own(t, p);
	tmem_close(t);
	return 0;
}
