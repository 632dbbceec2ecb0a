/* tmem: statistics, error strings and reject names.
 *
 * Counters (puts, gets, rejects, ...) live in blocks per (process slot,
 * context, sub-pool) so that threads never share a cache line for them;
 * readers sum the blocks.  A sub-pool records the sums at its creation as
 * its base, so a new pool in a reused slot starts from zero.  Gauges
 * (pages stored, bytes, ...) are per sub-pool, kept exact by every update
 * and recomputed by repair.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tmem-stats-internal.h"

const char *const tmem_reject_names[TMEM_REJECT_NR] = {
	[TMEM_REJECT_NOSPACE] = "nospace",
	[TMEM_REJECT_RESERVE_EMPTY] = "reserve_empty",
	[TMEM_REJECT_POOL_MAX] = "pool_max",
	[TMEM_REJECT_INDEX_FULL] = "index_full",
	[TMEM_REJECT_LOCK_BUSY] = "lock_busy",
	[TMEM_REJECT_COMPRESS_FAIL] = "compress_fail",
	[TMEM_REJECT_DAMAGED] = "damaged",
	[TMEM_REJECT_RECORDS_LATER] = "records_later",
};

const char *tmem_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case ENOENT:
		return "not found (no such segment, sub-pool or page)";
	case ENOSPC:
		return "no space left in the pool";
	case EPROTO:
		return "segment has another layout version or geometry";
	case EBADMSG:
		return "segment header is corrupt or the file is truncated";
	case EEXIST:
		return "a sub-pool of that name exists with another kind";
	case EINVAL:
		return "invalid argument";
	case EIO:
		return "stored page failed its checksum";
	case EBUSY:
		return "segment or lock busy";
	case EROFS:
		return "segment attached read-only";
	case EUCLEAN:
		return "pool structures are inconsistent";
	case ETIMEDOUT:
		return "the pool's repair or check did not come in time (its "
		       "server is stopped, or a stopped process holds a lock "
		       "it needs)";
	case EINPROGRESS:
		return "that sub-pool is being destroyed (the swap server "
		       "drops "
		       "its pages)";
	case EUSERS:
		return "too many processes attached to the segment";
	case ENOMEM:
		return "out of memory";
	case EACCES:
	case EPERM:
		return "permission denied";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

/* Sum every counter block of a pool slot. */
void tmem_counters_sum(struct tmem *t, unsigned pool, uint64_t *sum)
{
	unsigned s, x, i;

	memset(sum, 0, CNT_NR * sizeof *sum);
	for (s = 0; s < TMEM_MAX_SLOTS; s++) {
		if (seg_slot(t, s)->attach_count == 0)
			continue;
		for (x = 0; x < TMEM_STAT_CTX; x++) {
			struct tmem_counters *k = seg_counters(t, s, x, pool);

			for (i = 0; i < CNT_NR; i++)
				sum[i] += atomic_load_explicit(
					&k->c[i], memory_order_relaxed);
		}
	}
}

/* The bytes of the buckets a stripe uses, read without its lock (a count
 * changing meanwhile is off by a resize); a damaged count, no more than
 * its array of max. */
static uint64_t bucket_bytes(const struct tmem_stripe *st, uint64_t max)
{
	unsigned bits = __atomic_load_n(&st->bits, __ATOMIC_RELAXED);

	return 4 * (bits < 64 && (1ULL << bits) < max ? 1ULL << bits : max);
}

/* Metadata besides entries and blobs: header, tables of slots, pools and
 * stripes, and the buckets the stripes use now. */
uint64_t tmem_fixed_bytes(struct tmem *t)
{
	uint64_t n = t->geo->off_ibuckets;
	unsigned s;

	for (s = 0; s < TMEM_NR_STRIPES; s++) {
		n += bucket_bytes(seg_istripe(t, s),
				  t->geo->ibuckets_per_stripe);
		n += bucket_bytes(seg_dstripe(t, s),
				  t->geo->dbuckets_per_stripe);
	}
	return n;
}

void tmem_gauges_read(struct tmem *t, unsigned pool, int64_t g[G_NR])
{
	struct tmem_pool_rec *pr = seg_pool(t, pool);
	unsigned i;

	for (i = 0; i < G_NR; i++) {
		g[i] = atomic_load_explicit(&pr->g[i], memory_order_relaxed);
		if (g[i] < 0)
			g[i] = 0;
	}
}

uint64_t tmem_gauges_index(const int64_t g[G_NR])
{
	return (uint64_t)g[G_PAGES] * sizeof(struct tmem_entry) +
	       (uint64_t)g[G_BLOBS] * sizeof(struct tmem_blob);
}

uint64_t tmem_gauges_used(const int64_t g[G_NR])
{
	return (uint64_t)g[G_CHUNKS] * TMEM_CHUNK_SIZE + tmem_gauges_index(g);
}

static void fill_pool(struct tmem *t, unsigned p, bool relative,
		      struct tmem_stats *st)
{
	struct tmem_pool_rec *pr = seg_pool(t, p);
	uint64_t sum[CNT_NR];
	int64_t g[G_NR];
	unsigned i;

	tmem_counters_sum(t, p, sum);
	for (i = 0; i < CNT_NR; i++) {
		if (relative && sum[i] >= pr->base[i])
			sum[i] -= pr->base[i];
	}
	tmem_gauges_read(t, p, g);
	st->pages_stored += (uint64_t)g[G_PAGES];
	st->bytes_represented += (uint64_t)g[G_PAGES] * TMEM_PAGE_SIZE;
	st->bytes_used += tmem_gauges_used(g);
	st->bytes_compressed += (uint64_t)g[G_COMPRESSED];
	st->bytes_index += tmem_gauges_index(g);
	st->zero_pages += (uint64_t)g[G_ZERO];
	st->same_filled_pages += (uint64_t)g[G_SAME];
	st->raw_pages += (uint64_t)g[G_RAW];
	st->pages_read_back += (uint64_t)g[G_READ];
	st->bytes_read_back += (uint64_t)g[G_READ_BYTES];
	st->puts += sum[CNT_PUTS];
	st->gets += sum[CNT_GETS];
	st->hits += sum[CNT_HITS];
	st->misses += sum[CNT_MISSES];
	st->flushes += sum[CNT_FLUSHES];
	st->evictions += sum[CNT_EVICTIONS] + atomic_load(&pr->evicted) -
			 (relative ? pr->evicted_base : 0);
	st->dedup_hits += sum[CNT_DEDUP_HITS];
	st->checksum_errors += sum[CNT_CHECKSUM_ERRORS];
	for (i = 0; i < TMEM_REJECT_NR; i++)
		st->rejects[i] += sum[CNT_REJECT0 + i];
}

int tmem_stats_get(struct tmem *t, struct tmem_stats *st)
{
	struct stat sb;
	unsigned p;

	memset(st, 0, sizeof *st);
	/* Pools never created have nothing to add (and reading their
	 * counter blocks would fault them in). */
	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		if (__atomic_load_n(&seg_pool(t, p)->gen, __ATOMIC_RELAXED))
			fill_pool(t, p, false, st);
	}
	st->bytes_used += tmem_fixed_bytes(t);
	if (fstat(t->fd, &sb) == 0)
		st->bytes_resident = (uint64_t)sb.st_blocks * 512;
	return 0;
}

uint64_t tmem_room(struct tmem *t)
{
	uint64_t n = (uint64_t)__atomic_load_n(&t->hdr->hole_count,
					       __ATOMIC_RELAXED) +
		     __atomic_load_n(&t->hdr->reserve_count, __ATOMIC_RELAXED) +
		     __atomic_load_n(&t->hdr->punch_count, __ATOMIC_RELAXED);

	return n * TMEM_CHUNK_SIZE;
}

int tmem_pool_list(struct tmem *t, struct tmem_pool_info *pools, int max)
{
	unsigned p;
	int n = 0;

	for (p = 0; p < TMEM_MAX_POOLS; p++) {
		struct tmem_pool_rec *pr = seg_pool(t, p);
		struct tmem_pool_info *pi;

		if (atomic_load(&pr->state) != POOL_ACTIVE)
			continue;
		if (n < max && pools) {
			pi = &pools[n];
			memset(pi, 0, sizeof *pi);
			pi->id = pool_id_make(p, pr->gen);
			snprintf(pi->name, sizeof pi->name, "%s", pr->name);
			pi->kind = (enum tmem_kind)pr->kind;
			pi->dedup = (enum tmem_dedup_scope)__atomic_load_n(
				&pr->dedup, __ATOMIC_RELAXED);
			pi->min_bytes = pr->min_bytes;
			pi->max_bytes = pr->max_bytes;
			fill_pool(t, p, true, &pi->stats);
			pi->stats.bytes_resident =
				(uint64_t)atomic_load(&pr->g[G_CHUNKS]) *
				TMEM_CHUNK_SIZE;
		}
		n++;
	}
	return n;
}
