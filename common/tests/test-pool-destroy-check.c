/* tmem: a destroy handed over to the swap server is no damage to a check.
 *
 * A tool's destroy of a swap sub-pool is left to the swap server's grower
 * (tmem_destroy_serve): until that grower drops its entries, the record
 * is DESTROYING and the entries are still there.  Here the server (a
 * child with a grower, serving "swap") is stopped, so that a tool's
 * destroy of "old" times out with the record handed over; the tool then
 * asks for a check, which the server's grower runs as soon as it is
 * continued, before or after it finishes the destroy.  That check must
 * find the pool sound (the entries of a sub-pool being destroyed are its
 * own until dropped), and "old" must then be gone. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-pool.h"
#include "tmem-check-internal.h"
#include "tmem-internal.h"

#define NPAGES 256
#define NOLD   64

static const char *name;

/* The tool: fill "old", say so, wait to be told (the server stopped),
 * destroy it (the server's grower times out), say so, and check.  Exits
 * 0 when the destroy timed out and the check was sound. */
static void tool(int out, int in)
{
	struct tmem *t = test_attach(name);
	uint32_t old;
	int r;

	CHECK_RC(tmem_pool_open(t, "old", TMEM_PERSISTENT, 0, 0, &old), 0);
	test_tool_pages(t, old, NOLD);
	test_say(out);
	test_hear(in);
	tmem_served_wait_ms = 300;
	r = tmem_pool_destroy(t, old);
	tmem_served_wait_ms = TMEM_SERVED_WAIT_MS;
	if (r != -ETIMEDOUT)
		fprintf(stderr, "the tool's destroy: %s, not timed out\n",
			tmem_strerror(r));
	test_say(out);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	_exit(r == -ETIMEDOUT ? 0 : 1);
}

int main(void)
{
	struct timespec pause_ms = {0, 200 * 1000000L};
	int up[2], down[2], status, i;
	pid_t srv, tl;
	struct tmem *t;
	uint32_t id;

	test_require_hooks();
	name = test_segment_name("destroy-check");
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0)
		test_swap_child(name, NPAGES, up[1]);
	test_hear(up[0]);
	t = test_attach(name);

	tl = fork();
	CHECK(tl >= 0);
	if (tl == 0)
		tool(up[1], down[0]);
	test_hear(up[0]);
	test_stop_child(srv);
	test_say(down[1]);
	/* The destroy timed out, handed over; the tool asks for a check. */
	test_hear(up[0]);
	/* Being destroyed, its pages still there: not "no such sub-pool". */
	CHECK_RC(tmem_pool_find(t, "old", &id), -EINPROGRESS);
	nanosleep(&pause_ms, NULL);
	CHECK(kill(srv, SIGCONT) == 0);
	test_wait_ok(tl);
	/* The server's grower finishes the destroy. */
	for (i = 0; i < 100; i++) {
		unsigned p, left = 0;

		for (p = 0; p < TMEM_MAX_POOLS; p++)
			left += atomic_load(&seg_pool(t, p)->state) ==
				POOL_DESTROYING;
		if (!left)
			break;
		nanosleep(&pause_ms, NULL);
	}
	CHECK(i < 100);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	kill(srv, SIGKILL);
	waitpid(srv, &status, 0);
	tmem_unlink(name);
	printf("destroy check: ok\n");
	return 0;
}
