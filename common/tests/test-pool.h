/* tmem: helpers shared by the pool's unit tests.
 *
 * Each test makes its own uniquely named segment and removes it at exit;
 * CHECK prints the failing expression with its line and exits 1.
 */
#ifndef TEST_POOL_H
#define TEST_POOL_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmem.h"

#define CHECK(expr)                                                    \
	do {                                                           \
		if (!(expr)) {                                         \
			fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, \
				__LINE__, #expr);                      \
			exit(1);                                       \
		}                                                      \
	} while (0)

#define CHECK_RC(call, want)                                            \
	do {                                                            \
		int rc_ = (call);                                       \
		if (rc_ != (want)) {                                    \
			fprintf(stderr,                                 \
				"%s:%d: FAIL: %s = %d (%s), want %d\n", \
				__FILE__, __LINE__, #call, rc_,         \
				tmem_strerror(rc_), (want));            \
			exit(1);                                        \
		}                                                       \
	} while (0)

static char test_segment[64];

static inline void test_log(void *opaque, enum tmem_log_level level,
			    const char *msg)
{
	(void)opaque;
	if (level <= TMEM_LOG_WARNING || getenv("TMEM_TEST_VERBOSE"))
		fprintf(stderr, "[%d] tmem: %s\n", (int)getpid(), msg);
}

static inline void test_unlink_segment(void)
{
	if (test_segment[0])
		tmem_unlink(test_segment);
}

/* A segment name of our own, removed when the test exits. */
static inline const char *test_segment_name(const char *what)
{
	snprintf(test_segment, sizeof test_segment, "tmem-test-%s-%d", what,
		 (int)getpid());
	tmem_unlink(test_segment);
	atexit(test_unlink_segment);
	return test_segment;
}

static inline void test_options(struct tmem_options *o, const char *name,
				uint64_t size)
{
	tmem_options_init(o);
	o->name = name;
	o->pool_size = size;
	o->log = test_log;
	o->contexts = 4;
}

/* Deterministic pages of several kinds. */
static inline uint64_t test_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline void page_random(void *page, uint64_t seed)
{
	uint64_t s = seed * 2654435761u + 1, *w = page;
	size_t i;

	for (i = 0; i < 4096 / 8; i++)
		w[i] = test_rand(&s);
}

static inline void page_text(void *page, uint64_t seed)
{
	static const char *words[] = {
		"pool ", "page ", "swap ",   "cache ",	    "zstd ",
		"the ",	 "of ",	  "memory ", "compressed ", "transcendent "};
	uint64_t s = seed * 11400714819323198485ull + 7;
	char *p = page;
	size_t n = 0;

	while (n < 4096) {
		const char *w = words[test_rand(&s) % 10];
		size_t l = strlen(w);

		if (n + l > 4096)
			l = 4096 - n;
		memcpy(p + n, w, l);
		n += l;
	}
	snprintf(p, 24, "%llu:", (unsigned long long)seed);
}

static inline void page_fill64(void *page, uint64_t v)
{
	uint64_t *w = page;
	size_t i;

	for (i = 0; i < 4096 / 8; i++)
		w[i] = v;
}

/* Skip (exit 77) a test that needs the pool's test hooks (crash points,
 * TMEM_SERVED_WAIT_MS) in a build without them. */
static inline void test_require_hooks(void)
{
#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	exit(77);
#endif
}

/* Attach to segment name, made by the test's first process. */
static inline struct tmem *test_attach(const char *name)
{
	struct tmem_options o;
	struct tmem *t;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	return t;
}

/* The swap server of a stop test: make segment name (size bytes), open
 * the persistent sub-pool "swap" (*p), start the grower, and store
 * npages text pages under object 1, indexes 0 to npages - 1. */
static inline struct tmem *test_swap_server(const char *name, uint64_t size,
					    uint64_t npages, uint32_t *p)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tmem *t;
	uint64_t i;

	test_options(&o, name, size);
	o.grower = true;
	o.put_may_grow = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, p), 0);
	CHECK_RC(tmem_start(t), 0);
	for (i = 0; i < npages; i++) {
		page_text(page, i);
		CHECK_RC(tmem_put(t, *p, 1, i, page), 0);
	}
	return t;
}

/* Processes that take turns: one byte over pipe fd. */
static inline void test_say(int fd)
{
	CHECK(write(fd, "x", 1) == 1);
}

static inline void test_hear(int fd)
{
	char c;

	CHECK(read(fd, &c, 1) == 1);
}

/* A swap server child (test_swap_server, npages pages): says so over
 * fd out once it serves, then serves until killed (at the latest when the
 * test exits: a failed CHECK leaves it no other way). */
static inline void test_swap_child(const char *name, uint64_t npages, int out)
{
	uint32_t p;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	test_swap_server(name, 32 << 20, npages, &p);
	test_say(out);
	for (;;)
		pause();
}

/* Wait for child pid, which must exit 0. */
static inline void test_wait_ok(pid_t pid)
{
	int status;

	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Stop child pid (SIGSTOP) and wait until it is stopped. */
static inline void test_stop_child(pid_t pid)
{
	int status;

	CHECK(kill(pid, SIGSTOP) == 0);
	CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status));
}

/* Store n text pages (seeds 100000 on) under object 7 of sub-pool pool:
 * a tool's pages, apart from a swap server's (test_swap_server). */
static inline void test_tool_pages(struct tmem *t, uint32_t pool, uint64_t n)
{
	unsigned char page[4096];
	uint64_t i;

	for (i = 0; i < n; i++) {
		page_text(page, 100000 + i);
		CHECK_RC(tmem_put(t, pool, 7, i, page), 0);
	}
}

/* Wait (20 s at most, else fail) until child pid stops (true: stopped at
 * a crash point raising SIGSTOP) or ends (false); *status as waitpid's. */
static inline bool test_wait_stop(pid_t pid, int *status)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	int waited;

	for (waited = 0;; waited++) {
		pid_t w = waitpid(pid, status, WUNTRACED | WNOHANG);

		CHECK(w >= 0);
		if (w == pid)
			return WIFSTOPPED(*status);
		CHECK(waited < 20000);
		nanosleep(&ms, NULL);
	}
}

#endif /* TEST_POOL_H */
