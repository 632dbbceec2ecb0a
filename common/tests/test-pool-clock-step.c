/* tmem: a bounded wait for a pool lock stays bounded when the wall clock
 * is stepped back.
 *
 * A put waits at most 100 ms for chunk_lock, which a stopped process may
 * hold.  A wait whose end is a time of the wall clock (CLOCK_REALTIME)
 * is longer by however far the clock is set back meanwhile (an NTP step,
 * a date command): at boot, while swap is being set up, a step of
 * minutes is common.  This test stands in for such a step with its own
 * clock_gettime, which the library's calls reach: it answers the wall
 * clock 5 s ahead, as a clock read just before a 5 s step back would
 * have.  A process holds chunk_lock, stopped; a put of a page that needs
 * a new chunk (random bytes: a chunk of raw pages) must still be
 * answered (-ENOSPC, reserve_empty) within a second (a watchdog).  Then
 * the process goes on, and the put goes through. */
#include <config.h>

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "test-watchdog.h"
#include "tmem-internal.h"

#define STEP_S 5

static const char *name;
static _Atomic bool stepped;

/* The C library's clock_gettime, with CLOCK_REALTIME STEP_S ahead while
 * stepped is set. */
int clock_gettime(clockid_t clk, struct timespec *ts)
{
	long r = syscall(SYS_clock_gettime, clk, ts);

	if (r == 0 && clk == CLOCK_REALTIME && atomic_load(&stepped))
		ts->tv_sec += STEP_S;
	return (int)r;
}

/* The stopped process: hold chunk_lock, stopped, until continued. */
static void holder(void)
{
	struct tmem *t = test_attach(name);

	pthread_mutex_lock(&t->hdr->chunk_lock);
	raise(SIGSTOP);
	pthread_mutex_unlock(&t->hdr->chunk_lock);
	tmem_close(t);
	_exit(0);
}

int main(void)
{
	unsigned char page[4096], back[4096];
	struct tmem *t;
	int status, r;
	uint32_t p;
	pid_t pid;

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(TEST_TSAN)
	/* Its builds wait by the wall clock (tmem-lock.c, LOCK_CLOCK). */
	fprintf(stderr, "ThreadSanitizer build: waits by the wall clock\n");
	return 77;
#endif
	name = test_segment_name("clock-step");
	t = test_swap_server(name, 16 << 20, 2, &p);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		holder();
	CHECK(test_wait_stop(pid, &status));
	test_watchdog_start(1000,
			    "with chunk_lock held by a stopped process and "
			    "the clock stepped back",
			    pid);
	atomic_store(&stepped, true);
	page_random(page, 2);
	TIMED("put", r = tmem_put(t, p, 1, 2, page));
	atomic_store(&stepped, false);
	CHECK_RC(r, -ENOSPC);
	CHECK(tmem_last_reject() == TMEM_REJECT_RESERVE_EMPTY);
	atomic_store(&wd_victim, 0);

	kill(pid, SIGCONT);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_RC(tmem_put(t, p, 1, 2, page), 0);
	CHECK_RC(tmem_get(t, p, 1, 2, back), 0);
	CHECK(memcmp(page, back, 4096) == 0);
	tmem_close(t);
	printf("clock step: ok\n");
	return 0;
}
