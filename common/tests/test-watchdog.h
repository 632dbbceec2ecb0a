/* tmem: a watchdog for the pool's unit tests that a request must never
 * hang (a stopped process holds something, say).
 *
 * test_watchdog_start(limit_ms, situation, victim) starts a thread that
 * fails the test when one request has been pending longer than limit_ms:
 * it prints "FAIL: <situation>, the swap side's <op> waited more than
 * <limit>", kills victim (when > 0: the stopped process), removes the
 * test's segment and exits 1.  TIMED(op, call) runs call as one request.
 */
#ifndef TEST_WATCHDOG_H
#define TEST_WATCHDOG_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "test-pool.h"

static long long wd_limit_ns;
static const char *wd_situation;
static _Atomic pid_t wd_victim;
static _Atomic long long wd_since; /* ns when the pending request began */
static const char *_Atomic wd_what;

static inline long long test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *test_watchdog(void *arg)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};

	(void)arg;
	for (;;) {
		long long s;
		pid_t v;

		nanosleep(&tick, NULL);
		s = atomic_load(&wd_since);
		if (!s || test_now_ns() - s <= wd_limit_ns)
			continue;
		fprintf(stderr,
			"FAIL: %s, the swap side's %s waited more than "
			"%lld ms\n",
			wd_situation, atomic_load(&wd_what),
			wd_limit_ns / 1000000);
		if ((v = atomic_load(&wd_victim)) > 0)
			kill(v, SIGKILL);
		test_unlink_segment();
		_exit(1);
	}
	return NULL;
}

/* The process the watchdog kills when it fails the test (0: none). */
static inline void test_watchdog_victim(pid_t victim)
{
	atomic_store(&wd_victim, victim);
}

static inline void test_watchdog_start(long long limit_ms,
				       const char *situation, pid_t victim)
{
	pthread_t wd;

	wd_limit_ns = limit_ms * 1000000;
	wd_situation = situation;
	test_watchdog_victim(victim);
	CHECK(pthread_create(&wd, NULL, test_watchdog, NULL) == 0);
	pthread_detach(wd);
}

#define TIMED(op, call)                                 \
	do {                                            \
		atomic_store(&wd_what, (op));           \
		atomic_store(&wd_since, test_now_ns()); \
		call;                                   \
		atomic_store(&wd_since, 0);             \
	} while (0)

#endif /* TEST_WATCHDOG_H */
