/* tmem: a process without a grower (a tool) never repairs or checks a pool
 * that a live process with a grower serves; it asks that grower, waits a
 * bounded time, and fails when the answer does not come.
 *
 * A server process runs a grower and answers commands on a pipe (get
 * every page it stored).  Three rounds, each with a tool process that
 * attaches without a grower, is set to stop itself (SIGSTOP) at crash
 * point 50 (in a repair, every pool lock held) and 51 (in a check, the
 * same), reports what its call returned on a pipe and then stops itself
 * too, still attached:
 *
 *  1. the server is stopped, a peer is killed at crash point 3 holding an
 *     index stripe (a repair is due), and the tool gets the key of that
 *     stripe: the get must fail with -ETIMEDOUT within the bound;
 *  2. the server runs and the tool checks: the check must pass, and the
 *     server's grower must be the one that ran it;
 *  3. the server is stopped and the tool checks: -ETIMEDOUT within the
 *     bound.
 *
 * After each, with the tool stopped, the server (continued) must get
 * every page back within a second: the tool holds no pool lock.
 *
 *  4. the server runs and the tool verifies (tmem_verify), stopping
 *     itself at the first entry it looks at (crash point 52, its index
 *     stripe held): that must be a cache (ephemeral) entry, never a swap
 *     one, so the server still gets every page within a second;
 *  5. as 1, with a put over a cache page: -ETIMEDOUT within the bound. */
#include <config.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define NPAGES	 64
#define BOUND_MS 2000 /* TMEM_SERVED_WAIT_MS for the tools */

static const char *name;
static int cmd_pipe[2], reply_pipe[2], tool_pipe[2];
static _Atomic unsigned checks_served; /* in the server */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void server_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	test_log(opaque, level, msg);
	if (strstr(msg, "check asked for by"))
		atomic_fetch_add(&checks_served, 1);
}

/* The server: store NPAGES pages, start the grower, then answer each
 * command byte: 'g' gets every page ('o' if all are back, else 'f'),
 * 'c' answers how many checks its grower ran for others, 'r' once no
 * repair is due ('o'). */
static void server(void)
{
	unsigned char page[4096], back[4096], c, ok;
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;
	uint64_t i;

	close(cmd_pipe[1]); /* ends at the driver's close */
	test_options(&o, name, 0);
	o.create = false;
	o.grower = true;
	o.put_may_grow = true;
	o.log = server_log;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	CHECK_RC(tmem_start(t), 0);
	c = 'r';
	CHECK(write(reply_pipe[1], &c, 1) == 1);
	while (read(cmd_pipe[0], &c, 1) == 1) {
		if (c == 'c') {
			ok = (unsigned char)atomic_load(&checks_served);
		} else if (c == 'r') {
			/* The killed tools' slots repaired (by the grower,
			 * or here after a while): nothing due any more. */
			ok = tmem_reap_dead(t) == 0 ? 'o' : 'f';
		} else {
			ok = 'o';
			for (i = 0; i < NPAGES; i++) {
				page_text(page, i);
				if (tmem_get(t, p, 1, i, back) != 0 ||
				    memcmp(page, back, 4096) != 0)
					ok = 'f';
			}
		}
		CHECK(write(reply_pipe[1], &ok, 1) == 1);
	}
	tmem_close(t);
	_exit(0);
}

/* The server's next one-byte answer, or -1 if none came within ms. */
static int server_reply(int ms)
{
	struct pollfd pf = {.fd = reply_pipe[0], .events = POLLIN};
	unsigned char c;

	if (poll(&pf, 1, ms) != 1 || read(reply_pipe[0], &c, 1) != 1)
		return -1;
	return c;
}

static int server_ask(char cmd, int ms)
{
	CHECK(write(cmd_pipe[1], &cmd, 1) == 1);
	return server_reply(ms);
}

/* The peer: overwrite the server's page (1, 0) with the same bytes and
 * die (crash point 3) holding that key's index stripe. */
static void peer(void)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	page_text(page, 0);
	tmem_crash_at = 3;
	tmem_put(t, p, 1, 0, page);
	_exit(3);
}

/* The tool: attach without a grower, run what (get or check), report
 * "RC MS" on tool_pipe, stop.  A repair or check it runs itself stops it
 * earlier, holding every pool lock (crash points 50, 51). */
static void tool(char what)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	char line[64];
	long long t0;
	uint32_t p;
	int r, n;

	snprintf(line, sizeof line, "%d", BOUND_MS);
	setenv("TMEM_SERVED_WAIT_MS", line, 1);
	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = what == 'g' ? 50 : 51;
	if (what == 'v') {
		struct tmem_verify_result vr;

		tmem_crash_at = 52;
		tmem_verify(t, false, 0, &vr);
		_exit(0); /* it should have stopped inside */
	}
	if (what == 'p') {
		/* The dead peer's stripe, found: a repair is due before the
		 * put takes its first stripe. */
		CHECK_RC(tmem_get(t, p, 1, 0, page), -ETIMEDOUT);
		CHECK_RC(tmem_pool_find(t, "cache", &p), 0);
		page_text(page, 2000);
	}
	t0 = now_ms();
	r = what == 'g'	  ? tmem_get(t, p, 1, 0, page)
	    : what == 'p' ? tmem_put(t, p, 1, 0, page)
			  : tmem_check(t);
	n = snprintf(line, sizeof line, "%d %lld\n", r, now_ms() - t0);
	CHECK(write(tool_pipe[1], line, (size_t)n) == n);
	raise(SIGSTOP);
	tmem_close(t);
	_exit(0);
}

static void stop_and_wait(pid_t pid)
{
	int status;

	kill(pid, SIGSTOP);
	CHECK(test_wait_stop(pid, &status));
}

/* Stop the server, then have a peer die holding a swap stripe: a repair
 * is due that only the (stopped) server may run. */
static void peer_crash(pid_t srv)
{
	int status;
	pid_t pid;

	stop_and_wait(srv);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		peer();
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* One round: run the tool until it stops, then continue the server and
 * have it get every page within a second.  The tool's call must return
 * want within the bound.  false: failed (said why). */
static bool round_run(const char *what, char op, pid_t srv, int want)
{
	char line[64] = "";
	long long ms = -1;
	int status, r = 1, ans;
	bool ok = true;
	ssize_t n;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		tool(op);
	if (!test_wait_stop(pid, &status)) {
		fprintf(stderr, "FAIL: %s: the tool ended (status %#x)\n", what,
			status);
		return false;
	}
	n = read(tool_pipe[0], line, sizeof line - 1);
	if (n > 0) {
		line[n] = '\0';
		sscanf(line, "%d %lld", &r, &ms);
	}
	kill(srv, SIGCONT);
	ans = server_ask('g', 1000);
	if (n <= 0) {
		fprintf(stderr,
			"FAIL: %s: the tool stopped inside a repair or check "
			"of its own, holding the pool\n",
			what);
		ok = false;
	} else if (r != want) {
		fprintf(stderr,
			"FAIL: %s: the tool's call returned %d (%s), "
			"want %d (%s)\n",
			what, r, tmem_strerror(r), want, tmem_strerror(want));
		ok = false;
	} else if (want == -ETIMEDOUT &&
		   (ms < BOUND_MS - 100 || ms > BOUND_MS + 1500)) {
		fprintf(stderr,
			"FAIL: %s: the tool failed after %lld ms, bound %d\n",
			what, ms, BOUND_MS);
		ok = false;
	}
	if (ans != 'o') {
		fprintf(stderr,
			"FAIL: %s: with the tool stopped, the server's gets "
			"%s\n",
			what, ans < 0 ? "waited more than 1 s" : "lost pages");
		ok = false;
		/* Unwedge it for what follows: end the tool. */
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (ans < 0)
			server_reply(10000);
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (ok)
		printf("%s: the tool returned %d (%s) after %lld ms; the "
		       "server served\n",
		       what, r, tmem_strerror(r), ms);
	return ok;
}

/* Round 4: the tool stops inside its verification, holding the stripe
 * of the first entry it looked at; the server must still serve. */
static bool round_verify(void)
{
	const char *what = "verify, server running";
	int status, ans;
	pid_t pid;

	/* The tools killed in the rounds before are repaired first: a
	 * repair stops the world, and would wait for the stripe this tool
	 * holds while stopped, swap stripes held (the repair is not yet
	 * stripe by stripe). */
	CHECK(server_ask('r', 20000) == 'o');
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		tool('v');
	if (!test_wait_stop(pid, &status)) {
		fprintf(stderr,
			"FAIL: %s: the tool ended (status %#x), it never "
			"looked at an entry\n",
			what, status);
		return false;
	}
	ans = server_ask('g', 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (ans != 'o') {
		fprintf(stderr,
			"FAIL: %s: with the tool stopped in its verification, "
			"the server's gets %s\n",
			what,
			ans < 0 ? "waited more than 1 s (the tool held a swap "
				  "stripe)"
				: "lost pages");
		if (ans < 0)
			server_reply(10000);
		return false;
	}
	printf("%s: the tool stopped holding a cache stripe only; the server "
	       "served\n",
	       what);
	return true;
}

int main(void)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	int status, served;
	pid_t srv;
	uint32_t p;
	uint64_t i;
	bool ok = true;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	setvbuf(stdout, NULL, _IOLBF, 0);
	name = test_segment_name("served");
	test_options(&o, name, 16 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	/* A few cache pages, for round 4's tool to stop at. */
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &p), 0);
	for (i = 0; i < 4; i++) {
		page_text(page, 1000 + i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	tmem_close(t);
	CHECK(pipe(cmd_pipe) == 0 && pipe(reply_pipe) == 0 &&
	      pipe(tool_pipe) == 0);
	CHECK(fcntl(tool_pipe[0], F_SETFL, O_NONBLOCK) == 0);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0)
		server();
	CHECK(server_reply(20000) == 'r');

	/* 1: a repair due, the server stopped: the tool's get. */
	peer_crash(srv);
	ok &= round_run("get, repair due, server stopped", 'g', srv,
			-ETIMEDOUT);

	/* 2: the server runs: the tool's check is its grower's. */
	ok &= round_run("check, server running", 'c', srv, 0);
	served = server_ask('c', 1000);
	if (served < 1) {
		fprintf(stderr,
			"FAIL: check, server running: the server's grower ran "
			"no check (the tool ran it)\n");
		ok = false;
	}

	/* 3: the server stopped: the tool's check. */
	stop_and_wait(srv);
	ok &= round_run("check, server stopped", 'c', srv, -ETIMEDOUT);

	/* 4: the server runs: the tool's verification. */
	kill(srv, SIGCONT);
	ok &= round_verify();

	/* 5: a repair due again, the server stopped: the tool's put over a
	 * cache page fails as a timeout within the bound, not as a busy lock
	 * after twice the bound. */
	peer_crash(srv);
	ok &= round_run("cache put, repair due, server stopped", 'p', srv,
			-ETIMEDOUT);

	close(cmd_pipe[1]);
	CHECK(waitpid(srv, &status, 0) == srv);
	return ok ? 0 : 1;
}
