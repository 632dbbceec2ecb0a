/* tmem: a destroy handed over to the swap server is no reason to repair
 * the swap half when an unrelated process dies.
 *
 * The swap server (a child with a grower, serving "swap") is stopped, so
 * that a tool's destroy of "old" times out with the record handed over
 * (DESTROYING, holding no lock: the server's grower finishes it).  The
 * tool then asks for a check, which the server's grower answers first
 * thing when continued, after it has looked for dead processes
 * (tmem_reap_dead) and before it finishes the destroy.  Meanwhile a
 * process that only attached dies without closing.  Once the server is
 * continued, its grower must free the dead process's slot and finish the
 * destroy without a repair (the repairs counter stays as it was): the
 * dead process left nothing in the swap half, and a repair would stop
 * that half's world for nothing.  The check must find the pool sound. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define NPAGES 256
#define NOLD   64

static const char *name;

/* The tool: fill "old" and destroy it, its wait for the (stopped) server
 * bounded to 200 ms, then ask for a check.  Exits 0 when that wait timed
 * out and the check was sound. */
static void tool(void)
{
	struct tmem *t = test_attach(name);
	uint32_t old;
	int r;

	CHECK_RC(tmem_pool_open(t, "old", TMEM_PERSISTENT, 0, 0, &old), 0);
	test_tool_pages(t, old, NOLD);
	tmem_served_wait_ms = 200;
	r = tmem_pool_destroy(t, old);
	tmem_served_wait_ms = TMEM_SERVED_WAIT_MS;
	if (r != -ETIMEDOUT)
		fprintf(stderr, "the tool's destroy: %s, not timed out\n",
			tmem_strerror(r));
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	_exit(r == -ETIMEDOUT ? 0 : 1);
}

static bool record_destroying(struct tmem *t)
{
	unsigned i;

	for (i = 0; i < TMEM_MAX_POOLS; i++)
		if (atomic_load(&seg_pool(t, i)->state) == POOL_DESTROYING)
			return true;
	return false;
}

/* No record DESTROYING, no slot attached but not alive. */
static bool settled(struct tmem *t)
{
	unsigned i;

	if (record_destroying(t))
		return false;
	for (i = 0; i < TMEM_MAX_SLOTS; i++)
		if (slot_get(&seg_slot(t, i)->state) == SLOT_ATTACHED &&
		    !tmem_slot_alive(t, i))
			return false;
	return true;
}

int main(void)
{
	struct timespec pause_ms = {0, 50 * 1000000L};
	int up[2], status, i;
	uint64_t repairs;
	uint32_t asked;
	pid_t srv, pid, tl;
	struct tmem *t;

	test_require_hooks();
	name = test_segment_name("destroy-dead");
	CHECK(pipe(up) == 0);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0)
		test_swap_child(name, NPAGES, up[1]);
	test_hear(up[0]);
	t = test_attach(name);
	test_stop_child(srv);

	/* The tool's destroy times out; it waits for its check. */
	asked = atomic_load(&t->hdr->check_req);
	tl = fork();
	CHECK(tl >= 0);
	if (tl == 0)
		tool();
	for (i = 0; i < 200 && atomic_load(&t->hdr->check_req) == asked; i++)
		nanosleep(&pause_ms, NULL);
	CHECK(atomic_load(&t->hdr->check_req) != asked);
	CHECK(record_destroying(t));

	/* An unrelated process dies attached. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		test_attach(name);
		_exit(0);
	}
	test_wait_ok(pid);

	repairs = atomic_load(&t->hdr->repairs);
	CHECK(kill(srv, SIGCONT) == 0);
	for (i = 0; i < 200 && !settled(t); i++)
		nanosleep(&pause_ms, NULL);
	CHECK(settled(t));
	test_wait_ok(tl);
	CHECK(atomic_load(&t->hdr->repairs) == repairs);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	kill(srv, SIGKILL);
	waitpid(srv, &status, 0);
	tmem_unlink(name);
	printf("destroy dead: ok\n");
	return 0;
}
