/* tmem: two processes (two threads each) share one segment with
 * concurrent put/get/flush on private and on shared keys; every page read
 * back is verified, and the pool is consistent afterwards. */
#include <config.h>

#include <pthread.h>
#include <sys/wait.h>

#include "test-pool.h"

#define OPS	    4000
#define SHARED_KEYS 64

static const char *name;
static uint32_t pool_p, pool_e;

/* A page that says which key and version it is, so a reader can tell a
 * valid version from garbage or from another key's page. */
static void make_page(unsigned char *page, uint64_t obj, uint64_t idx,
		      uint64_t ver)
{
	switch (ver % 4) {
	case 0:
		page_text(page, obj * 7919 + idx * 31 + ver);
		break;
	case 1:
		page_random(page, obj * 7919 + idx * 31 + ver);
		break;
	case 2:
		page_fill64(page, 0x0101010101010101ULL * (ver & 0xff));
		memset(page, 0, 64);
		break;
	default:
		page_text(page, idx); /* duplicates across keys */
		break;
	}
	memcpy(page, &obj, 8);
	memcpy(page + 8, &idx, 8);
	memcpy(page + 16, &ver, 8);
}

static bool page_valid(const unsigned char *page, uint64_t obj, uint64_t idx)
{
	unsigned char want[4096];
	uint64_t ver;

	memcpy(&ver, page + 16, 8);
	make_page(want, obj, idx, ver);
	return memcmp(want, page, 4096) == 0;
}

struct worker {
	struct tmem *t;
	uint64_t obj;
	int fails;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned char page[4096], back[4096];
	uint64_t s = w->obj * 977 + 1, ver[256] = {0};
	int i, r;

	for (i = 0; i < OPS; i++) {
		uint64_t op = test_rand(&s) % 10, idx = test_rand(&s) % 256;
		uint32_t pool = idx & 1 ? pool_e : pool_p;

		if (op < 4) {
			make_page(page, w->obj, idx, ++ver[idx]);
			r = tmem_put(w->t, pool, w->obj, idx, page);
			if (r && !(pool == pool_e && r == -EBUSY))
				w->fails++;
			if (r)
				ver[idx] = 0;
		} else if (op < 8) {
			r = tmem_get(w->t, pool, w->obj, idx, back);
			if (ver[idx] && pool == pool_p && r != 0)
				w->fails++;
			if (r == 0 && (!page_valid(back, w->obj, idx) ||
				       memcmp(back + 16, &ver[idx], 8) != 0))
				w->fails++;
			if (r != 0 && r != -ENOENT)
				w->fails++;
		} else if (op < 9) {
			CHECK_RC(tmem_flush_page(w->t, pool, w->obj, idx), 0);
			ver[idx] = 0;
		} else {
			/* Shared keys: any valid version will do. */
			uint64_t k = idx % SHARED_KEYS;

			if (idx & 2) {
				make_page(page, 99, k, test_rand(&s) % 1000);
				r = tmem_put(w->t, pool_p, 99, k, page);
				if (r)
					w->fails++;
			} else {
				r = tmem_get(w->t, pool_p, 99, k, back);
				if (r == 0 && !page_valid(back, 99, k))
					w->fails++;
			}
		}
	}
	return NULL;
}

static int child(int n)
{
	struct tmem_options o;
	struct worker w[2];
	pthread_t th[2];
	int i, fails = 0;

	test_options(&o, name, 0);
	o.create = false;
	CHECK_RC(tmem_open(&o, &w[0].t), 0);
	for (i = 0; i < 2; i++) {
		w[i].t = w[0].t;
		w[i].obj = (uint64_t)n * 2 + (uint64_t)i + 1;
		w[i].fails = 0;
		CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		fails += w[i].fails;
	}
	tmem_close(w[0].t);
	if (fails)
		fprintf(stderr, "child %d: %d failures\n", n, fails);
	return fails ? 1 : 0;
}

int main(void)
{
	struct tmem_options o;
	struct tmem_stats st;
	struct tmem *t;
	pid_t pid[2];
	int i, status;

	name = test_segment_name("procs");
	test_options(&o, name, 32 << 20);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "p", TMEM_PERSISTENT, 0, 0, &pool_p), 0);
	CHECK_RC(tmem_pool_open(t, "e", TMEM_EPHEMERAL, 0, 0, &pool_e), 0);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		CHECK(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(child(i));
	}
	for (i = 0; i < 2; i++) {
		CHECK(waitpid(pid[i], &status, 0) == pid[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_RC(tmem_check(t), 0);
	CHECK_RC(tmem_stats_get(t, &st), 0);
	CHECK(st.puts > 0 && st.gets > 0 && st.hits > 0);
	CHECK(st.checksum_errors == 0);
	tmem_close(t);
	return 0;
}
