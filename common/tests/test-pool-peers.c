/* tmem: the swap servers of different guests on one pool never wait for
 * each other.
 *
 * On a host pool every guest's swap is served by its own process (one
 * nbdkit per guest, tmem-vm).  A server stopped while it holds one of the
 * pool's locks (SIGSTOP, a debugger, a frozen cgroup) must not hold up
 * another guest's requests: each persistent sub-pool's keys and pages
 * live under stripes of their own (a group of the persistent half's
 * stripes, by the sub-pool's slot).
 *
 * A peer server opens sub-pool "b", stores pages, and stops itself (crash
 * point 4: in a put, its index stripe held; crash point 6: storing a page,
 * its blob stripe held).  This process, the server of sub-pool "a",
 * then stores, reads and drops 3,000 pages, flushes an object of "a" and
 * destroys a sub-pool "c" of its own; a watchdog fails the test if one
 * request waits more than a second.  The peer is killed afterwards,
 * and every page of "a" must read back once the pool is repaired. */
#include <config.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "test-watchdog.h"
#include "tmem-internal.h"

extern char **environ;

#ifdef TMEM_TEST_HOOKS
extern int tmem_crash_at;
extern int tmem_crash_signal;
#else
static int tmem_crash_at, tmem_crash_signal;
#endif

#define NPAGES 3000

/* The peer: the server of sub-pool "b", stopped in a put at crash point
 * at (its pages are text, so that its put compresses and stores). */
static int peer(const char *seg, int at)
{
	struct tmem *t = test_attach(seg);
	unsigned char page[4096];
	uint32_t p;
	uint64_t i;

	CHECK_RC(tmem_pool_open(t, "b", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < 500; i++) {
		page_text(page, 700000 + i);
		(void)tmem_put(t, p, 1, i, page);
	}
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = at;
	page_text(page, 800000 + (uint64_t)at);
	tmem_put(t, p, 2, (uint64_t)at, page);
	_exit(2); /* the crash point was not reached */
}

/* A put as the server makes it: a refusal for want of a ready chunk or
 * record is retried after a millisecond. */
static void put_retrying(struct tmem *t, uint32_t p, uint64_t object,
			 uint64_t index, const void *page)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	int r, tries = 0;

	do {
		if (tries++)
			nanosleep(&ms, NULL);
		TIMED("put", r = tmem_put(t, p, object, index, page));
	} while (r == -ENOSPC && tries < 2000);
	CHECK_RC(r, 0);
}

static void serve_beside(struct tmem *t, uint32_t p, const char *argv0, int at,
			 const char *held)
{
	char atv[16],
		*args[] = {(char *)argv0, "--peer", test_segment, atv, NULL};
	unsigned char page[4096], back[4096];
	static char situation[128];
	uint64_t i, object = (uint64_t)at;
	int status, r;
	uint32_t c;
	pid_t pid;

	snprintf(atv, sizeof atv, "%d", at);
	CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) ==
	      0);
	CHECK(test_wait_stop(pid, &status));
	snprintf(situation, sizeof situation,
		 "another sub-pool's server stopped holding %s", held);
	wd_situation = situation;
	test_watchdog_victim(pid);
	for (i = 0; i < NPAGES; i++) {
		page_text(page, object * 100000 + i);
		put_retrying(t, p, object, i, page);
	}
	for (i = 0; i < NPAGES; i++) {
		page_text(page, object * 100000 + i);
		TIMED("get", r = tmem_get(t, p, object, i, back));
		CHECK_RC(r, 0);
		CHECK(memcmp(page, back, sizeof page) == 0);
	}
	for (i = 0; i < NPAGES; i += 2) {
		TIMED("flush", r = tmem_flush_page(t, p, object, i));
		CHECK_RC(r, 0);
	}
	printf("%s: %d pages stored, read and half dropped\n", situation,
	       NPAGES);
	/* A sub-pool's bulk drops walk its own stripes alone: a flush of
	 * one of its objects, and a destroy (a server's reset of its
	 * device, or a destroy its grower serves). */
	for (i = 0; i < 64; i++) {
		page_text(page, (object + 1000) * 100000 + i);
		put_retrying(t, p, object + 1000, i, page);
	}
	TIMED("flush_object", r = tmem_flush_object(t, p, object + 1000));
	CHECK_RC(r, 0);
	for (i = 0; i < 64; i++) {
		TIMED("get", r = tmem_get(t, p, object + 1000, i, back));
		CHECK_RC(r, -ENOENT);
	}
	CHECK_RC(tmem_pool_open(t, "c", TMEM_PERSISTENT, 0, 0, &c), 0);
	for (i = 0; i < 64; i++) {
		page_text(page, 900000 + i);
		put_retrying(t, c, 1, i, page);
	}
	TIMED("destroy", r = tmem_pool_destroy(t, c));
	CHECK_RC(r, 0);
	printf("%s: an object flushed, a sub-pool destroyed\n", situation);
	test_watchdog_victim(0);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The peer died holding a lock: the repair (this process's grower)
	 * leaves every page of "a" as it was. */
	for (i = 1; i < NPAGES; i += 2) {
		page_text(page, object * 100000 + i);
		CHECK_RC(tmem_get(t, p, object, i, back), 0);
		CHECK(memcmp(page, back, sizeof page) == 0);
	}
}

/* Guests' sub-pools opened in turn with cache sub-pools, which take
 * slots too: each guest's still falls in a group of its own, up to
 * TMEM_GROUPS of them. */
static void test_groups(void)
{
	struct tmem_options o;
	struct tmem *t;
	unsigned i, used = 0, g;
	uint32_t p, e;
	char name[16];

	test_options(&o, test_segment_name("groups"), 16 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	for (i = 0; i < TMEM_GROUPS; i++) {
		snprintf(name, sizeof name, "guest%u", i);
		CHECK_RC(tmem_pool_open(t, name, TMEM_PERSISTENT, 0, 0, &p), 0);
		g = pool_group(p & 0xff);
		if (used & 1U << g) {
			fprintf(stderr,
				"FAIL: sub-pool %s (slot %u) falls in group "
				"%u, another guest's\n",
				name, p & 0xff, g);
			exit(1);
		}
		used |= 1U << g;
		snprintf(name, sizeof name, "cache%u", i);
		CHECK_RC(tmem_pool_open(t, name, TMEM_EPHEMERAL, 0, 0, &e), 0);
	}
	printf("%d guests' sub-pools beside as many caches: a group each\n",
	       TMEM_GROUPS);
	tmem_close(t);
	CHECK_RC(tmem_unlink(test_segment), 0);
}

int main(int argc, char **argv)
{
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;

	test_require_hooks();
	if (argc == 4 && strcmp(argv[1], "--peer") == 0)
		return peer(argv[2], atoi(argv[3]));
	test_groups();
	test_options(&o, test_segment_name("peers"), 64 << 20);
	o.grower = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "a", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_start(t), 0);
	test_watchdog_start(1000, "", 0);
	serve_beside(t, p, argv[0], 4, "an index stripe");
	serve_beside(t, p, argv[0], 6, "a blob stripe");
	tmem_close(t);
	return 0;
}
