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
 *     one, so the server still gets every page within a second (the dead
 *     tools of the rounds before are repaired meanwhile: the swap half at
 *     once, the cache half once this tool is gone);
 *  5. as 1, with a peer that dies holding a cache stripe and a put over a
 *     cache page: -ETIMEDOUT within the bound;
 *  6, 7. a repair due while a tool is stopped holding a cache stripe:
 *     the server stopped, a peer dies holding a stripe (a cache one in 6,
 *     a swap one in 7), then the tool stops in its verification as in 4.
 *     The server, continued, must get every swap page within a second,
 *     after its grower has had time to start the repair: it repairs the
 *     swap half without waiting for the cache half's locks, which the
 *     stopped tool holds.  Once the tool is gone, nothing stays due.
 *  8. a cache daemon (a process with a grower that serves only the cache
 *     sub-pool), set to stop inside any repair or check it runs (crash
 *     point 51, its locks held), is attached while a peer dies holding a
 *     swap stripe: it must leave the repair to the server, which must get
 *     every page within a second;
 *  9. a cache daemon attached, the server stopped, a peer dies holding a
 *     cache stripe: the daemon's get of that key must not wait for ever
 *     for the stopped server; its grower repairs the cache half itself
 *     after the bound. */
#include <config.h>

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"
#include "tmem-segment-internal.h"

#define NPAGES	 64
#define BOUND_MS 2000 /* TMEM_SERVED_WAIT_MS for the tools */

static const char *name;
static const char *peer_pool = "swap";
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

/* No repair due, and no dead process's slot left. */
static bool settled(struct tmem *t)
{
	unsigned s;

	if (tmem_repair_pending(t))
		return false;
	for (s = 0; s < TMEM_MAX_SLOTS; s++)
		if (slot_get(&seg_slot(t, s)->state) == SLOT_ATTACHED &&
		    !tmem_slot_alive(t, s))
			return false;
	return true;
}

/* The server: store NPAGES pages, start the grower, then answer each
 * command byte: 'g' gets every page ('o' if all are back, else 'f'),
 * 'c' answers how many checks its grower ran for others, 'r' once no
 * repair is due ('o'; 'f' if one still is after 10 s). */
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
	/* Opened as the swap server opens its export: it serves it. */
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_start(t), 0);
	c = 'r';
	CHECK(write(reply_pipe[1], &c, 1) == 1);
	while (read(cmd_pipe[0], &c, 1) == 1) {
		if (c == 'c') {
			ok = (unsigned char)atomic_load(&checks_served);
		} else if (c == 'r') {
			/* The killed tools' slots repaired (by the grower,
			 * or here after a while): nothing due any more. */
			for (i = 0; i < 100; i++) {
				tmem_reap_dead(t);
				if (settled(t))
					break;
				usleep(100000);
			}
			ok = settled(t) ? 'o' : 'f';
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

/* The peer: overwrite page (1, 0) of sub-pool peer_pool with other bytes
 * and die (crash point 3) holding that key's index stripe. */
static void peer(void)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	uint32_t p;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, peer_pool, &p), 0);
	page_text(page, 0);
	tmem_crash_at = 3;
	tmem_put(t, p, 1, 0, page);
	_exit(3);
}

/* Attach as a tool (no grower) or as a daemon (a grower), with the
 * tools' bound on waiting for a server (TMEM_SERVED_WAIT_MS). */
static struct tmem *attach(bool grower)
{
	struct tmem_options o;
	struct tmem *t;
	char bound[16];

	snprintf(bound, sizeof bound, "%d", BOUND_MS);
	setenv("TMEM_SERVED_WAIT_MS", bound, 1);
	test_options(&o, name, 0);
	o.create = false;
	o.grower = grower;
	o.put_may_grow = grower;
	CHECK_RC(tmem_open(&o, &t), 0);
	return t;
}

/* The tool: attach without a grower, run what (get or check), report
 * "RC MS" on tool_pipe, stop.  A repair or check it runs itself stops it
 * earlier, holding every pool lock (crash points 50, 51). */
static void tool(char what)
{
	unsigned char page[4096];
	struct tmem *t;
	char line[64];
	long long t0;
	uint32_t p;
	int r, n;

	t = attach(false);
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
		/* The dead peer's cache stripe, found: a repair of the cache
		 * half is due before the put takes its first stripe. */
		CHECK_RC(tmem_pool_find(t, "cache", &p), 0);
		CHECK_RC(tmem_get(t, p, 1, 0, page), -ETIMEDOUT);
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

/* Whether a live thread holds m: glibc's robust mutex word holds the
 * owner's thread id; a dead owner's is cleared by the kernel (which sets
 * FUTEX_OWNER_DIED for the next taker). */
static bool held(pthread_mutex_t *m)
{
	return (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) &
		FUTEX_TID_MASK) != 0;
}

/* Whether any pool lock is held by a live thread. */
static bool pool_locked(void)
{
	struct tmem_options o;
	struct tmem *t;
	bool any;
	unsigned i;

	test_options(&o, name, 0);
	o.create = false;
	o.readonly = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	any = held(&t->hdr->slots_lock) || held(&t->hdr->pool_lock) ||
	      held(&t->hdr->chunk_lock);
	for (i = 0; i < TMEM_NR_STRIPES && !any; i++)
		any = held(&seg_istripe(t, i)->lock) ||
		      held(&seg_dstripe(t, i)->lock);
	tmem_close(t);
	return any;
}

/* Stop the server where it holds no pool lock (its grower may be in the
 * middle of growing or compacting): a peer must find every lock free. */
static void stop_quiet(pid_t srv)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	int tries;

	for (tries = 0;; tries++) {
		stop_and_wait(srv);
		if (!pool_locked())
			return;
		CHECK(tries < 1000);
		kill(srv, SIGCONT);
		nanosleep(&ms, NULL);
	}
}

/* Stop the server, then have a peer die holding a stripe of peer_pool: a
 * repair is due that only the (stopped) server may run. */
static void peer_crash(pid_t srv)
{
	int status;
	pid_t pid;

	stop_quiet(srv);
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

/* Rounds 4, 6 and 7: the tool stops inside its verification, holding the
 * stripe of the first entry it looked at (a cache one); the server must
 * still serve.  With pool set (6, 7), a peer dies first holding a stripe
 * of that sub-pool while the server is stopped, so that a repair is due;
 * the server's grower is given time to start it, and once the tool is
 * gone nothing may stay due. */
static bool round_verify(const char *what, const char *pool, pid_t srv)
{
	struct timespec grace = {.tv_sec = 1, .tv_nsec = 500000000L};
	int status, ans;
	pid_t pid;

	if (pool) {
		/* From a pool with nothing due: the rounds before leave dead
		 * processes (a tool killed holding a cache stripe, in 4),
		 * whose cache half the grower repairs after the swap half a
		 * get waited for. */
		CHECK(server_ask('r', 20000) == 'o');
		peer_pool = pool;
		peer_crash(srv);
	}
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
	if (pool) {
		kill(srv, SIGCONT);
		/* The grower looks for dead processes every second. */
		nanosleep(&grace, NULL);
	}
	ans = server_ask('g', 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (ans != 'o') {
		fprintf(stderr,
			"FAIL: %s: with the tool stopped in its verification, "
			"the server's gets %s\n",
			what,
			ans >= 0 ? "lost pages"
			: pool	 ? "waited more than 1 s (its repair waited "
				   "for the tool's lock)"
				 : "waited more than 1 s (the tool held a swap "
				   "stripe)");
		if (ans < 0)
			server_reply(10000);
		return false;
	}
	if (pool && server_ask('r', 20000) != 'o') {
		fprintf(stderr,
			"FAIL: %s: a repair is still due after the tool "
			"ended\n",
			what);
		return false;
	}
	printf("%s: the tool stopped holding a cache stripe only; the server "
	       "served%s\n",
	       what, pool ? ", and repaired once the tool ended" : "");
	return true;
}

/* The cache daemon of round 8: attach with a grower, serve the cache
 * sub-pool only, say so on tool_pipe, and wait to be killed; a repair or
 * check its grower runs stops it at crash point 51. */
static void cache_daemon(void)
{
	struct tmem *t;
	uint32_t p;

	t = attach(true);
	CHECK_RC(tmem_pool_find(t, "cache", &p), 0);
	tmem_crash_signal = SIGSTOP;
	tmem_crash_at = 51;
	CHECK_RC(tmem_start(t), 0);
	CHECK(write(tool_pipe[1], "d\n", 2) == 2);
	for (;;)
		pause();
}

/* Whether pid stops within ms. */
static bool stops_within(pid_t pid, int ms)
{
	struct timespec one = {.tv_sec = 0, .tv_nsec = 1000000};
	int status, waited;

	for (waited = 0; waited < ms; waited++) {
		pid_t w = waitpid(pid, &status, WUNTRACED | WNOHANG);

		CHECK(w >= 0);
		if (w == pid)
			return WIFSTOPPED(status);
		nanosleep(&one, NULL);
	}
	return false;
}

/* Round 8: a cache daemon attached when a peer dies holding a swap
 * stripe must not repair (it would stop there, holding locks). */
static bool round_daemon(pid_t srv)
{
	const char *what = "cache daemon attached, swap half due";
	struct pollfd pf = {.fd = tool_pipe[0], .events = POLLIN};
	char line[8];
	int status, ans;
	bool stopped;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		cache_daemon();
	CHECK(poll(&pf, 1, 20000) == 1 && read(tool_pipe[0], line, 2) == 2);
	CHECK(server_ask('r', 20000) == 'o');
	peer_pool = "swap";
	peer_crash(srv);
	/* Its grower looks for dead processes every second. */
	stopped = stops_within(pid, 3000);
	kill(srv, SIGCONT);
	ans = server_ask('g', stopped ? 1000 : 3000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (stopped || ans != 'o') {
		fprintf(stderr, "FAIL: %s: %s; the server's gets %s\n", what,
			stopped ? "the daemon ran a repair itself, and stopped "
				  "there holding its locks"
				: "the daemon left the repair to the server",
			ans == 'o' ? "served"
			: ans < 0  ? "waited more than the bound"
				   : "lost pages");
		if (ans < 0)
			server_reply(10000);
		return false;
	}
	if (server_ask('r', 20000) != 'o') {
		fprintf(stderr, "FAIL: %s: a repair is still due\n", what);
		return false;
	}
	printf("%s: the daemon left the repair to the server, which "
	       "served\n",
	       what);
	return true;
}

/* The cache daemon of round 9: attach with a grower, serve the cache
 * sub-pool, say so on tool_pipe; on a byte from go, get cache page (1, 0)
 * and report "RC MS" on tool_pipe; then wait to be killed. */
static void cache_reader(int go)
{
	unsigned char page[4096], c;
	struct tmem *t;
	char line[64];
	long long t0;
	uint32_t p;
	int r, n;

	t = attach(true);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &p), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK(write(tool_pipe[1], "d\n", 2) == 2);
	CHECK(read(go, &c, 1) == 1);
	t0 = now_ms();
	r = tmem_get(t, p, 1, 0, page);
	n = snprintf(line, sizeof line, "%d %lld\n", r, now_ms() - t0);
	CHECK(write(tool_pipe[1], line, (size_t)n) == n);
	for (;;)
		pause();
}

/* Round 9: the swap server stopped, a cache repair due: a cache daemon's
 * request must not wait for ever. */
static bool round_cache_waits(pid_t srv)
{
	const char *what = "cache daemon, cache half due, server stopped";
	struct pollfd pf = {.fd = tool_pipe[0], .events = POLLIN};
	char line[64] = "";
	long long ms = -1;
	int go[2], status, r = 1;
	bool ok = true;
	ssize_t n = 0;
	pid_t pid;

	CHECK(server_ask('r', 20000) == 'o');
	CHECK(pipe(go) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		cache_reader(go[0]);
	CHECK(poll(&pf, 1, 20000) == 1 && read(tool_pipe[0], line, 2) == 2);
	peer_pool = "cache";
	peer_crash(srv);
	CHECK(write(go[1], "g", 1) == 1);
	if (poll(&pf, 1, BOUND_MS + 5000) == 1)
		n = read(tool_pipe[0], line, sizeof line - 1);
	if (n > 0) {
		line[n] = '\0';
		sscanf(line, "%d %lld", &r, &ms);
	}
	kill(srv, SIGCONT);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(go[0]);
	close(go[1]);
	if (n <= 0) {
		fprintf(stderr,
			"FAIL: %s: the daemon's get waited more than %d ms "
			"for the stopped server\n",
			what, BOUND_MS + 5000);
		ok = false;
	} else if (r != 0 && r != -ENOENT) {
		fprintf(stderr, "FAIL: %s: the daemon's get returned %d (%s)\n",
			what, r, tmem_strerror(r));
		ok = false;
	}
	if (server_ask('r', 20000) != 'o') {
		fprintf(stderr, "FAIL: %s: a repair is still due\n", what);
		ok = false;
	}
	if (ok)
		printf("%s: the daemon's get returned %d after %lld ms (its "
		       "grower repaired the cache half after the %d ms "
		       "bound)\n",
		       what, r, ms, BOUND_MS);
	return ok;
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
	/* A wedge fails the test instead of hanging it (each round takes
	 * a few seconds). */
	alarm(180);
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
	stop_quiet(srv);
	ok &= round_run("check, server stopped", 'c', srv, -ETIMEDOUT);

	/* 4: the server runs: the tool's verification. */
	kill(srv, SIGCONT);
	ok &= round_verify("verify, server running", NULL, srv);

	/* 5: a repair of the cache half due (a peer died holding a cache
	 * stripe), the server stopped: the tool's put over a cache page fails
	 * as a timeout within the bound, not as a busy lock after twice the
	 * bound. */
	CHECK(server_ask('r', 20000) == 'o');
	peer_pool = "cache";
	peer_crash(srv);
	ok &= round_run("cache put, repair due, server stopped", 'p', srv,
			-ETIMEDOUT);

	/* 6, 7: a repair due, a tool stopped holding a cache stripe. */
	ok &= round_verify("cache half due, tool stalled", "cache", srv);
	ok &= round_verify("swap half due, tool stalled", "swap", srv);

	/* 8: a cache daemon attached, a repair due. */
	ok &= round_daemon(srv);

	/* 9: a cache daemon's request while the server is stopped. */
	ok &= round_cache_waits(srv);

	close(cmd_pipe[1]);
	CHECK(waitpid(srv, &status, 0) == srv);
	return ok ? 0 : 1;
}
