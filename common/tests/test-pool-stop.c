/* tmem: a stopped (SIGSTOP) cache process never stalls the persistent
 * path.  A child hammers an ephemeral sub-pool (puts that evict, gets,
 * flushes); the parent stops it at random moments and keeps putting
 * persistent pages: no put may take long, and every page that was stored
 * reads back. */
#include <config.h>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"

#define KEYS	 500
#define LIMIT_MS 1000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void cache_child(const char *name)
{
	struct tmem_options o;
	unsigned char page[4096], back[4096];
	struct tmem *t;
	uint32_t e;
	uint64_t i, s = 12345;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_find(t, "cache", &e), 0);
	for (i = 0;; i++) {
		uint64_t k = test_rand(&s) % 4096;

		switch (i % 4) {
		case 0:
		case 1:
			page_text(page, k * 3 + i);
			tmem_put(t, e, k / 64, k % 64, page);
			break;
		case 2:
			tmem_get(t, e, k / 64, k % 64, back);
			break;
		default:
			tmem_flush_page(t, e, k / 64, k % 64);
		}
	}
}

int main(void)
{
	const char *name = test_segment_name("stop");
	struct tmem_options o;
	unsigned char page[4096], back[4096];
	static uint64_t ver[KEYS];
	struct tmem *t;
	uint32_t p, e;
	uint64_t i, s = 99, stops = 0, stored = 0;
	double start, worst = 0, t0, dt;
	pid_t pid;
	int status, r;

	test_options(&o, name, 8 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		cache_child(name);
		_exit(0);
	}
	usleep(100 * 1000);
	start = now_ms();
	for (i = 0; now_ms() - start < 3000; i++) {
		uint64_t k = test_rand(&s) % KEYS;

		if (i % 50 == 0) {
			CHECK(kill(pid, i % 100 == 0 ? SIGSTOP : SIGCONT) == 0);
			stops += i % 100 == 0;
			usleep((useconds_t)(test_rand(&s) % 2000));
		}
		page_random(page, k * 1000003 + i);
		t0 = now_ms();
		r = tmem_put(t, p, 1, k, page);
		dt = now_ms() - t0;
		if (dt > worst)
			worst = dt;
		CHECK(r == 0 || r == -ENOSPC);
		ver[k] = r == 0 ? k * 1000003 + i + 1 : 0;
		stored += r == 0;
	}
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	fprintf(stderr, "%llu puts, %llu stored, %llu stops, slowest %.1f ms\n",
		(unsigned long long)i, (unsigned long long)stored,
		(unsigned long long)stops, worst);
	CHECK(worst < LIMIT_MS);
	CHECK(stored > i / 2);
	for (i = 0; i < KEYS; i++) {
		if (!ver[i])
			continue;
		page_random(page, ver[i] - 1);
		CHECK_RC(tmem_get(t, p, 1, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	CHECK_RC(tmem_check(t), 0);
	tmem_close(t);
	return 0;
}
