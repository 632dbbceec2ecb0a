/* tmem: a swap request never waits for ever on a repair that a stopped
 * process holds up.
 *
 * The swap server (this process, with its grower) leaves a due repair of
 * the swap half to its grower, which takes that half's locks, the header
 * locks among them.  A cache process stopped (SIGSTOP, or stalled on a
 * fault) while it holds one (pool_lock, opening a sub-pool: crash point
 * 22) keeps the grower from repairing, however often it tries.  The
 * requests of the swap half must then fail, -ETIMEDOUT after twice the
 * served wait (set to 300 ms here), having changed nothing, rather than
 * wait: a kernel swapping to this server would wait with them.  Once one
 * has, the next ones wait a tenth of the served wait (a request queued
 * behind another must not wait a second bound).
 *
 * Then the cache process goes on: the grower repairs, and every page
 * reads back as it was before the refused put. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "test-watchdog.h"
#include "tmem-internal.h"

#define NPAGES	64
#define WAIT_MS 300

static const char *name;

/* Run call as one request (TIMED); its time in ms goes to *ms. */
#define TIMED_MS(op, ms, call)                           \
	do {                                             \
		long long t0_ = test_now_ns();           \
		TIMED(op, call);                         \
		*(ms) = (test_now_ns() - t0_) / 1000000; \
	} while (0)

/* The cache process: open a cache sub-pool, stopping inside pool_lock. */
static void cache_process(void)
{
	struct tmem *t = test_attach(name);
	uint32_t e;

	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 22;
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	tmem_close(t);
	_exit(0);
}

int main(void)
{
	unsigned char page[4096], back[4096];
	struct tmem *t;
	long long ms;
	pid_t cache;
	uint32_t p;
	uint64_t i, repairs;
	int status, r;

	test_require_hooks();
	name = test_segment_name("repair-stall");
	t = test_swap_server(name, 16 << 20, NPAGES, &p);
	tmem_served_wait_ms = WAIT_MS;

	cache = fork();
	CHECK(cache >= 0);
	if (cache == 0)
		cache_process();
	if (!test_wait_stop(cache, &status)) {
		fprintf(stderr,
			"the cache process did not stop holding pool_lock "
			"(status %#x)\n",
			status);
		return 1;
	}
	test_watchdog_start(5000, "with a repair held up by a stopped process",
			    cache);

	/* Damage found in the swap half (as a check of a chain would). */
	repairs = atomic_load(&t->hdr->repairs);
	tmem_repair_ask(t, TMEM_PERSISTENT);
	TIMED_MS("get", &ms, r = tmem_get(t, p, 1, 3, back));
	printf("get with the repair held up: %s after %lld ms\n",
	       tmem_strerror(r), ms);
	CHECK_RC(r, -ETIMEDOUT);
	CHECK(ms >= 2 * WAIT_MS - 20);
	/* Given up once: the next requests of the half wait a tenth. */
	page_random(page, 99);
	TIMED_MS("put", &ms, r = tmem_put(t, p, 1, 4, page));
	printf("put with the repair held up: %s after %lld ms\n",
	       tmem_strerror(r), ms);
	CHECK_RC(r, -ETIMEDOUT);
	CHECK(ms < WAIT_MS);
	TIMED_MS("flush", &ms, r = tmem_flush_page(t, p, 1, 5));
	printf("flush with the repair held up: %s after %lld ms\n",
	       tmem_strerror(r), ms);
	CHECK_RC(r, -ETIMEDOUT);
	CHECK(ms < WAIT_MS);
	/* A bulk drop walks its chains without waiting when they are whole
	 * (an object with no pages here). */
	TIMED_MS("flush_object", &ms, r = tmem_flush_object(t, p, 2));
	printf("flush_object with the repair held up: %s after %lld ms\n",
	       tmem_strerror(r), ms);
	CHECK_RC(r, 0);
	CHECK(atomic_load(&t->hdr->repairs) == repairs);
	CHECK(atomic_load(&t->repair_given_up) &
	      TMEM_HALF_BIT(TMEM_PERSISTENT));

	/* The cache process goes on and lets go; the grower repairs (after
	 * its back-off: requests meanwhile may still give up). */
	CHECK(kill(cache, SIGCONT) == 0);
	CHECK(waitpid(cache, &status, 0) == cache);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	test_watchdog_victim(0);
	for (i = 0; tmem_repair_pending(t); i++) {
		CHECK(i < 10000); /* 10 s */
		usleep(1000);
	}
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		TIMED_MS("get after", &ms, r = tmem_get(t, p, 1, i, back));
		CHECK_RC(r, 0);
		if (memcmp(page, back, 4096) != 0) {
			fprintf(stderr,
				"FAIL: page %llu changed (a refused request "
				"changed it)\n",
				(unsigned long long)i);
			return 1;
		}
	}
	CHECK(atomic_load(&t->hdr->repairs) > repairs);
	/* Found repaired: the next incident's requests wait the full bound. */
	CHECK(!(atomic_load(&t->repair_given_up) &
		TMEM_HALF_BIT(TMEM_PERSISTENT)));
	CHECK(!tmem_repair_pending(t));
	tmem_close(t);
	return 0;
}
