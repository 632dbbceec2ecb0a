/* tmem: after a process is killed (SIGKILL) at any numbered step of put,
 * flush, eviction, chunk freeing or pool destruction, the next get, put
 * and flush go through at once — without anyone calling tmem_check (or
 * any other repair) first.  test-pool-crash repairs before touching the
 * pool again; here the survivors' first requests are the ones that find
 * the dead process's locks: from two threads of a survivor at once, or
 * first from a process that attaches afterwards.
 *
 * The child stores the same pages as the survivor (dedup off, so each
 * gets a blob of its own in the same blob stripe): when it dies holding
 * that stripe, the survivor's get reaches it while holding the key's
 * index stripe.  A watchdog fails the test when any request waits longer
 * than a second (three under the sanitizers).
 *
 * Then once more with a survivor that serves (runs its grower thread, as
 * tmem.so and the cache daemon do): the repair must run on the grower
 * thread, never on a thread that makes requests, and a process that only
 * attaches (as tmemctl does: no grower) must leave the repair to it. */
#include <config.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"

static const int points[] = {1,	 2,  3,	 4,  5,	 6,  7, 10,
			     11, 20, 21, 30, 31, 32, 40};

#define NPAGES 50
/* ns: the longest a request may take.  Under the sanitizers, on a loaded
 * machine (make -j), a repair that stops the world can take longer than a
 * second on its own; a wedge is still a wait without end. */
#ifdef TMEM_SANITIZED
#define WAIT_LIMIT 3000000000LL
#else
#define WAIT_LIMIT 1000000000LL
#endif

static char seg[64];
static int point;

/* Threads that make requests, and processes that only attach, must not
 * repair when a grower serves the pool. */
static _Thread_local bool request_thread;
static bool serving;

static void crash_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	test_log(opaque, level, msg);
	if (serving && request_thread &&
	    (strstr(msg, "repairing after") || strstr(msg, "repair fixed"))) {
		fprintf(stderr,
			"FAIL: crash point %d: a request thread repaired the "
			"pool while a grower serves it: %s\n",
			point, msg);
		tmem_unlink(seg);
		_exit(1);
	}
}

/* ---- watchdog ------------------------------------------------------ */

struct op {
	_Atomic long long since; /* ns, 0: idle */
	const char *what;
};
static struct op ops[2]; /* one per thread that makes requests */
static const char *who = "survivor";

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void op_begin(struct op *o, const char *what)
{
	o->what = what;
	atomic_store(&o->since, now_ns());
}

static void op_end(struct op *o)
{
	atomic_store(&o->since, 0);
}

static void *watchdog(void *arg)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
	size_t i;

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
			long long s = atomic_load(&ops[i].since);

			if (s && now_ns() - s > WAIT_LIMIT) {
				fprintf(stderr,
					"FAIL: crash point %d: %s thread %zu: "
					"%s waited more than %lld ms\n",
					point, who, i, ops[i].what,
					WAIT_LIMIT / 1000000);
				tmem_unlink(seg);
				_exit(1);
			}
		}
	}
	return NULL;
}

/* ---- the dead process ---------------------------------------------- */

static void child_work(void)
{
	struct tmem_options o;
	unsigned char page[4096];
	struct tmem *t;
	uint32_t p, e, tmp;
	uint64_t i, n;

	test_options(&o, seg, 0);
	o.create = false;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "p", &p), 0);
	CHECK_RC(tmem_pool_open(t, "ce", TMEM_EPHEMERAL, 0, 4 << 16, &e), 0);
	/* The survivor's pages again: the same blob stripes. */
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 500, i, page), 0);
	}
	for (i = 0; i < 200; i++) {
		page_text(page, 5000 + i);
		CHECK_RC(tmem_put(t, p, 500, i, page), 0);
	}
	for (i = 0; i < 10; i++)
		CHECK_RC(tmem_flush_page(t, p, 500, i), 0);
	CHECK_RC(tmem_flush_object(t, p, 500), 0);
	CHECK_RC(tmem_pool_open(t, "tmp", TMEM_PERSISTENT, 0, 0, &tmp), 0);
	CHECK_RC(tmem_put(t, tmp, 1, 1, page), 0);
	CHECK_RC(tmem_pool_destroy(t, tmp), 0);
	for (i = 0; i < 1000; i++) {
		page_random(page, 7000 + i);
		CHECK_RC(tmem_put(t, e, 600, i, page), 0);
	}
	/* Fragment the pool, then make the put path compact and evict. */
	for (i = 0;; i++) {
		page_random(page, 9000 + i);
		if (tmem_put(t, p, 800, i, page) != 0)
			break;
	}
	n = i;
	for (i = 0; i < n; i++) {
		if (i % 15)
			CHECK_RC(tmem_flush_page(t, p, 800, i), 0);
	}
	for (i = 0; i < n / 2; i++) {
		page_random(page, 20000 + i);
		CHECK_RC(tmem_put(t, p, 801, i, page), 0);
	}
	tmem_close(t);
}

/* ---- the survivors ------------------------------------------------- */

struct worker {
	struct tmem *t;
	uint32_t pool;
	struct op *op;
	uint64_t object; /* for its own put and flush */
};

/* Get every page the survivor stored, then put, get and flush one of its
 * own: each request timed by the watchdog. */
static void requests(struct worker *w)
{
	unsigned char page[4096], back[4096];
	uint64_t i;

	request_thread = true;
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		op_begin(w->op, "get");
		CHECK_RC(tmem_get(w->t, w->pool, 1, i, back), 0);
		op_end(w->op);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		op_begin(w->op, "put");
		CHECK_RC(tmem_put(w->t, w->pool, w->object, i, page), 0);
		op_end(w->op);
		op_begin(w->op, "get");
		CHECK_RC(tmem_get(w->t, w->pool, w->object, i, back), 0);
		op_end(w->op);
		CHECK(memcmp(page, back, 4096) == 0);
		op_begin(w->op, "flush");
		CHECK_RC(tmem_flush_page(w->t, w->pool, w->object, i), 0);
		op_end(w->op);
	}
}

static void *worker_main(void *arg)
{
	requests(arg);
	return NULL;
}

/* A process that attaches after the crash and goes straight to work; with
 * a serving survivor, one that attaches as tmemctl does (no grower). */
static void late_process(void)
{
	struct tmem_options o;
	struct worker w = {.op = &ops[0], .object = 3};
	pthread_t wd;

	who = serving ? "attaching process" : "late process";
	CHECK(pthread_create(&wd, NULL, watchdog, NULL) == 0);
	test_options(&o, seg, 0);
	o.log = crash_log;
	o.create = false;
	o.grower = !serving;
	request_thread = true;
	op_begin(w.op, "tmem_open");
	CHECK_RC(tmem_open(&o, &w.t), 0);
	op_end(w.op);
	CHECK_RC(tmem_pool_find(w.t, "p", &w.pool), 0);
	requests(&w);
	tmem_close(w.t);
}

static void one_crash(bool late)
{
	struct tmem_options o;
	unsigned char page[4096];
	struct worker w[2];
	struct tmem *t;
	pthread_t th;
	uint32_t p;
	uint64_t i;
	int status, go[2];
	pid_t pid;

	snprintf(seg, sizeof seg, "tmem-test-crashlive-%d", (int)getpid());
	tmem_unlink(seg);
	test_options(&o, seg, 8 << 20);
	o.log = crash_log;
	o.grower = serving;
	o.put_may_grow = serving;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &p), 0);
	for (i = 0; i < NPAGES; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, p, 1, i, page), 0);
	}
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char env[16];

		snprintf(env, sizeof env, "%d", point);
		setenv("TMEM_CRASH_POINT", env, 1);
		child_work();
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		fprintf(stderr, "crash point %d was never reached\n", point);
		exit(1);
	}
	/* The late process is forked before the grower starts: a child
	 * forked while the grower runs (it allocates and logs as it repairs)
	 * may inherit a lock no thread will release (POSIX allows it only
	 * async-signal-safe calls), and one forked so hung in tmem_open under
	 * ASan.  The watchdog, the one thread that does run across every
	 * fork, holds no lock: it sleeps and reads atomics.  The child waits
	 * on the pipe until the grower runs, as a server's would be running. */
	if (late) {
		CHECK(pipe(go) == 0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			char c;

			close(go[1]);
			CHECK(read(go[0], &c, 1) == 1);
			late_process();
			_exit(0);
		}
		close(go[0]);
	}
	if (serving)
		CHECK_RC(tmem_start(t), 0);
	if (late) {
		CHECK(write(go[1], "g", 1) == 1);
		close(go[1]);
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr,
				"crash point %d: the late process failed\n",
				point);
			exit(1);
		}
	}
	/* Two threads of the survivor at once. */
	for (i = 0; i < 2; i++) {
		w[i].t = t;
		w[i].pool = p;
		w[i].op = &ops[i];
		w[i].object = 10 + i;
	}
	CHECK(pthread_create(&th, NULL, worker_main, &w[1]) == 0);
	requests(&w[0]);
	CHECK(pthread_join(th, NULL) == 0);
	/* Whatever repaired the pool left it consistent. */
	request_thread = false;
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	tmem_unlink(seg);
}

int main(void)
{
	pthread_t wd;
	size_t k;
	int late, serve;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	CHECK(pthread_create(&wd, NULL, watchdog, NULL) == 0);
	for (serve = 0; serve < 2; serve++) {
		serving = serve;
		for (late = 0; late < 2; late++) {
			for (k = 0; k < sizeof points / sizeof points[0]; k++) {
				point = points[k];
				one_crash(late);
			}
		}
	}
	return 0;
}
