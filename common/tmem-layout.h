/* tmem: the layout of the shared segment — the records every process maps
 * and addresses by offset — and the locks that guard them.
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
 *   disjoint halves of the stripes.
 * - blob stripe d: the blobs whose hash picks stripe d within their kind's
 *   half (blob_stripe), their dedup chains and free list, and the bytes
 *   they point at (reading, writing and moving them).  Split by kind like
 *   the index stripes.
 *
 * The rule the halves serve: a process that may stall while the swap
 * server waits for it (a cache daemon stopped or faulting, a tool) must
 * never hold a lock the swap path needs.  Puts, gets and flushes keep it:
 * they take only their own kind's stripes, and the swap path takes an
 * ephemeral stripe only with trylock.  A destroy of a persistent
 * sub-pool by a process that is no swap server (no grower serving one)
 * is left to a swap server's grower while one lives (tmem_destroy_serve,
 * also as that grower stops; one left pending by a server that died is
 * finished by the next lookup of its name, tmem_pool_find).
 * Compaction keeps it too: a process moves persistent blobs only of the
 * sub-pools it serves (tmem-compact.c).  Repair and check (tmem-check.c) work
 * one half at a time: each stops that half's world (the header locks and the
 * half's stripes), and a due repair is due per half (needs_repair), so that the
 * requests of the other half go on.  They run on a grower thread wherever
 * one runs, and only on the swap server's while one lives (a cache
 * daemon's grower leaves them to it): a serving process's request threads
 * leave them to their grower, and a process without a grower (a tool)
 * never runs them while a live process with a grower is attached
 * (tmem_slot.grower): it asks that grower and waits, holding nothing, for
 * a bounded time, then fails (tmem_repair_wait, tmem_check).  A grower
 * waits at most 50 ms for a half's locks; then it lets go of what it took
 * and tries again later, so a stopped process holding a cache stripe
 * never has swap's stripes held waiting for it.  Their scratch is
 * allocated and faulted in before they take a lock (without memory they
 * hold nothing and try again later).  Still shared by both halves: the
 * header locks, which a stopped process may hold in their short sections
 * (attach, sub-pool creation, a chunk changing hands) and which a cache
 * half's repair holds for its scan.
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
 * one half's world by taking its locks in the order above and rebuilds
 * every derived structure of that half (chains, free lists, refcounts,
 * live bytes, gauges) from the primary records: entries, blobs, chunk
 * states; and the free-chunk lists, which are the whole pool's.
 */
#ifndef TMEM_LAYOUT_H
#define TMEM_LAYOUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tmem.h"

#define TMEM_MAGIC	    0x314d454d54504d54ULL /* "TMPTMEM1" */
#define TMEM_LAYOUT_VERSION 12
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

/* In the magic's place while a segment is being formatted: a creator that
 * died there left a tmem file, which the next creator formats again; a
 * file with zeros there is someone else's and is left alone. */
#define TMEM_MAGIC_FORMATTING 0x2e4d454d54504d54ULL /* "TMPTMEM." */
/* Blob locations are 32 bits of 4-byte units, and chunk 0 lies beyond
 * the ceiling (tmem_geometry_compute). */
#define TMEM_MAX_POOL_SIZE   ((16ULL << 30) - 2 * TMEM_CHUNK_SIZE)
#define TMEM_RAW_THRESHOLD   3584	      /* compressed bigger: store raw */
#define TMEM_MAX_REFS	     ((1U << 20) - 1) /* then a new blob */
#define TMEM_LIVENESS_OFFSET (1ULL << 40)     /* OFD lock byte per slot */
#define TMEM_NONE	     0	  /* record 0 of every table is never used */
#define TMEM_OPEN	     4	  /* open chunks per context and sub-pool */
#define TMEM_LOAD	     4ULL /* records per bucket before buckets double */
#define TMEM_LOCK_WAIT_MS    100  /* longest wait for chunk_lock */
/* The trained dictionaries (tmem-dict.c): the largest size of one, the
 * pages it is trained on, and how they are picked (one in every DICT_EVERY
 * pages that compress, so that the samples span more than the first few
 * MiB).  A segment has TMEM_DICT_SLOTS of them, one per group (a sub-pool,
 * or the sub-pools sharing pages): a slot costs TMEM_DICT_MAX bytes of
 * segment (touched only once trained) and, in every process, a DDict
 * workspace (27 KiB at any level), made at open so that a get that needs
 * it never allocates. */
#define TMEM_DICT_MAX	  (32 * 1024)
#define TMEM_DICT_SAMPLES 1024
#define TMEM_DICT_EVERY	  4
#define TMEM_DICT_SLOTS	  8
/* CDicts a process can hold (process memory, not segment: 400 KiB each at
 * level 3, 1 MiB from level 5): one made at open, as a server puts into one
 * group; more only in a process that trains for more (tmem-dict.c). */
#define TMEM_DICT_CDICTS 4

/* ---- records in the segment --------------------------------------- */

/* Index entry: one key.  type/ref/pool are written last on insert. */
enum entry_type {
	ENTRY_FREE = 0,
	ENTRY_ZERO = 1,
	ENTRY_SAME = 2, /* value = 64-bit fill pattern */
	ENTRY_BLOB = 3, /* value = blob id */
};
/* value: type (2 bits) | pool slot (6) | payload (24): the blob id, or a
 * 16-bit fill pattern.  check binds what the key holds to the key: a hash
 * of (object, index, value, and for a blob the blob's content hash), see
 * tmem_entry_check.  So a changed key, value or blob id, or a blob that
 * is not the one the key stored, fails the check instead of answering
 * another page's bytes.  value and check change together in one 64-bit
 * store (vc), so a crash never pairs a new type with an old payload or
 * a value with another's check. */
/* Every field is protected by the entry's index stripe; get reads value
 * under it too. */
struct tmem_entry {
	uint64_t object;
	uint64_t index;
	union {
		struct {
			uint32_t value;
			uint32_t check;
		};
		uint64_t vc;
	};
	uint32_t next;	/* bucket chain / free list */
	uint32_t flags; /* ENTRY_F_*, not covered by check */
};
/* The entry failed its check (or its blob's bytes failed theirs) and that
 * was counted and logged: later reads answer EIO quietly. */
#define ENTRY_F_BAD 1U
/* A page of a persistent sub-pool that was read back: likely stale, since
 * the kernel frees a swap slot on swap-in (when swap is over half full)
 * without telling the device.  The payload bytes it held when it was read
 * are kept from bit ENTRY_F_READ_SHIFT up, so that dropping the entry
 * takes them off G_READ_BYTES without looking at its blob.  Cleared by
 * every write of the key (entry_publish). */
#define ENTRY_F_READ 2U
/* The entry failed its check when a repair relinked every record of its
 * half: no entry its damage hid was left out of a chain then.  A drop in
 * a chain that holds a damaged entry without this mark asks for that
 * repair first (key_drop, stripe_drop).  Cleared by every write; a free
 * record in a chain is damage whatever its flags. */
#define ENTRY_F_RELINKED   4U
#define ENTRY_F_READ_SHIFT 8
#define ENTRY_PAYLOAD_MAX  0xffffffU
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
 * else (offset into the data area >> TMEM_UNIT_SHIFT) + 2.
 * Every field, and the bytes at loc, are protected by the blob's stripe
 * (blob_stripe); hash is also read without it by walkers, who then check
 * under the lock that the blob is still the one they meant. */
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
	/* On the orphan stack (hdr->orphan_head), owner: who pushed it.
	 * Free, not filed yet; the next chunk_lock holder files it. */
	CHUNK_ORPHAN = 9,	/* as FREEING */
	CHUNK_ORPHAN_HOLE = 10, /* punched: only its list is missing */
};

/* A chunk state whose chunk holds blobs. */
static inline bool chunk_in_use(unsigned st)
{
	return st == CHUNK_OPEN || st == CHUNK_CLOSED || st == CHUNK_EVICTING ||
	       st == CHUNK_COMPACTING;
}

#define SL_LIVE(sl)  ((uint32_t)(sl))
#define SL_STATE(sl) ((unsigned)(((sl) >> 32) & 0xf))
#define SL_OWNER(sl) ((unsigned)(((sl) >> 36) & 0xffff))
#define SL_MAKE(state, owner, live)                              \
	(((uint64_t)(owner) << 36) | ((uint64_t)(state) << 32) | \
	 (uint32_t)(live))

struct tmem_chunk {
	_Atomic uint64_t sl; /* state | owner | live bytes: changed by
			      * compare-and-swap only, no lock */
	uint32_t fill;	     /* bump offset: its owner context's alone
			      * while OPEN (a context serves one thread at
			      * a time) */
	uint32_t next;	     /* free lists: chunk_lock */
	uint8_t pool;	     /* pool slot: set by whoever moves it out of
			      * RESERVE (owns it then), read without a lock */
	_Atomic uint8_t ref; /* CLOCK: set by get and by the hand passing
			      * it open, cleared by the hand passing it
			      * closed */
	uint8_t raw;	     /* holds raw pages only (see seg_rawid): as pool */
	uint8_t pad;
	_Atomic uint32_t born; /* fault_gen when last faulted in (see
				* tmem_header.fault_gen) */
};

/* Raw (incompressible) pages go to chunks of their own, 16 to a chunk with
 * no header (a header would leave room for only 15), their blob ids in a
 * side table: 0 marks a free slot. */
#define TMEM_RAW_SLOTS (TMEM_CHUNK_SIZE / TMEM_PAGE_SIZE)

/* An index or blob stripe: everything after lock is protected by it. */
struct tmem_stripe {
	pthread_mutex_t lock;
	uint32_t free_head; /* free entry/blob list */
	uint32_t seal;	    /* bits ^ STRIPE_SEAL (stripe_set_bits) */
	uint32_t used;	    /* live records */
	uint32_t bits;	    /* 1 << bits buckets in use; doubles as the
			     * stripe fills so that buckets cost memory only
			     * in proportion to use */
} __attribute__((aligned(64)));

/* A stripe's bucket count decides which chain each record is on: a count
 * changed by damage, even to another that fits the array, sends lookups
 * to the wrong chains (a key reads as absent) and removals past their
 * record (which is then freed while still linked: a loop).  So the count
 * is kept twice, and a stripe whose copies differ is damaged. */
#define STRIPE_SEAL 0x5eb1c7a3U

static inline void stripe_set_bits(struct tmem_stripe *st, unsigned bits)
{
	st->bits = bits;
	st->seal = bits ^ STRIPE_SEAL;
}

static inline uint64_t stripe_mask(const struct tmem_stripe *st)
{
	/* bits < 64 always, unless the segment is damaged (the data path
	 * then finds the stripe unsound: stripe_sound). */
	return st->bits < 64 ? (1ULL << st->bits) - 1 : ~0ULL;
}

/* The buckets a stripe uses, within its array of max whatever its
 * (perhaps damaged) count says: what a walk goes through, and one more
 * than the mask a lookup takes. */
static inline uint64_t stripe_buckets(const struct tmem_stripe *st,
				      uint64_t max)
{
	return stripe_mask(st) < max ? stripe_mask(st) + 1 : max;
}

/* Whether the stripe's count is its own and fits its array of max buckets:
 * the data path walks a stripe's chains only then (otherwise its taker
 * asks for the repair, which rebuilds the stripe, and waits for it). */
static inline bool stripe_sound(const struct tmem_stripe *st, uint64_t max)
{
	return st->seal == (st->bits ^ STRIPE_SEAL) && stripe_mask(st) < max;
}

/* bits, or fewer: at most an array of max buckets (a power of two). */
static inline unsigned bits_within(unsigned bits, uint64_t max)
{
	while ((1ULL << bits) > max)
		bits--;
	return bits;
}

/* Counters: one block per (process slot, stat context, pool); summed.
 * No lock: relaxed atomic adds by the slot's own process, sums by
 * anyone. */
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

/* Gauges of a sub-pool: relaxed atomic adds, no lock; recomputed by
 * repair, checked by tmem_check. */
enum {
	G_PAGES, /* entries (including ones on evicted blobs, until swept) */
	G_ZERO,	 /* zero entries */
	G_SAME,	 /* same-filled entries */
	G_RAW,	 /* live raw blobs */
	G_BLOBS, /* live blobs */
	G_COMPRESSED, /* payload bytes of live blobs */
	G_CHUNKS,     /* chunks held (not free) */
	G_READ,	      /* entries marked ENTRY_F_READ */
	G_READ_BYTES, /* payload bytes those entries held when read */
	G_NR,
};

enum pool_state {
	POOL_FREE = 0,
	POOL_ACTIVE = 1,
	POOL_DESTROYING = 2,
};
/* A sub-pool: every field is written under pool_lock (creation and
 * destruction) unless it says otherwise; the data path reads them without
 * it, after checking state and gen (pool_still). */
struct tmem_pool_rec {
	_Atomic uint32_t state; /* pool_lock to change */
	uint32_t gen;		/* bumped on create and destroy */
	uint32_t kind;
	uint32_t dedup; /* enum tmem_dedup_scope: written by its owner
			 * (pool_set_dedup), read by puts without a lock */
	uint32_t seal;	/* tmem_pool_seal: redone under pool_lock with
			 * every change of the fields it covers */
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
enum slot_grower {
	SLOT_GROWER = 1,
	SLOT_GROWER_PERSISTENT = 2,
};
struct tmem_slot {
	uint32_t state;	       /* written under slots_lock (slot_set),
				* also read without it */
	int32_t pid;	       /* slots_lock */
	uint64_t attach_count; /* slots_lock */
	/* The process runs a grower thread: set by it when the thread
	 * starts (tmem_start), cleared when it stops (tmem_close) and when
	 * the slot is claimed or freed; no lock.  SLOT_GROWER, with
	 * SLOT_GROWER_PERSISTENT when the process also serves a persistent
	 * sub-pool (it repairs that half).  A process killed with it
	 * set leaves it set until a repair frees the slot: readers pair it
	 * with tmem_slot_alive. */
	_Atomic uint32_t grower;
	/* Of a dead process's slot: the halves (TMEM_HALF_BIT) a repair
	 * has rebuilt since it died; the slot is freed once both are.
	 * Written under slots_lock (slot_set), also read without it. */
	uint32_t repaired;
	/* A context's blob reference taken for a put not yet published:
	 * written under the blob's stripe, cleared under the index stripe,
	 * by the context's own thread only. */
	uint32_t intent_blob[TMEM_MAX_CTX];
};

/* Written once when the segment is formatted (under the exclusive flock),
 * read-only after: no lock. */
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
	uint64_t off_rawids, off_dict; /* TMEM_DICT_SLOTS * TMEM_DICT_MAX */
	uint32_t dict_slots, dict_max;
};

/* A dictionary slot.  state is DICT_* in the low byte, and while training
 * the trainer's process slot (bits 8..15) and pid (32..63), so that one
 * compare-and-swap claims or takes back the slot.  A slot is claimed
 * (NONE, or FAILED: a failed slot has no frames naming it, see
 * DICT_ID_MAKE) under hdr->dict_claim, group written before state.
 * Once DICT_READY, group, size, id, hash (XXH64) and the slot's bytes at
 * off_dict + slot * TMEM_DICT_MAX never change: processes use them by
 * reference.  group: whose pages it was trained on, and so the only pages
 * it may compress (tmem-dict-internal.h, DICT_GROUP_*). */
struct tmem_dict_rec {
	_Atomic uint64_t state;
	_Atomic uint64_t group;
	uint64_t hash;
	uint32_t size;
	uint32_t id;
} __attribute__((aligned(64)));

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
	_Atomic uint64_t repairs; /* repairs of a half done, ever */
	/* Bumped by every process that faults chunks in, which stamp them
	 * with the new value (tmem_chunk.born): a locking server maps in
	 * the chunks stamped after the last value it saw (tmem-grower.c,
	 * map_new_chunks), so that another process's chunks are locked in
	 * it too.  Wraps; compared by difference.  fault_done counts the
	 * stampings finished: equal to fault_gen, no stamp is in flight. */
	_Atomic uint32_t fault_gen;
	_Atomic uint32_t fault_done;
	/* The halves (TMEM_HALF_BIT of a kind) that a process dying with
	 * one of their locks held may have left half done: set by the next
	 * taker of that lock (a header lock: both), cleared by the repair of
	 * that half.  No lock. */
	_Atomic uint32_t needs_repair __attribute__((aligned(64)));
	/* A check asked of the serving processes' growers by a process
	 * without one (tmem_check_report): it bumps check_req and wakes
	 * them; a grower that finds check_answer's generation (high 32
	 * bits) behind check_req runs the check and publishes, with the
	 * check_req value it saw, what it found (low 32 bits:
	 * CHECK_ANSWER_ERR | errno when it could not run, else the number
	 * of problems).  The generation only moves forward; no lock. */
	_Atomic uint32_t check_req __attribute__((aligned(64)));
	_Atomic uint64_t check_answer;
	/* Entry and blob records handed out per kind (persistent from 1:
	 * record 0 means none).  A stripe reuses its own freed records
	 * first, so records are dense whatever the stripe balance. */
	_Atomic uint32_t ebump[2] __attribute__((aligned(64)));
	_Atomic uint32_t bbump[2];
	/* References to doomed (evicted) cache blobs: entries not yet swept and
	 * pending puts.  Added when a blob is doomed, taken off one by one
	 * as they go (tmem_blob_unref_locked), recounted by repair; no
	 * lock.  Read on every lock taken: a line of its own. */
	_Atomic uint64_t ghosts __attribute__((aligned(64)));
	/* The dictionaries: dict_claim is a trainer's lock on the choice of
	 * a slot (0, or DICT_TRAINING with its holder's process slot and
	 * pid as in a slot's state: taken back when its holder died), so
	 * that two processes never claim two slots for one group. */
	_Atomic uint64_t dict_claim __attribute__((aligned(64)));
	struct tmem_dict_rec dict[TMEM_DICT_SLOTS];
};

#define CHECK_ANSWER_ERR 0x80000000U

enum dict_state {
	DICT_NONE = 0,	   /* free */
	DICT_TRAINING = 1, /* one process is training for group */
	DICT_READY = 2,	   /* in use */
	DICT_FAILED = 3,   /* training failed or did not pay: group goes
			    * without; another group may claim the slot */
};

/* The id a frame carries (one byte: zstd writes an id below 256 in one):
 * the slot in the low bits, a generation above, from 1 so that no id is
 * 0 (no dictionary).  Every slot's generation is 1 for now; a slot given
 * to a new group once no frame names its old id would take the next. */
#define DICT_SLOT_BITS		3
#define DICT_ID_MAKE(slot, gen) (((uint32_t)(gen) << DICT_SLOT_BITS) | (slot))
#define DICT_ID_SLOT(id)	((id) & (TMEM_DICT_SLOTS - 1))
_Static_assert(TMEM_DICT_SLOTS == 1 << DICT_SLOT_BITS, "dict id bits");

#endif /* TMEM_LAYOUT_H */
