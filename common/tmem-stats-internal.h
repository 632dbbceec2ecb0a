/* tmem: tmem-stats.c's functions for the other pool files: counters and gauges.
 */
#ifndef TMEM_STATS_INTERNAL_H
#define TMEM_STATS_INTERNAL_H

#include "tmem-handle.h"

static inline void tmem_count(struct tmem_ctx *c, unsigned pool, unsigned which,
			      uint64_t n)
{
	atomic_fetch_add_explicit(
		&c->cnt[(size_t)pool * TMEM_MAX_SLOTS * TMEM_STAT_CTX].c[which],
		n, memory_order_relaxed);
}
static inline void tmem_gauge(struct tmem *t, unsigned pool, unsigned which,
			      int64_t n)
{
	/* A chunk's pool (a byte) may be damaged: counted nowhere then
	 * (the repair recounts), never past the table. */
	if (pool >= TMEM_MAX_POOLS)
		return;
	atomic_fetch_add_explicit(&seg_pool(t, pool)->g[which], n,
				  memory_order_relaxed);
}
void tmem_counters_sum(struct tmem *t, unsigned pool, uint64_t *sum);
/* Sub-pool slot pool's gauges, a moment's negative skew read as 0, the
 * bytes of its index records (an entry per key, a record per blob), and
 * the bytes they say it uses (its chunks and those records). */
void tmem_gauges_read(struct tmem *t, unsigned pool, int64_t g[G_NR]);
uint64_t tmem_gauges_index(const int64_t g[G_NR]);
uint64_t tmem_gauges_used(const int64_t g[G_NR]);
uint64_t tmem_fixed_bytes(struct tmem *t);

#endif /* TMEM_STATS_INTERNAL_H */
