/* tmem: the segment layout and the internals shared by the pool's files.
 *
 * LOCK ORDER (take left before right; never the other way round):
 *
 *   slots_lock -> pool_lock -> index stripe -> blob stripe -> chunk_lock
 *
 * and dict_mu (process-local, tmem-dict.c) under any of them: nothing is
 * taken while it is held.
 *
 * - slots_lock (header): the process-slot table; attach and detach only.
 * - pool_lock (header): sub-pool creation and destruction, never on the
 *   data path.
 * - index stripe i: the buckets, entries and entry free list of stripe i.
 *   A key hashes to one stripe; persistent and ephemeral pools use
 *   disjoint halves of the stripes, so that a stalled cache process never
 *   holds a lock the swap path needs.
 * - blob stripe d: the blobs whose id is d modulo the stripe count, their
 *   dedup chains and free list, and the bytes they point at (reading,
 *   writing and moving them).  Split by kind like the index stripes.
 * - chunk_lock (header): the free-chunk lists (reserve, holes, to punch)
 *   and the CLOCK hand.  Taken only when a chunk changes hands.
 *
 * Never held across a lock: compression, hashing, copying into or out of a
 * caller's buffer (they go through per-context scratch, see tmem-codec.c).
 * A chunk's state and live byte count are one atomic word (chunk.sl) so
 * that allocation, freeing and eviction agree without a lock.
 *
 * Crash safety: no operation keeps state outside locked sections except a
 * context's pending blob reference (slot intents, written under the blob
 * stripe and cleared under the index stripe).  Repair (tmem-check.c) stops
 * the world by taking every lock in the order above and rebuilds every
 * derived structure (chains, free lists, refcounts, live bytes, gauges)
 * from the primary records: entries, blobs, chunk states.
 */
#ifndef TMEM_INTERNAL_H
#define TMEM_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tmem.h"

#define TMEM_MAGIC	    0x314d454d54504d54ULL /* "TMPTMEM1" */
#define TMEM_LAYOUT_VERSION 2
#define TMEM_CHUNK_SIZE	    (64 * 1024)
#define TMEM_CHUNK_SHIFT    16
#define TMEM_UNIT	    4 /* allocation unit inside chunks */
#define TMEM_UNIT_SHIFT	    2
#define TMEM_NR_STRIPES	    256 /* per kind: half */
#define TMEM_MAX_POOLS	    64
#define TMEM_MAX_SLOTS	    64
#define TMEM_MAX_CTX	    64		       /* contexts per process */
#define TMEM_COMPACT_CTX    (TMEM_MAX_CTX - 1) /* the compactor's context */
#define TMEM_STAT_CTX	    8 /* counter blocks per process slot */
#define TMEM_MIN_CHUNKS	    16
/* Blob locations are 32 bits of 4-byte units. */
#define TMEM_MAX_POOL_SIZE   ((16ULL << 30) - TMEM_CHUNK_SIZE)
#define TMEM_RAW_THRESHOLD   3584	      /* compressed bigger: store raw */
#define TMEM_MAX_REFS	     ((1U << 20) - 1) /* then a new blob */
#define TMEM_LIVENESS_OFFSET (1ULL << 40)     /* OFD lock byte per slot */
#define TMEM_NONE	     0	  /* record 0 of every table is never used */
#define TMEM_OPEN	     4	  /* open chunks per context and sub-pool */
#define TMEM_LOAD	     4ULL /* records per bucket before buckets double */
#define TMEM_LOCK_WAIT_MS    100  /* longest wait for chunk_lock */
/* The trained dictionary (tmem-dict.c): its largest size, the pages it is
 * trained on, and how they are picked (one in every DICT_EVERY pages that
 * compress, so that the samples span more than the first few MiB). */
#define TMEM_DICT_MAX	  (32 * 1024)
#define TMEM_DICT_SAMPLES 1024
#define TMEM_DICT_EVERY	  4

/* ---- records in the segment --------------------------------------- */

/* Index entry: one key.  type/ref/pool are written last on insert. */
enum entry_type {
	ENTRY_FREE = 0,
	ENTRY_ZERO = 1,
	ENTRY_SAME = 2, /* value = 64-bit fill pattern */
	ENTRY_BLOB = 3, /* value = blob id */
};
/* value: type (2 bits) | pool slot (6) | payload (24): the blob id, or a
 * 16-bit fill pattern.  One 32-bit store changes what a key holds, so a
 * crash never pairs a new type with an old payload. */
struct tmem_entry {
	uint64_t object;
	uint64_t index;
	uint32_t value;
	uint32_t next; /* bucket chain / free list (stripe lock) */
};
#define ENTRY_PAYLOAD_MAX 0xffffffU
static inline uint32_t entry_make(unsigned type, unsigned pool,
				  uint32_t payload)
{
	return ((uint32_t)type << 30) | ((uint32_t)pool << 24) | payload;
}
static inline unsigned entry_type(const struct tmem_entry *en)
{
	return en->value >> 30;
}
static inline unsigned entry_pool(const struct tmem_entry *en)
{
	return (en->value >> 24) & 0x3f;
}
static inline uint32_t entry_payload(const struct tmem_entry *en)
{
	return en->value & ENTRY_PAYLOAD_MAX;
}

/* Blob: one stored compressed (or raw) page, shared by dedup.
 * loc: 0 = free record, 1 = doomed (evicted, entries still point at it),
 * else (offset into the data area >> TMEM_UNIT_SHIFT) + 2. */
#define BLOB_LOC_FREE	0
#define BLOB_LOC_DOOMED 1
struct tmem_blob {
	uint32_t hash; /* low 32 bits of the page's XXH3: dedup key, checksum */
	uint32_t loc;
	uint32_t next; /* dedup chain / free list (blob stripe) */
	uint32_t rl;   /* references (entries + pending puts) in the low 20
			* bits, payload length - 1 above (blob stripe) */
};
#define BLOB_REFS_MASK 0xfffffU
static inline uint32_t blob_hash(const struct tmem_blob *b)
{
	return b->hash;
}
static inline uint32_t blob_refs(const struct tmem_blob *b)
{
	return b->rl & BLOB_REFS_MASK;
}
static inline uint32_t blob_len(const struct tmem_blob *b)
{
	return (b->rl >> 20) + 1; /* 4096: stored raw */
}

/* Each allocation in a chunk starts with a 32-bit header: the id of the
 * blob stored there, or, once it is dead, HDR_DEAD | its size, so that
 * eviction and compaction can walk a chunk. */
#define HDR_DEAD 0x80000000U

/* Chunk states (chunk.sl bits 32..35). */
enum chunk_state {
	CHUNK_HOLE = 0,	   /* free, not in memory */
	CHUNK_RESERVE = 1, /* free, faulted in */
	CHUNK_GROWING = 2, /* being faulted in (owner) */
	CHUNK_PUNCHING = 3,
	CHUNK_OPEN = 4,	  /* owner context allocates into it */
	CHUNK_CLOSED = 5, /* full or abandoned; freed when live hits 0 */
	CHUNK_EVICTING = 6,
	CHUNK_COMPACTING = 7,
	CHUNK_FREEING = 8, /* live hit 0: the one who set it frees it */
};
#define SL_LIVE(sl)  ((uint32_t)(sl))
#define SL_STATE(sl) ((unsigned)(((sl) >> 32) & 0xf))
#define SL_OWNER(sl) ((unsigned)(((sl) >> 36) & 0xffff))
#define SL_MAKE(state, owner, live)                              \
	(((uint64_t)(owner) << 36) | ((uint64_t)(state) << 32) | \
	 (uint32_t)(live))

struct tmem_chunk {
	_Atomic uint64_t sl; /* state | owner | live bytes */
	uint32_t fill;	     /* bump offset (owner only while OPEN) */
	uint32_t next;	     /* free lists (chunk_lock) */
	uint8_t pool;	     /* pool slot while OPEN/CLOSED/... */
	_Atomic uint8_t ref; /* CLOCK: set by get */
	uint8_t raw;	     /* holds raw pages only (see seg_rawid) */
	uint8_t pad[5];
};

/* Raw (incompressible) pages go to chunks of their own, 16 to a chunk with
 * no header (a header would leave room for only 15), their blob ids in a
 * side table: 0 marks a free slot. */
#define TMEM_RAW_SLOTS (TMEM_CHUNK_SIZE / TMEM_PAGE_SIZE)

struct tmem_stripe {
	pthread_mutex_t lock;
	uint32_t free_head; /* free entry/blob list */
	uint32_t spare;
	uint32_t used; /* live records */
	uint32_t bits; /* 1 << bits buckets in use; doubles as the
			* stripe fills so that buckets cost memory only
			* in proportion to use */
} __attribute__((aligned(64)));

static inline uint64_t stripe_mask(const struct tmem_stripe *st)
{
	return (1ULL << st->bits) - 1;
}

/* Counters: one block per (process slot, stat context, pool); summed. */
enum {
	CNT_PUTS,
	CNT_GETS,
	CNT_HITS,
	CNT_MISSES,
	CNT_FLUSHES,
	CNT_EVICTIONS,
	CNT_DEDUP_HITS,
	CNT_CHECKSUM_ERRORS,
	CNT_REJECT0,
	CNT_NR = CNT_REJECT0 + TMEM_REJECT_NR,
};
struct tmem_counters {
	_Atomic uint64_t c[CNT_NR];
} __attribute__((aligned(128))); /* no false sharing between contexts */

/* Gauges of a sub-pool: recomputed by repair, checked by tmem_check. */
enum {
	G_PAGES, /* entries (including ones on evicted blobs, until swept) */
	G_ZERO,	 /* zero entries */
	G_SAME,	 /* same-filled entries */
	G_RAW,	 /* live raw blobs */
	G_BLOBS, /* live blobs */
	G_COMPRESSED, /* payload bytes of live blobs */
	G_CHUNKS,     /* chunks held (not free) */
	G_NR,
};

enum pool_state {
	POOL_FREE = 0,
	POOL_ACTIVE = 1,
	POOL_DESTROYING = 2,
};
struct tmem_pool_rec {
	_Atomic uint32_t state; /* pool_lock to change */
	uint32_t gen;		/* bumped on create and destroy */
	uint32_t kind;
	uint32_t dedup; /* enum tmem_dedup_scope: written by its owner
			 * (pool_set_dedup), read by puts without a lock */
	uint64_t min_bytes, max_bytes;
	char name[TMEM_NAME_MAX + 1];
	_Atomic int64_t g[G_NR];
	_Atomic uint64_t evicted; /* pages lost to eviction, ever */
	uint64_t evicted_base;	  /* evicted when created */
	uint64_t base[CNT_NR];	  /* counter sums when created */
} __attribute__((aligned(64)));

enum slot_state {
	SLOT_FREE = 0,
	SLOT_ATTACHED = 1,
};
struct tmem_slot {
	uint32_t state; /* slots_lock */
	int32_t pid;
	uint64_t attach_count;
	/* A context's blob reference taken for a put not yet published. */
	uint32_t intent_blob[TMEM_MAX_CTX];
};

struct tmem_geometry {
	uint32_t page_size, chunk_size, unit;
	uint32_t nr_stripes, max_pools, max_slots, max_ctx, stat_ctx;
	uint32_t entry_size, blob_size, chunk_rec_size, stripe_size;
	uint32_t pool_rec_size, slot_size, counters_size, mutex_size;
	uint64_t pool_size, segment_bytes;
	uint64_t nr_chunks, nr_entries, nr_blobs;
	uint64_t ibuckets_per_stripe, dbuckets_per_stripe;
	uint64_t off_slots, off_pools, off_istripes, off_dstripes;
	uint64_t off_ibuckets, off_dbuckets, off_entries, off_blobs;
	uint64_t off_chunks, off_counters, off_data, meta_end;
	uint64_t off_rawids, off_dict;
};

struct tmem_header {
	_Atomic uint64_t magic; /* written last when formatting */
	uint32_t layout_version;
	uint32_t header_size;
	struct tmem_geometry geo;
	uint64_t geo_hash; /* XXH64 of geo */
	int32_t level;
	uint32_t dedup;
	uint32_t dictionary; /* train one (tmem-dict.c) */
	char name[TMEM_NAME_MAX + 1];

	/* Mutable from here on. */
	pthread_mutex_t slots_lock __attribute__((aligned(64)));
	pthread_mutex_t pool_lock __attribute__((aligned(64)));
	pthread_mutex_t chunk_lock __attribute__((aligned(64)));
	/* chunk_lock: */
	uint32_t reserve_head, reserve_count;
	uint32_t hole_head, hole_count; /* count includes [hole_bump, n) */
	uint32_t hole_bump; /* chunks from here on were never used */
	uint32_t punch_head, punch_count;
	uint32_t clock_hand;
	/* Chunks freed while chunk_lock was busy: a lock-free stack drained
	 * by the next holder (the persistent path never waits for it). */
	_Atomic uint32_t orphan_head;
	uint32_t low_wm, high_wm;
	uint32_t prefaulted;
	_Atomic uint32_t growers; /* processes running a grower */
	_Atomic uint32_t grow_futex __attribute__((aligned(64)));
	_Atomic uint32_t idle; /* no chunk taken lately: keep a small reserve */
	uint64_t acquires;     /* chunks taken (chunk_lock) */
	_Atomic uint64_t repairs;
	_Atomic uint32_t needs_repair __attribute__((aligned(64)));
	/* Entry and blob records handed out per kind (persistent from 1:
	 * record 0 means none).  A stripe reuses its own freed records
	 * first, so records are dense whatever the stripe balance. */
	_Atomic uint32_t ebump[2] __attribute__((aligned(64)));
	_Atomic uint32_t bbump[2];
	/* Read on every lock taken: a line of its own. */
	_Atomic uint64_t ghosts __attribute__((aligned(64)));
	/* The dictionary: dict_state is DICT_* in the low byte, and while
	 * training the trainer's slot (bits 8..15) and pid (32..63), so that
	 * one compare-and-swap claims it.  Once DICT_READY, dict_size,
	 * dict_hash (XXH64) and the bytes at off_dict never change. */
	_Atomic uint64_t dict_state __attribute__((aligned(64)));
	uint32_t dict_size;
	uint32_t dict_id;
	uint64_t dict_hash;
};

enum dict_state {
	DICT_NONE = 0,	   /* not trained yet: processes sample pages */
	DICT_TRAINING = 1, /* one process is training */
	DICT_READY = 2,	   /* in use */
	DICT_FAILED = 3,   /* training failed or did not pay: none */
};

/* ---- process-local handle ----------------------------------------- */

struct tmem_ctx {
	_Atomic int busy __attribute__((aligned(64)));
	unsigned id;
	void *cctx, *dctx; /* ZSTD_CCtx / ZSTD_DCtx in static workspaces */
	void *cwork, *dwork;
	unsigned char *cbuf; /* compressed output */
	unsigned char *dbuf; /* decompressed page */
	size_t cbuf_size;
	bool dict_on;	     /* cctx references t->cdict */
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

	/* The segment's dictionary as this process uses it (tmem-dict.c).
	 * Workspaces are made at open, so loading it never allocates. */
	pthread_mutex_t dict_mu; /* a leaf: taken under any lock */
	pthread_cond_t dict_cv;
	_Atomic bool dict_loaded;      /* cdict, ddict and dict_id usable */
	bool dict_bad;		       /* the segment's copy failed its check */
	_Atomic bool dict_page_logged; /* a page it made unreadable */
	void *cdict, *ddict;	       /* ZSTD_CDict / ZSTD_DDict, static */
	void *cdict_work, *ddict_work;
	size_t cdict_size, ddict_size;
	uint32_t dict_id;
	/* Whether it pays (tmem-codec.c: probes compress some pages both
	 * ways): new pages go without it while dict_paused. */
	_Atomic uint32_t dict_probes;
	_Atomic uint64_t dict_with, dict_without;
	_Atomic bool dict_paused;
	/* Sampling, in a process that trains (tmem_start): pages are
	 * claimed, copied, then counted filled; the trainer waits for all. */
	unsigned char *samples;
	bool samples_freed;
	_Atomic uint32_t dict_seen, dict_claimed, dict_filled;
	bool trainer_running, trainer_stop; /* trainer_stop: dict_mu */
	pthread_t trainer;

	/* compaction: one compactor per process at a time */
	pthread_mutex_t compact_mu;
	struct tmem_ctx compact_ctx;

	/* grower thread */
	bool grower_wanted, grower_running;
	_Atomic bool grower_stop;
	pthread_t grower;
	uint32_t grow_rate;   /* chunks taken per grower period, peak held and
			       * decaying (grower thread only) */
	unsigned grow_boost;  /* the reserve covers 8 << boost periods: one
			       * more each period the grower fell behind */
	bool grow_behind;     /* it found the reserve empty this period */
	uint64_t sparse_seen; /* (chunks, payload) when idle compaction
			       * last found nothing to take */
	uint64_t ahead[2][2]; /* [entries, blobs][kind]: records faulted in
			       * by this process ahead of the bump (grower) */
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
	/* Pool-major: a pool's blocks are together, touched as used. */
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
/* The stripe that owns a blob follows from its kind (which half of the
 * table it is in) and its hash, stable while anyone holds a reference.
 * Walkers that hold none must check under the lock that the blob is still
 * the one they meant. */
static inline unsigned blob_stripe(struct tmem *t, uint32_t id)
{
	uint32_t h = __atomic_load_n(&seg_blob(t, id)->hash, __ATOMIC_RELAXED);

	return kind_stripe(id >= t->geo->nr_blobs / 2 ? TMEM_EPHEMERAL
						      : TMEM_PERSISTENT,
			   h);
}

/* Pool ids given out: generation << 8 | slot. */
static inline uint32_t pool_id_make(unsigned slot, uint32_t gen)
{
	return (gen << 8) | slot;
}

/* ---- tmem-lock.c -------------------------------------------------- */
int tmem_mutex_init(pthread_mutex_t *m);
void tmem_lock(struct tmem *t, pthread_mutex_t *m);
bool tmem_trylock(struct tmem *t, pthread_mutex_t *m);
bool tmem_timedlock(struct tmem *t, pthread_mutex_t *m, long ms);
void tmem_unlock(pthread_mutex_t *m);
void tmem_world_stop(struct tmem *t);
void tmem_world_start(struct tmem *t);
static inline bool tmem_repair_pending(struct tmem *t)
{
	return atomic_load_explicit(&t->hdr->needs_repair,
				    memory_order_acquire) != 0;
}

/* ---- tmem-segment.c ----------------------------------------------- */
void tmem_log(struct tmem *t, enum tmem_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tmem_geometry_compute(uint64_t pool_size, struct tmem_geometry *g);
bool tmem_slot_alive(struct tmem *t, unsigned slot);

/* ---- tmem-codec.c ------------------------------------------------- */
void *tmem_alloc_touched(size_t size);
int tmem_ctx_init_all(struct tmem *t);
void tmem_ctx_free_all(struct tmem *t);
struct tmem_ctx *tmem_ctx_get(struct tmem *t);
void tmem_ctx_put(struct tmem_ctx *c);
enum entry_type tmem_page_classify(const void *page, uint64_t *pattern);
void tmem_page_fill(void *page, enum entry_type type, uint64_t pattern);
uint64_t tmem_page_hash(const void *page);
/* 0 and *len, or -EIO; raw if the page does not compress enough. */
int tmem_page_compress(struct tmem *t, struct tmem_ctx *c, const void *page,
		       uint32_t *len);
/* 0, -EIO (corrupt data) or -ENOKEY (it needs a dictionary this process
 * cannot use: the segment's failed its checksum). */
int tmem_page_decompress(struct tmem *t, struct tmem_ctx *c, const void *src,
			 uint32_t len, void *page);

/* ---- tmem-dict.c -------------------------------------------------- */
/* At open: workspaces (and, in a process that may train, the sample
 * buffer); at tmem_start: the trainer thread; at close: both go. */
int tmem_dict_init(struct tmem *t);
int tmem_dict_start(struct tmem *t);
void tmem_dict_fini(struct tmem *t);
/* A page that compressed, offered as a training sample. */
void tmem_dict_sample(struct tmem *t, const void *page);
/* Load the segment's dictionary if it is ready and not loaded yet; true
 * when this process can use it.  Without wait, false when another thread
 * is loading it (a put then compresses without). */
bool tmem_dict_load(struct tmem *t, bool wait);
static inline bool tmem_dict_usable(struct tmem *t, bool wait)
{
	return atomic_load_explicit(&t->dict_loaded, memory_order_acquire) ||
	       tmem_dict_load(t, wait);
}
static inline unsigned dict_state_of(uint64_t v)
{
	return (unsigned)(v & 0xff);
}

/* ---- tmem-alloc.c ------------------------------------------------- */
/* Caller holds the blob stripe lock of the blob being created. */
int tmem_alloc_space(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		     uint32_t size, uint32_t *loc);
void tmem_alloc_release(struct tmem *t, uint32_t loc, uint32_t size);
void tmem_chunk_free(struct tmem *t, uint32_t c);
uint32_t tmem_hole_pop(struct tmem *t);
void tmem_hole_push(struct tmem *t, uint32_t c);
bool tmem_chunk_lock(struct tmem *t, long wait_ms);
void tmem_chunk_close(struct tmem *t, uint32_t c);
int tmem_chunk_fault(struct tmem *t, uint32_t c);
int tmem_chunk_fault_range(struct tmem *t, uint32_t c, uint32_t n);
void tmem_chunk_punch(struct tmem *t, uint32_t c);
void tmem_ctx_close_chunks(struct tmem *t, struct tmem_ctx *c);
int tmem_evict_chunk(struct tmem *t, unsigned for_pool, bool own_only);
typedef bool (*tmem_walk_fn)(struct tmem *t, uint32_t c, uint32_t id,
			     uint32_t loc, uint32_t size, void *arg);
bool tmem_chunk_walk(struct tmem *t, uint32_t c, bool try_only, tmem_walk_fn fn,
		     void *arg);

/* ---- tmem-compact.c ----------------------------------------------- */
/* Victims at most this live: in the background, when the pool is idle
 * and sparse, and when a put needs room (see tmem-compact.c). */
#define TMEM_COMPACT_IDLE   (TMEM_CHUNK_SIZE / 4 * 3)
#define TMEM_COMPACT_SPARSE (TMEM_CHUNK_SIZE / 2)
#define TMEM_COMPACT_FULL   (TMEM_CHUNK_SIZE / 8 * 7)
unsigned tmem_compact(struct tmem *t, unsigned max_chunks, uint32_t max_live);

/* ---- tmem-blob.c -------------------------------------------------- */
int tmem_blob_find(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		   unsigned d, uint32_t hash, const void *page, uint32_t *id);
int tmem_blob_create(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		     unsigned d, uint32_t hash, const void *data, uint32_t len,
		     uint32_t *id);
void tmem_blob_unref(struct tmem *t, uint32_t id, unsigned pool);
void tmem_blob_unref_locked(struct tmem *t, uint32_t id, unsigned pool);
void tmem_blob_unlink_chain(struct tmem *t, uint32_t id);
uint64_t tmem_dbucket_of(struct tmem *t, unsigned d, uint32_t hash);
void tmem_blob_resize(struct tmem *t, unsigned d, unsigned bits);
void tmem_blob_stripe_fit(struct tmem *t, unsigned d);

/* ---- tmem-index.c ------------------------------------------------- */
unsigned tmem_key_stripe(enum tmem_kind kind, unsigned pool, uint64_t object,
			 uint64_t index, uint64_t *bucket);
uint32_t tmem_index_find(struct tmem *t, unsigned s, uint64_t bucket,
			 unsigned pool, uint64_t object, uint64_t index,
			 uint32_t **linkp);
int tmem_index_alloc(struct tmem *t, unsigned s, uint32_t *e);
void tmem_index_remove(struct tmem *t, unsigned s, uint32_t *link, uint32_t e);
void tmem_entry_release(struct tmem *t, struct tmem_entry *en);
void tmem_index_drop_where(struct tmem *t, unsigned pool, bool all_objects,
			   uint64_t object);
void tmem_index_sweep_ghosts(struct tmem *t);
void tmem_index_link(struct tmem *t, unsigned s, uint64_t bucket, uint32_t e);
void tmem_index_resize(struct tmem *t, unsigned s, unsigned bits);
unsigned tmem_bits_for(uint64_t used, uint64_t max_buckets);
uint32_t tmem_record_new(struct tmem *t, bool blobs, unsigned s);

/* ---- tmem-stats.c ------------------------------------------------- */
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
	atomic_fetch_add_explicit(&seg_pool(t, pool)->g[which], n,
				  memory_order_relaxed);
}
void tmem_counters_sum(struct tmem *t, unsigned pool, uint64_t *sum);
uint64_t tmem_fixed_bytes(struct tmem *t);

/* ---- tmem-check.c ------------------------------------------------- */
/* Stop the world, rebuild (repair) or compare (check). */
int tmem_fsck(struct tmem *t, bool repair);
void tmem_repair_if_needed(struct tmem *t);
void tmem_reap_dead(struct tmem *t);

/* ---- tmem-grower.c ------------------------------------------------ */
void tmem_grower_wake(struct tmem *t);
int tmem_segment_prepare(struct tmem *t, const struct tmem_options *opts);

/* ---- test hooks ---------------------------------------------------- */
#ifdef TMEM_TEST_HOOKS
/* Step at which to die (0: none); from TMEM_CRASH_POINT at tmem_open. */
extern int tmem_crash_at;
void tmem_crash_point(int n);
#define CRASH_POINT(n)                                         \
	do {                                                   \
		if (__builtin_expect(tmem_crash_at == (n), 0)) \
			tmem_crash_point(n);                   \
	} while (0)
/* Corrupt one stored byte of the blob under a key (tests). */
int tmem_test_corrupt(struct tmem *t, uint32_t pool, uint64_t object,
		      uint64_t index);
#else
#define CRASH_POINT(n) ((void)0)
#endif

#endif /* TMEM_INTERNAL_H */
