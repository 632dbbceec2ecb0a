/* tmem: a sub-pool that a live process holds cannot be destroyed.
 *
 * A child opens a sub-pool and stores a page; while it lives, the parent's
 * tmem_pool_destroy answers -EBUSY, tmem_pool_holders names the child's
 * pid (on a read-only handle too), and the page is still there.  Once the
 * child has closed its handle — or died without closing it — the destroy
 * goes through.  A process's own hold never stops its own destroy.
 */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>

#include "test-pool.h"

static unsigned char page[4096], back[4096];

/* A child that holds "held" and stores one page, then waits for a byte on
 * its pipe: 'c' closes the handle and waits again, anything else exits
 * without closing. */
static pid_t holder_start(const char *name, int *ctl_fd)
{
	int up[2], down[2];
	pid_t pid;
	char b;

	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct tmem_options o;
		struct tmem *t;
		uint32_t p;

		close(up[0]);
		close(down[1]);
		test_options(&o, name, 32 << 20);
		CHECK_RC(tmem_open(&o, &t), 0);
		CHECK_RC(tmem_pool_open(t, "held", TMEM_PERSISTENT, 0, 0, &p),
			 0);
		page_text(page, 7);
		CHECK_RC(tmem_put(t, p, 1, 2, page), 0);
		CHECK(write(up[1], "r", 1) == 1);
		CHECK(read(down[0], &b, 1) == 1);
		if (b == 'c') {
			tmem_close(t);
			CHECK(write(up[1], "c", 1) == 1);
			CHECK(read(down[0], &b, 1) >= 0);
		}
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	CHECK(read(up[0], &b, 1) == 1 && b == 'r');
	*ctl_fd = down[1];
	ctl_fd[1] = up[0];
	return pid;
}

static void expect_held(struct tmem *t, struct tmem *ro, pid_t child)
{
	uint32_t p;
	int pids[2] = {0, 0};

	CHECK_RC(tmem_pool_find(t, "held", &p), 0);
	CHECK_RC(tmem_pool_destroy(t, p), -EBUSY);
	CHECK_RC(tmem_pool_holders(t, p, pids, 2), 1);
	CHECK(pids[0] == child);
	pids[0] = 0;
	CHECK_RC(tmem_pool_holders(ro, p, pids, 2), 1);
	CHECK(pids[0] == child);
	/* Nothing was dropped by the refused destroy. */
	CHECK_RC(tmem_pool_open(t, "held", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_get(t, p, 1, 2, back), 0);
	page_text(page, 7);
	CHECK(memcmp(page, back, sizeof page) == 0);
}

int main(void)
{
	const char *name = test_segment_name("hold");
	struct tmem_options o;
	struct tmem *t, *ro;
	uint32_t p, mine;
	int fds[2], st;
	pid_t child;
	char b;

	test_options(&o, name, 32 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	o.readonly = true;
	o.create = false;
	CHECK_RC(tmem_open(&o, &ro), 0);

	/* Our own hold: our own destroy goes through. */
	CHECK_RC(tmem_pool_open(t, "mine", TMEM_PERSISTENT, 0, 0, &mine), 0);
	CHECK_RC(tmem_pool_holders(t, mine, NULL, 0), 0);
	CHECK_RC(tmem_pool_destroy(t, mine), 0);
	CHECK_RC(tmem_pool_holders(t, mine, NULL, 0), -ENOENT);

	/* Held, then released by tmem_close. */
	child = holder_start(name, fds);
	expect_held(t, ro, child);
	CHECK(write(fds[0], "c", 1) == 1);
	CHECK(read(fds[1], &b, 1) == 1 && b == 'c');
	CHECK_RC(tmem_pool_find(t, "held", &p), 0);
	CHECK_RC(tmem_pool_holders(t, p, NULL, 0), 0);
	/* Our own tmem_pool_open in expect_held holds it: still ours to
	 * destroy. */
	CHECK_RC(tmem_pool_destroy(t, p), 0);
	CHECK(write(fds[0], "x", 1) == 1);
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	close(fds[0]);
	close(fds[1]);

	/* Held, then released by the holder's death. */
	child = holder_start(name, fds);
	expect_held(t, ro, child);
	CHECK(kill(child, SIGKILL) == 0);
	CHECK(waitpid(child, &st, 0) == child);
	close(fds[0]);
	close(fds[1]);
	CHECK_RC(tmem_pool_find(t, "held", &p), 0);
	CHECK_RC(tmem_pool_holders(t, p, NULL, 0), 0);
	CHECK_RC(tmem_pool_destroy(t, p), 0);
	CHECK_RC(tmem_pool_find(t, "held", &p), -ENOENT);

	tmem_close(ro);
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	printf("hold: ok\n");
	return 0;
}
