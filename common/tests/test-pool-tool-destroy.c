/* tmem: a tool that destroys a swap sub-pool of a served pool never holds
 * a lock the swap server needs.
 *
 * The swap server (this process, with its grower) serves the persistent
 * sub-pool "swap", whose pages cover every index stripe of the swap half.
 * A tool (a process without a grower, as tmemctl destroy --subpool)
 * stores pages in "old", another persistent sub-pool, and destroys it,
 * set to stop itself (SIGSTOP) at the first index entry it would drop
 * (crash point 11: that entry's index stripe held).  The server's gets of
 * every page of "swap" must each finish within a second (a watchdog):
 * were the tool stopped holding a swap stripe, the get of a key of that
 * stripe would wait as long as the tool.  Then the tool goes on (if it
 * stopped at all), its destroy must have answered 0, "old" must be gone
 * with every page of it, and the pool must check clean.  The same again
 * with a tool that holds another swap sub-pool open ("keep", as tmemctl
 * create does with the sub-pools it made when it removes them again):
 * having one open does not make it a swap server. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"
#include "test-watchdog.h"
#include "tmem-internal.h"

#define NPAGES 1024 /* "swap": several keys on every swap stripe */
#define NOLD   64

static const char *name;

/* The tool: fill "old" (with "keep" open too, if keep), then destroy
 * it, stopping at crash point 11.  Exits 0 when the destroy answered 0. */
static void tool(bool keep)
{
	unsigned char page[4096];
	struct tmem *t = test_attach(name);
	uint32_t old, kept;
	uint64_t i;
	int r;

	if (keep)
		CHECK_RC(
			tmem_pool_open(t, "keep", TMEM_PERSISTENT, 0, 0, &kept),
			0);
	CHECK_RC(tmem_pool_open(t, "old", TMEM_PERSISTENT, 0, 0, &old), 0);
	for (i = 0; i < NOLD; i++) {
		page_text(page, 100000 + i);
		CHECK_RC(tmem_put(t, old, 7, i, page), 0);
	}
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 11;
	r = tmem_pool_destroy(t, old);
	tmem_crash_at = 0;
	if (r != 0)
		fprintf(stderr, "the tool's destroy: %s\n", tmem_strerror(r));
	tmem_close(t);
	_exit(r == 0 ? 0 : 1);
}

/* Get every page of "swap" back, each as one request (TIMED). */
static void gets_all(struct tmem *t, uint32_t p)
{
	unsigned char page[4096], back[4096];
	uint64_t i;
	int r;

	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		TIMED("get", r = tmem_get(t, p, 1, i, back));
		CHECK_RC(r, 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
}

/* A tool destroys "old" (holding "keep" open, if keep) while this
 * server gets every page of "swap" p, each within a second. */
static bool destroy_by_tool(struct tmem *t, uint32_t p, bool keep)
{
	uint32_t old;
	bool stopped;
	int status;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		tool(keep);
	stopped = test_wait_stop(pid, &status);
	test_watchdog_victim(stopped ? pid : 0);
	gets_all(t, p);
	atomic_store(&wd_victim, 0);
	if (stopped) {
		kill(pid, SIGCONT);
		CHECK(waitpid(pid, &status, 0) == pid);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_RC(tmem_pool_find(t, "old", &old), -ENOENT);
	gets_all(t, p);
	CHECK_RC(tmem_check(t), 0);
	return stopped;
}

int main(void)
{
	struct tmem *t;
	bool stopped, stopped_keep;
	uint32_t p;

	test_require_hooks();
	name = test_segment_name("tool-destroy");
	t = test_swap_server(name, 32 << 20, NPAGES, &p);
	test_watchdog_start(1000,
			    "with a tool stopped in its destroy of a swap "
			    "sub-pool (holding none, then holding another)",
			    0);
	stopped = destroy_by_tool(t, p, false);
	stopped_keep = destroy_by_tool(t, p, true);
	tmem_close(t);
	printf("tool destroy: ok (%s; holding another: %s)\n",
	       stopped ? "the tool stopped in it" : "left to the server",
	       stopped_keep ? "the tool stopped in it" : "left to the server");
	return 0;
}
