/* tmem: a destroy handed over to the swap server is finished when that
 * server goes away first.
 *
 * A tool's destroy of a swap sub-pool is left to the swap server's grower
 * (tmem_destroy_serve) while one lives; a tool whose wait for it timed
 * out has gone, and the record stays DESTROYING, its pages held.  Twice
 * here a tool's destroy of a sub-pool times out with the hand-over
 * pending (the server's grower stalled at the top of its loop, by the
 * test hook, then the server stopped):
 *
 * - "old": the server then closes its handle cleanly, its grower never
 *   back at the top of its loop: the server must finish the destroy on
 *   its way out, so that "old" is gone with its pages once it has closed.
 * - "old2": a lookup of the name while the server is stopped must not
 *   say it does not exist (-EINPROGRESS: its pages are still there); the
 *   server is then killed, and the next lookup, with no swap server left,
 *   finishes the destroy itself.  tmem_pool_destroying says it is pending
 *   until then, on a read-only handle too, which finishes nothing. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define NPAGES 256
#define NOLD   64

static const char *name;

/* The swap server: its grower stalls (for stall_ms) at the top of its
 * first round once puts have taken chunks (within its 50 ms wait), after
 * that round's tmem_destroy_serve.  Says when it serves, the stall begun
 * (the grower 200 ms in its step "growing", which lasts a few ms
 * otherwise); closes its handle and exits 0 when told. */
static void server(int out, int in, unsigned stall_ms)
{
	struct timespec ms = {0, 1000000L};
	struct tmem_grower_info gi;
	char env[16];
	struct tmem *t;
	uint32_t p;
	int waited;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(env, sizeof env, "%u", stall_ms);
	setenv("TMEM_GROWER_STALL_MS", env, 1);
	t = test_swap_server(name, 32 << 20, NPAGES, &p);
	for (waited = 0; stall_ms; waited++) {
		CHECK_RC(tmem_grower_info(t, &gi), 0);
		if (strcmp(gi.step, "growing") == 0 && gi.step_ms >= 200)
			break;
		CHECK(waited < 20000);
		nanosleep(&ms, NULL);
	}
	test_say(out);
	test_hear(in);
	tmem_close(t);
	_exit(0);
}

/* The tool: fill sub-pool pool, destroy it, its wait for the server
 * bounded to 200 ms.  Exits 0 when that wait timed out. */
static void tool(const char *pool)
{
	struct tmem *t = test_attach(name);
	uint32_t id;
	int r;

	CHECK_RC(tmem_pool_open(t, pool, TMEM_PERSISTENT, 0, 0, &id), 0);
	test_tool_pages(t, id, NOLD);
	tmem_served_wait_ms = 200;
	r = tmem_pool_destroy(t, id);
	if (r != -ETIMEDOUT)
		fprintf(stderr, "the tool's destroy of %s: %s, not timed out\n",
			pool, tmem_strerror(r));
	tmem_close(t);
	_exit(r == -ETIMEDOUT ? 0 : 1);
}

static void run_tool(const char *pool)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		tool(pool);
	test_wait_ok(pid);
}

/* The state of the record named pool that is not free (POOL_FREE: none). */
static unsigned record_state(struct tmem *t, const char *pool)
{
	unsigned p;

	for (p = 0; p < TMEM_MAX_POOLS; p++)
		if (atomic_load(&seg_pool(t, p)->state) != POOL_FREE &&
		    strcmp(seg_pool(t, p)->name, pool) == 0)
			return atomic_load(&seg_pool(t, p)->state);
	return POOL_FREE;
}

static pid_t start_server(int up[2], int down[2], unsigned stall_ms)
{
	pid_t srv;

	CHECK(pipe(up) == 0 && pipe(down) == 0);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0)
		server(up[1], down[0], stall_ms);
	test_hear(up[0]);
	return srv;
}

int main(void)
{
	int up[2], down[2], status;
	struct tmem_options o;
	struct tmem *t, *ro;
	uint32_t id;
	pid_t srv;

	test_require_hooks();
	name = test_segment_name("destroy-close");

	/* The server's grower stalls 4 s, from its first chunk taken: the
	 * tool's destroy (200 ms) and the server's close come within. */
	srv = start_server(up, down, 4000);
	t = test_attach(name);
	run_tool("old");
	CHECK(record_state(t, "old") == POOL_DESTROYING);
	test_say(down[1]);
	test_wait_ok(srv);
	/* Gone with the server's close, before anyone looked it up. */
	CHECK(record_state(t, "old") == POOL_FREE);
	CHECK_RC(tmem_check(t), 0);

	/* A server stopped (no stall): the tool's destroy times out. */
	srv = start_server(up, down, 0);
	test_stop_child(srv);
	run_tool("old2");
	CHECK(record_state(t, "old2") == POOL_DESTROYING);
	CHECK_RC(tmem_pool_find(t, "old2", &id), -EINPROGRESS);
	CHECK(record_state(t, "old2") == POOL_DESTROYING);
	CHECK_RC(tmem_pool_destroying(t, "old2"), 1);
	CHECK_RC(tmem_pool_destroying(t, "old"), 0);
	CHECK_RC(tmem_pool_destroying(t, "swap"), 0);
	CHECK_RC(tmem_pool_destroying(t, ""), -EINVAL);
	CHECK(kill(srv, SIGKILL) == 0);
	CHECK(waitpid(srv, &status, 0) == srv);
	/* A read-only handle sees it pending and finishes nothing. */
	test_options(&o, name, 0);
	o.create = false;
	o.readonly = true;
	CHECK_RC(tmem_open(&o, &ro), 0);
	CHECK_RC(tmem_pool_destroying(ro, "old2"), 1);
	tmem_close(ro);
	CHECK(record_state(t, "old2") == POOL_DESTROYING);
	CHECK_RC(tmem_pool_find(t, "old2", &id), -ENOENT);
	CHECK(record_state(t, "old2") == POOL_FREE);
	CHECK_RC(tmem_pool_destroying(t, "old2"), 0);
	tmem_close(t);
	tmem_unlink(name);
	printf("destroy close: ok\n");
	return 0;
}
