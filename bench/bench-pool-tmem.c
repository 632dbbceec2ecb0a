/* bench-pool-run, the pool side: time tmem_put / tmem_get over the corpus
 * and measure what the segment costs in memory.
 *
 * Every segment gets a name unique to this process and is removed when
 * the benchmark ends, also on SIGINT/SIGTERM.  Memory is measured as the
 * peers measure theirs: resident bytes of the segment file (st_blocks),
 * which counts the index, allocator slack, fragmentation and the grower's
 * reserve — everything a user pays for.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tmem.h"

#include "bench-pool.h"

#define MAX_SEGMENTS 8
/* How long a put may keep meeting -ENOSPC before the benchmark gives up:
 * the grower should refill the reserve far sooner. */
#define ENOSPC_PATIENCE 10.0

struct bench_pool {
	struct tmem *t;
	char name[TMEM_NAME_MAX + 1];
	uint32_t pool;
	bool have_pool;
	const struct bench_corpus *c;
	atomic_uint_fast64_t retries;
	unsigned char out[2][BENCH_PAGE] __attribute__((aligned(64)));
};

/* Paths of segments we made, for bench_pool_unlink_all (signal-safe). */
static char segment_paths[MAX_SEGMENTS][TMEM_NAME_MAX + 16];
static volatile int nsegments;

static void remember_segment(const char *name)
{
	if (nsegments < MAX_SEGMENTS) {
		snprintf(segment_paths[nsegments], sizeof segment_paths[0],
			 "/dev/shm/%s", name);
		nsegments++;
	}
}

void bench_pool_unlink_all(void)
{
	for (int i = 0; i < nsegments; i++)
		unlink(segment_paths[i]);
}

static void log_cb(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (level <= TMEM_LOG_WARNING || getenv("BENCH_POOL_VERBOSE"))
		fprintf(stderr, "bench-pool: pool: %s\n", msg);
}

/* The timed segment: room for every page stored raw plus generous
 * metadata.  It is sparse, so a large ceiling costs nothing unless
 * prefaulted. */
static uint64_t segment_size_generous(size_t pages)
{
	uint64_t size = pages * (uint64_t)BENCH_PAGE;

	return size + size / 4 + (64ULL << 20);
}

/* The memory segments: sized like a pool in steady use, which its data
 * fills to about 80% — the pool sizes its index from its ceiling, so a
 * ceiling far above the data would charge the data for tables it does not
 * need.  Data = what the codec makes of each unique page (raw when that
 * saves too little, as the pool does), plus a header each. */
static uint64_t segment_size_snug(const struct bench_corpus *c,
				  const size_t *idx, size_t n)
{
	uint64_t data = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t len = c->csize[idx[i]];

		if (c->kind[idx[i]] != BENCH_UNIQUE)
			continue;
		if (len > BENCH_PAGE * 7 / 8)
			len = BENCH_PAGE;
		data += (len + 8 + 7) & ~7ULL;
	}
	return data + data / 4 + (4ULL << 20);
}

static struct tmem *segment_open(const char *prefix, const char *what,
				 const struct bench_pool_config *cfg,
				 bool prefault, uint64_t size, char *name)
{
	struct tmem_options opts;
	struct tmem *t;
	int r;

	snprintf(name, TMEM_NAME_MAX + 1, "%s-%d-%s", prefix, (int)getpid(),
		 what);
	tmem_unlink(name); /* a leftover of an earlier run with our pid */
	tmem_options_init(&opts);
	opts.name = name;
	opts.pool_size = (size + (1 << 20) - 1) & ~((uint64_t)(1 << 20) - 1);
	opts.level = cfg->level;
	opts.dictionary = cfg->dictionary;
	opts.prefault = prefault;
	opts.grower = true;
	opts.log = log_cb;
	remember_segment(name);
	r = tmem_open(&opts, &t);
	if (r < 0) {
		fprintf(stderr,
			"bench-pool: tmem_open %s (%" PRIu64 " MiB): %s\n",
			name, opts.pool_size >> 20, tmem_strerror(r));
		return NULL;
	}
	r = tmem_start(t);
	if (r < 0) {
		fprintf(stderr, "bench-pool: tmem_start %s: %s\n", name,
			tmem_strerror(r));
		tmem_close(t);
		tmem_unlink(name);
		return NULL;
	}
	return t;
}

static void segment_close(struct tmem *t, const char *name)
{
	int r;

	tmem_close(t);
	r = tmem_unlink(name);
	if (r < 0)
		fprintf(stderr, "bench-pool: warning: tmem_unlink %s: %s\n",
			name, tmem_strerror(r));
}

struct bench_pool *bench_pool_open(const struct bench_pool_config *cfg,
				   const struct bench_corpus *c,
				   const char *what)
{
	struct bench_pool *bp = calloc(1, sizeof *bp);

	if (!bp) {
		fprintf(stderr, "bench-pool: out of memory\n");
		return NULL;
	}
	bp->c = c;
	bp->t = segment_open(cfg->prefix, what, cfg, cfg->prefault,
			     segment_size_generous(c->n), bp->name);
	if (!bp->t) {
		free(bp);
		return NULL;
	}
	return bp;
}

void bench_pool_close(struct bench_pool *bp)
{
	if (!bp)
		return;
	segment_close(bp->t, bp->name);
	free(bp);
}

int bench_pool_reset(struct bench_pool *bp)
{
	int r;

	if (bp->have_pool) {
		r = tmem_pool_destroy(bp->t, bp->pool);
		bp->have_pool = false;
		if (r < 0) {
			fprintf(stderr, "bench-pool: tmem_pool_destroy: %s\n",
				tmem_strerror(r));
			return -1;
		}
	}
	r = tmem_pool_open(bp->t, "bench", TMEM_PERSISTENT, 0, 0, &bp->pool);
	if (r < 0) {
		fprintf(stderr, "bench-pool: tmem_pool_open: %s\n",
			tmem_strerror(r));
		return -1;
	}
	bp->have_pool = true;
	return 0;
}

uint64_t bench_pool_retries(const struct bench_pool *bp)
{
	return bp->retries;
}

/* Put one page, waiting while the grower refills an empty reserve (what
 * a swap device's caller would see as a failed write and retry later). */
static int put_patiently(struct tmem *t, uint32_t pool, uint64_t index,
			 const void *page, atomic_uint_fast64_t *retries)
{
	double give_up = 0;
	int r;

	while ((r = tmem_put(t, pool, 0, index, page)) == -ENOSPC) {
		struct timespec pause = {0, 100000};

		if (give_up == 0)
			give_up = bench_now() + ENOSPC_PATIENCE;
		else if (bench_now() > give_up)
			break;
		atomic_fetch_add(retries, 1);
		nanosleep(&pause, NULL);
	}
	if (r < 0)
		fprintf(stderr,
			"bench-pool: tmem_put of page %" PRIu64 ": %s\n", index,
			tmem_strerror(r));
	return r;
}

static int put_worker(void *ctx, int thread, const size_t *idx, size_t lo,
		      size_t hi)
{
	struct bench_pool *bp = ctx;

	for (size_t i = lo; i < hi; i++)
		if (put_patiently(bp->t, bp->pool, i, bench_page(bp->c, idx[i]),
				  &bp->retries) < 0)
			return -1;
	return 0;
}

static int get_worker(void *ctx, int thread, const size_t *idx, size_t lo,
		      size_t hi)
{
	struct bench_pool *bp = ctx;

	for (size_t i = lo; i < hi; i++) {
		int r = tmem_get(bp->t, bp->pool, 0, i, bp->out[thread]);

		if (r < 0) {
			fprintf(stderr,
				"bench-pool: tmem_get of page %zu: %s\n", i,
				tmem_strerror(r));
			return -1;
		}
	}
	return 0;
}

double bench_pool_put(struct bench_pool *bp, int nthreads, const size_t *idx,
		      size_t n)
{
	return bench_run_threads(nthreads, put_worker, bp, idx, n);
}

double bench_pool_get(struct bench_pool *bp, int nthreads, const size_t *idx,
		      size_t n)
{
	return bench_run_threads(nthreads, get_worker, bp, idx, n);
}

uint64_t bench_pool_verify(struct bench_pool *bp, const size_t *idx, size_t n)
{
	uint64_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		int r = tmem_get(bp->t, bp->pool, 0, i, bp->out[0]);

		if (r < 0 ||
		    memcmp(bp->out[0], bench_page(bp->c, idx[i]), BENCH_PAGE))
			bad++;
	}
	return bad;
}

static uint64_t file_resident(const char *name)
{
	char path[TMEM_NAME_MAX + 16];
	struct stat sb;

	snprintf(path, sizeof path, "/dev/shm/%s", name);
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "bench-pool: %s: %m\n", path);
		return 0;
	}
	return (uint64_t)sb.st_blocks * 512;
}

int bench_pool_memory(const struct bench_pool_config *cfg,
		      const struct bench_corpus *c, const size_t *idx, size_t n,
		      const char *what, struct bench_memory *m)
{
	char name[TMEM_NAME_MAX + 1];
	atomic_uint_fast64_t retries = 0;
	struct timespec burst = {0, 300000000}, settle = {2, 700000000};
	struct tmem_stats st;
	struct tmem *t;
	uint32_t pool;
	int r;

	/* memory follows the data: never prefault here */
	t = segment_open(cfg->prefix, what, cfg, false,
			 segment_size_snug(c, idx, n), name);
	if (!t)
		return -1;
	memset(m, 0, sizeof *m);
	m->empty_resident = file_resident(name);
	r = tmem_pool_open(t, "bench", TMEM_PERSISTENT, 0, 0, &pool);
	if (r < 0) {
		fprintf(stderr, "bench-pool: tmem_pool_open: %s\n",
			tmem_strerror(r));
		goto err_close;
	}
	for (size_t i = 0; i < n; i++)
		if (put_patiently(t, pool, i, bench_page(c, idx[i]), &retries) <
		    0)
			goto err_close;
	/* Right after the puts the grower's reserve is at its peak (it runs
	 * ahead of the rate chunks were taken at); it trims it back after two
	 * quiet seconds.  Both are printed; the figures use the settled one,
	 * what holding the data costs. */
	nanosleep(&burst, NULL);
	m->resident_burst = file_resident(name);
	nanosleep(&settle, NULL);
	m->resident = file_resident(name);
	r = tmem_stats_get(t, &st);
	if (r < 0) {
		fprintf(stderr, "bench-pool: tmem_stats_get: %s\n",
			tmem_strerror(r));
		goto err_close;
	}
	m->pages = st.pages_stored;
	m->represented = st.bytes_represented;
	m->pool_resident = st.bytes_resident;
	m->pool_used = st.bytes_used;
	m->pool_compressed = st.bytes_compressed;
	m->zero = st.zero_pages;
	m->same = st.same_filled_pages;
	m->dedup = st.dedup_hits;
	m->raw = st.raw_pages;
	{
		struct tmem_pool_info pi;

		if (tmem_pool_list(t, &pi, 1) >= 1)
			m->chunk_bytes = pi.stats.bytes_resident;
	}
	if (m->pages != n) {
		fprintf(stderr,
			"bench-pool: the pool holds %" PRIu64 " pages, "
			"%zu were put\n",
			m->pages, n);
		goto err_close;
	}
	segment_close(t, name);
	return 0;

err_close:
	segment_close(t, name);
	return -1;
}
