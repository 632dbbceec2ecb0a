/* bench-pool: shared definitions of the pool benchmark's two halves —
 * bench-pool-run.c (corpus, raw zstd, report) and bench-pool-tmem.c (the pool
 * measured on the same pages).
 */
#ifndef BENCH_POOL_H
#define BENCH_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_PAGE 4096

enum bench_page_kind {
	BENCH_ZERO = 0,
	BENCH_SAME,   /* one 8-byte word repeated, not zero */
	BENCH_DUP,    /* same bytes as an earlier page */
	BENCH_UNIQUE, /* the first page with these bytes */
};

struct bench_corpus {
	unsigned char *pages; /* n pages, page-aligned */
	size_t n;
	uint8_t *kind;	/* enum bench_page_kind, per page */
	size_t *all;	/* 0 .. n-1 */
	size_t *unique; /* pages of kind BENCH_UNIQUE */
	size_t n_unique;
	uint32_t *csize; /* zstd compressed size per page at the level */
	uint64_t unique_compressed; /* sum of csize over unique pages */
};

static inline const unsigned char *bench_page(const struct bench_corpus *c,
					      size_t i)
{
	return c->pages + i * (size_t)BENCH_PAGE;
}

/* One thread's share of a timed loop: the pages idx[lo .. hi).  Returns
 * 0, or -1 after printing what went wrong. */
typedef int (*bench_worker_fn)(void *ctx, int thread, const size_t *idx,
			       size_t lo, size_t hi);

/* Run fn over idx[0 .. n) split into nthreads disjoint halves (or
 * thirds...), all released at once; returns the wall time in seconds,
 * or a negative value if a worker failed. */
double bench_run_threads(int nthreads, bench_worker_fn fn, void *ctx,
			 const size_t *idx, size_t n);

double bench_now(void);

/* After bench_run_threads: the slowest thread's time less the time it
 * waited for a CPU held by someone else. */
extern double bench_last_adjusted;

/* ---- the pool side (bench-pool-tmem.c) ---- */

struct bench_pool;

struct bench_pool_config {
	int level;
	bool prefault;	    /* timed segment: reserve everything up front */
	bool dictionary;    /* segments train a dictionary (the default) */
	const char *prefix; /* segment names: PREFIX-PID-WHAT */
};

/* Open a fresh segment for the timed loops.  NULL after an error
 * (printed).  bench_pool_close removes the segment. */
struct bench_pool *bench_pool_open(const struct bench_pool_config *cfg,
				   const struct bench_corpus *c,
				   const char *what);
void bench_pool_close(struct bench_pool *bp);

/* Make an empty sub-pool for a timed pass (destroying the last one). */
int bench_pool_reset(struct bench_pool *bp);

/* Timed put / get of idx[0..n) with nthreads: wall seconds, < 0 on error. */
double bench_pool_put(struct bench_pool *bp, int nthreads, const size_t *idx,
		      size_t n);
double bench_pool_get(struct bench_pool *bp, int nthreads, const size_t *idx,
		      size_t n);

/* Get every page of idx and compare with the corpus: mismatches + misses. */
uint64_t bench_pool_verify(struct bench_pool *bp, const size_t *idx, size_t n);

/* How many puts had to wait for room (-ENOSPC while the reserve refills). */
uint64_t bench_pool_retries(const struct bench_pool *bp);

struct bench_memory {
	uint64_t pages;		  /* pages stored */
	uint64_t represented;	  /* 4096 * pages */
	uint64_t resident;	  /* st_blocks * 512 of the segment file */
	uint64_t resident_burst;  /* the same 0.3 s after the last put */
	uint64_t pool_resident;	  /* the pool's own bytes_resident */
	uint64_t pool_used;	  /* bytes_used */
	uint64_t pool_compressed; /* bytes_compressed */
	uint64_t zero, same, dedup, raw;
	uint64_t empty_resident; /* st_blocks * 512 before any put */
	uint64_t chunk_bytes;	 /* data chunks the sub-pool holds */
};

/* Store idx[0..n) into a fresh segment the way a user would (growing as
 * it goes, no prefault) and measure what it costs.  0 or -1 (printed). */
int bench_pool_memory(const struct bench_pool_config *cfg,
		      const struct bench_corpus *c, const size_t *idx, size_t n,
		      const char *what, struct bench_memory *m);

/* Remove any segment this process made (for signal handlers: only
 * async-signal-safe calls). */
void bench_pool_unlink_all(void);

#endif /* BENCH_POOL_H */
