/* tmem: one process's handle on a segment (struct tmem, its compression
 * contexts) and the helpers that turn segment offsets into addresses. */
#ifndef TMEM_HANDLE_H
#define TMEM_HANDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tmem-layout.h"

/* ---- process-local handle ----------------------------------------- */

struct tmem_ctx {
	_Atomic int busy __attribute__((aligned(64)));
	unsigned id;
	void *cctx, *dctx; /* ZSTD_CCtx / ZSTD_DCtx in static workspaces */
	void *cwork, *dwork;
	unsigned char *cbuf; /* compressed output */
	unsigned char *dbuf; /* decompressed page */
	size_t cbuf_size;
	int dict_on;	     /* cctx references t->dict_enc[dict_on - 1]'s
			      * CDict (0: none) */
	uint32_t probe_tick; /* compressions, for the dictionary's probes */
	uint32_t open[TMEM_OPEN][TMEM_MAX_POOLS]; /* open chunks per pool */
	uint32_t open_raw[TMEM_MAX_POOLS];	  /* and for raw pages */
	uint64_t open_seq[TMEM_OPEN][TMEM_MAX_POOLS], seq; /* opened when */
	struct tmem_counters *cnt; /* this slot's counter blocks */
};

struct tmem {
	char name[TMEM_NAME_MAX + 1];
	char path[TMEM_NAME_MAX + 16];
	int fd;
	bool readonly;
	bool sync_grow; /* no grower: puts fault chunks in themselves */
	bool may_grow;	/* with one, a put may fault a chunk in when the
			 * reserve is empty (opts.put_may_grow) */
	bool locked;
	int level;
	bool dedup;
	unsigned char *base;
	uint64_t map_size;
	struct tmem_header *hdr;
	const struct tmem_geometry *geo;
	int slot; /* process slot, -1 read-only */
	unsigned nr_ctx;
	struct tmem_ctx *ctx;
	tmem_log_fn log;
	void *log_opaque;
	enum tmem_log_level log_level;

	/* The segment's dictionaries as this process uses them (tmem-dict.c).
	 * Workspaces are made at open, so loading one never allocates. */
	pthread_mutex_t dict_mu;       /* a leaf: taken under any lock */
	pthread_cond_t dict_cv;	       /* CLOCK_MONOTONIC */
	_Atomic bool dict_page_logged; /* a page it made unreadable */
	_Atomic bool chain_logged;     /* a broken index chain (tmem_get) */
	/* Per segment slot: its DDict, to read the pages it compressed. */
	struct tmem_dict_dec {
		_Atomic bool loaded; /* ddict and id usable */
		bool bad;	     /* the slot's bytes failed their check:
				      * dict_mu */
		uint32_t id;
		void *ddict, *work; /* ZSTD_DDict, static */
	} dict_dec[TMEM_DICT_SLOTS];
	size_t ddict_size;
	/* CDicts (400 KiB and more each from level 3): one made at open, and
	 * one more each time the trainer publishes a dictionary for a group
	 * while every one serves another (work: set under dict_mu, up to
	 * TMEM_DICT_CDICTS).  Each is given to the first group that finds
	 * its dictionary ready, for the life of the process. */
	struct tmem_dict_enc {
		_Atomic bool loaded; /* cdict, slot, id and group usable */
		unsigned slot;
		uint32_t id;
		uint64_t group;
		void *cdict, *work; /* ZSTD_CDict, static */
		/* Whether it pays (tmem-codec.c: probes compress some pages
		 * both ways): new pages go without it while paused. */
		_Atomic uint32_t probes;
		_Atomic uint64_t with, without;
		_Atomic bool paused;
	} dict_enc[TMEM_DICT_CDICTS];
	size_t cdict_size;
	bool dict_on; /* workspaces made: the segment trains dictionaries */
	/* Sampling, in a process that trains (tmem_start), one group at a
	 * time (a round): dict_round is the round's group (dict_group32) in
	 * bits 32..63, the round's number in 16..31, and the samples claimed
	 * in 0..15 (DICT_CLOSED between rounds), so that one compare-and-swap
	 * claims a sample of the round's group and no other.  A put copies
	 * its claimed page into samples, then counts it in dict_filled; the
	 * trainer waits for all.  Between rounds, a put of a group that has
	 * no dictionary slot leaves it in dict_want for the trainer, which
	 * starts a round for it (the sample buffer is mapped only for a
	 * round).  dict_tried: groups this process trained for or gave up
	 * on (trainer only, read by puts), not sampled again. */
	_Atomic uint64_t dict_round;
	_Atomic uint64_t dict_want;
	unsigned char *samples;
	_Atomic bool samples_freed; /* the last round's buffer went back */
	_Atomic uint32_t dict_seen, dict_filled;
	_Atomic uint64_t dict_tried[2 * TMEM_DICT_SLOTS];
	unsigned dict_tried_next;	    /* trainer only */
	bool trainer_running, trainer_stop; /* trainer_stop: dict_mu */
	pthread_t trainer;

	/* compaction: one compactor per process at a time */
	pthread_mutex_t compact_mu;
	/* Persistent sub-pools this process opened or wrote to (bit per
	 * pool slot): it compacts persistent chunks of these only, so that a
	 * persistent blob stripe is never held by a process that does not
	 * serve the sub-pool (a stopped cache daemon must not stall swap). */
	_Atomic uint64_t own_persistent;
	/* The id of TMEM_SHARED_POOL once this process opened it (through
	 * tmem_pool_set_dedup), 0 before: where its TMEM_DEDUP_POOL puts
	 * store pages.  Set once it holds that sub-pool (so no other process
	 * can destroy it), read by puts without a lock. */
	_Atomic uint32_t shared_id;
	struct tmem_ctx compact_ctx;

	/* The halves (TMEM_HALF_BIT) on whose repair one of this process's
	 * requests gave up waiting (tmem_repair_wait); a half's bit clears
	 * when one finds no repair of it due, or this process repairs it
	 * (tmem_repair_seen_done).  While set, the half's requests wait a
	 * short grace, not the full bound. */
	_Atomic unsigned repair_given_up;

	/* grower thread */
	bool grower_wanted, grower_running;
	_Atomic bool grower_stop;
	pthread_t grower;
	uint32_t grow_rate;  /* chunks taken per grower period, peak held and
			      * decaying (grower thread only) */
	unsigned grow_boost; /* the reserve covers 8 << boost periods: one
			      * more each period the grower fell behind */
	bool grow_behind;    /* it found the reserve empty this period */
	unsigned grower_stall_ms; /* TMEM_GROWER_STALL_MS (test hooks) */
	unsigned grower_stall_in; /* TMEM_GROWER_STALL_IN: STALL_* left */
	int populate_errno;	  /* TMEM_POPULATE_FAIL (test hooks): */
	unsigned populate_fails;  /* its next madvise calls on records fail */
	bool ahead_failing;	  /* the grower's last fault_ahead could not map
				   * a run of records (said once) */
	bool chunks_failing;	  /* the last grow_one could not fault a chunk
				   * in (said once) */
	_Atomic uint64_t grower_step; /* what the grower does now and since
				       * when: CLOCK_MONOTONIC ms << 8 | step
				       * (tmem-grower.c), one word so that
				       * tmem_grower_info reads a pair */
	uint64_t packed_seen; /* (chunks, payload) of persistent sub-pools
			       * when packing last found nothing to take */
	uint64_t sparse_seen; /* (chunks, payload) when idle compaction
			       * last found nothing to take */
	/* [entries, blobs][kind]: records [0, ahead) of the kind's half of
	 * the table are mapped in this process (the grower faults them in,
	 * tmem-grower.c fault_ahead, and moves the mark only past records
	 * it did map: one it cannot map holds it); while the grower runs, a
	 * request takes no record past it (tmem-index.c record_ready). */
	_Atomic uint64_t ahead[2][2];
	/* A locking server (opts.lock with a grower): every chunk stamped
	 * up to mapped_gen is mapped, so locked, in this process (see
	 * tmem_header.fault_gen). */
	bool map_chunks;
	_Atomic uint32_t mapped_gen;
};

/* ---- address helpers ---------------------------------------------- */

#define SEG_AT(t, off, type) ((type *)((t)->base + (off)))

static inline struct tmem_slot *seg_slot(struct tmem *t, unsigned i)
{
	return SEG_AT(t, t->geo->off_slots, struct tmem_slot) + i;
}
static inline struct tmem_pool_rec *seg_pool(struct tmem *t, unsigned i)
{
	return SEG_AT(t, t->geo->off_pools, struct tmem_pool_rec) + i;
}
static inline struct tmem_stripe *seg_istripe(struct tmem *t, unsigned i)
{
	return SEG_AT(t, t->geo->off_istripes, struct tmem_stripe) + i;
}
static inline struct tmem_stripe *seg_dstripe(struct tmem *t, unsigned i)
{
	return SEG_AT(t, t->geo->off_dstripes, struct tmem_stripe) + i;
}
/* Tables of per-stripe records (entries, blobs, buckets) have one half
 * per kind, and inside a half the stripes interleave: record k of stripe s
 * is k * HALF + s % HALF of its kind's half.  So the memory a table
 * touches grows evenly with what each kind stores. */
#define TMEM_HALF (TMEM_NR_STRIPES / 2)
static inline uint32_t rec_id(uint64_t nr, unsigned s, uint64_t k)
{
	return (uint32_t)((s / TMEM_HALF) * (nr / 2) + k * TMEM_HALF +
			  s % TMEM_HALF);
}
static inline uint32_t *seg_ibucket(struct tmem *t, unsigned stripe, uint64_t b)
{
	return SEG_AT(t, t->geo->off_ibuckets, uint32_t) +
	       rec_id(t->geo->ibuckets_per_stripe * TMEM_NR_STRIPES, stripe, b);
}
static inline uint32_t *seg_dbucket(struct tmem *t, unsigned stripe, uint64_t b)
{
	return SEG_AT(t, t->geo->off_dbuckets, uint32_t) +
	       rec_id(t->geo->dbuckets_per_stripe * TMEM_NR_STRIPES, stripe, b);
}
static inline struct tmem_entry *seg_entry(struct tmem *t, uint32_t e)
{
	return SEG_AT(t, t->geo->off_entries, struct tmem_entry) + e;
}
static inline struct tmem_blob *seg_blob(struct tmem *t, uint32_t b)
{
	return SEG_AT(t, t->geo->off_blobs, struct tmem_blob) + b;
}
/* The segment offset of record n of kind's half of a table (blobs, or the
 * index's entries), as t->ahead counts them. */
static inline uint64_t seg_record_off(const struct tmem *t, bool blobs,
				      unsigned kind, uint64_t n)
{
	const struct tmem_geometry *g = t->geo;

	if (blobs)
		return g->off_blobs + (kind * (g->nr_blobs / 2) + n) *
					      sizeof(struct tmem_blob);
	return g->off_entries +
	       (kind * (g->nr_entries / 2) + n) * sizeof(struct tmem_entry);
}
static inline struct tmem_chunk *seg_chunk(struct tmem *t, uint32_t c)
{
	return SEG_AT(t, t->geo->off_chunks, struct tmem_chunk) + c;
}
static inline unsigned char *seg_chunk_data(struct tmem *t, uint32_t c)
{
	return t->base + t->geo->off_data + ((uint64_t)c << TMEM_CHUNK_SHIFT);
}
static inline struct tmem_counters *seg_counters(struct tmem *t, unsigned slot,
						 unsigned sctx, unsigned pool)
{
	/* Pool-major: a pool's blocks are together, faulted in when it is
	 * opened (pool_counters_fault). */
	return SEG_AT(t, t->geo->off_counters, struct tmem_counters) +
	       ((uint64_t)pool * TMEM_MAX_SLOTS + slot) * TMEM_STAT_CTX + sctx;
}
static inline uint32_t loc_make(uint32_t chunk, uint32_t off)
{
	return (uint32_t)((((uint64_t)chunk << TMEM_CHUNK_SHIFT) + off) >>
			  TMEM_UNIT_SHIFT) +
	       2;
}
static inline uint32_t loc_chunk(uint32_t loc)
{
	return (uint32_t)(((uint64_t)(loc - 2) << TMEM_UNIT_SHIFT) >>
			  TMEM_CHUNK_SHIFT);
}
static inline uint32_t *loc_hdr(struct tmem *t, uint32_t loc)
{
	return (uint32_t *)(t->base + t->geo->off_data +
			    ((uint64_t)(loc - 2) << TMEM_UNIT_SHIFT));
}
static inline uint32_t loc_off(uint32_t loc)
{
	return (uint32_t)(((uint64_t)(loc - 2) << TMEM_UNIT_SHIFT) &
			  (TMEM_CHUNK_SIZE - 1));
}
static inline uint32_t *seg_rawid(struct tmem *t, uint32_t c, unsigned slot)
{
	return SEG_AT(t, t->geo->off_rawids, uint32_t) +
	       (uint64_t)c * TMEM_RAW_SLOTS + slot;
}
/* A raw page is its own 4096 bytes; anything else has a header. */
static inline unsigned char *loc_data(struct tmem *t, uint32_t loc,
				      uint32_t len)
{
	return (unsigned char *)(loc_hdr(t, loc) +
				 (len == TMEM_PAGE_SIZE ? 0 : 1));
}
static inline uint32_t alloc_size(uint32_t len)
{
	if (len == TMEM_PAGE_SIZE)
		return TMEM_PAGE_SIZE;
	return (uint32_t)(4 + len + TMEM_UNIT - 1) & ~(uint32_t)(TMEM_UNIT - 1);
}
/* Caller holds the blob's stripe: say who lives at loc (id), or that
 * nobody does any more (id 0), so that walkers can step over it. */
static inline void alloc_mark(struct tmem *t, uint32_t loc, uint32_t len,
			      uint32_t id)
{
	if (len == TMEM_PAGE_SIZE)
		__atomic_store_n(seg_rawid(t, loc_chunk(loc),
					   loc_off(loc) / TMEM_PAGE_SIZE),
				 id, __ATOMIC_RELEASE);
	else
		__atomic_store_n(loc_hdr(t, loc),
				 id ? id : HDR_DEAD | alloc_size(len),
				 __ATOMIC_RELEASE);
}
static inline unsigned kind_stripe(enum tmem_kind kind, uint32_t h)
{
	unsigned half = TMEM_NR_STRIPES / 2;
	return (kind == TMEM_EPHEMERAL ? half : 0) + (unsigned)(h % half);
}
/* The persistent half's stripes fall in TMEM_GROUPS groups, and a
 * persistent sub-pool's keys and blobs live under the stripes of its
 * slot's group alone: the swap servers of sub-pools in different groups
 * (one per guest on a host pool) never take each other's stripes, so one
 * stopped while it holds a stripe (SIGSTOP, a debugger, a frozen cgroup)
 * holds up no other.  Keys and blobs alike are placed by group_hash: a
 * persistent blob's stored hash carries its group in the bits that pick
 * the stripe within the half, so that the blob's stripe still follows
 * from its record alone (blob_stripe). */
#define TMEM_GROUPS	   8
#define TMEM_GROUP_STRIPES (TMEM_HALF / TMEM_GROUPS)
#define TMEM_GROUP_BITS	   ((uint32_t)(TMEM_GROUPS - 1) * TMEM_GROUP_STRIPES)
static inline unsigned pool_group(unsigned pool)
{
	return pool % TMEM_GROUPS;
}
/* h with the bits that pick a stripe within the half (kind_stripe) set to
 * pool's group when kind is persistent: the hash a key of pool is striped
 * by (from its key's hash), and the one a blob is filed under (from its
 * page's hash; pool is the sub-pool whose chunks hold it). */
static inline uint32_t group_hash(enum tmem_kind kind, unsigned pool,
				  uint32_t h)
{
	if (kind != TMEM_PERSISTENT)
		return h;
	return (h & ~TMEM_GROUP_BITS) | pool_group(pool) * TMEM_GROUP_STRIPES;
}
/* Whether page_hash, a page's hash, matches a blob of kind filed under
 * hash: all 32 bits for an ephemeral blob, all but the group's for a
 * persistent one. */
static inline bool blob_hash_matches(enum tmem_kind kind, uint32_t hash,
				     uint32_t page_hash)
{
	uint32_t care = kind == TMEM_PERSISTENT ? ~TMEM_GROUP_BITS : ~0U;

	return ((hash ^ page_hash) & care) == 0;
}
/* A blob record's kind: the half of the table it is in. */
static inline enum tmem_kind blob_kind(struct tmem *t, uint32_t id)
{
	return id >= t->geo->nr_blobs / 2 ? TMEM_EPHEMERAL : TMEM_PERSISTENT;
}
/* The stripe that owns a blob follows from its kind (which half of the
 * table it is in) and its hash, stable while anyone holds a reference.
 * Walkers that hold none must check under the lock that the blob is still
 * the one they meant. */
static inline unsigned blob_stripe(struct tmem *t, uint32_t id)
{
	uint32_t h = __atomic_load_n(&seg_blob(t, id)->hash, __ATOMIC_RELAXED);

	return kind_stripe(blob_kind(t, id), h);
}

/* Pool ids given out: generation << 8 | slot. */
static inline uint32_t pool_id_make(unsigned slot, uint32_t gen)
{
	return (gen << 8) | slot;
}

#endif /* TMEM_HANDLE_H */
