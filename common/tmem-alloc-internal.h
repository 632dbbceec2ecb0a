/* tmem: tmem-alloc.c's functions for the other pool files: space in chunks,
 * chunk states, eviction. */
#ifndef TMEM_ALLOC_INTERNAL_H
#define TMEM_ALLOC_INTERNAL_H

#include "tmem-handle.h"

/* Why there was no room for a record or for bytes.  Internal: a put
 * turns each into its reject reason and -ENOSPC (make_room). */
enum alloc_outcome {
	ALLOC_OK = 0,
	ALLOC_LATER,	    /* no chunk ready now, but one will be: the grower
			     * refills the reserve, or a chunk in someone's
			     * hand comes back (RESERVE_EMPTY) */
	ALLOC_RECORD_LATER, /* the index entry or blob record it would take
			     * is not mapped in this process yet: the grower
			     * maps it (RECORDS_LATER); or, with no grower's
			     * mark, its page could not be faulted in
			     * (record_backed).  A blob's only while there is
			     * room for it (else what room says); an entry's
			     * whatever room (its page is stored, or needs
			     * none) */
	ALLOC_FULL,	    /* nothing free this pool may take: free chunks are
			     * owed to other pools' minimums or kept for
			     * compaction (NOSPACE) */
	ALLOC_CAPPED,	    /* the pool is at its max-share (POOL_MAX) */
	ALLOC_NO_RECORD, /* no index entry or blob record left (INDEX_FULL) */
};

/* What one eviction did. */
enum evict_outcome {
	EVICT_FREED, /* a chunk became free */
	EVICT_NONE,  /* no chunk could be evicted */
	EVICT_BUSY,  /* chunk_lock was busy: never wait on it twice */
};

/* The chunk lists' counts and the bump (reserve_count, hole_count,
 * punch_count, hole_bump) change only under chunk_lock, and are read
 * without it (tmem_room, compaction's yield to the writers, the grower's
 * scan, other processes' statistics): every store is a relaxed atomic, so
 * such a read gets a value some holder of the lock stored, never a torn
 * one, and races with no plain write. */
static inline void chunk_count_set(uint32_t *count, uint32_t v)
{
	__atomic_store_n(count, v, __ATOMIC_RELAXED);
}

/* A chunk's fill, pool and raw as set when it is opened or filed, and as
 * read by a context checking that the chunk it last filled is still open
 * and its own: the chunk may be emptied, freed and reopened by another
 * thread meanwhile, so both sides are relaxed atomics (the state word's
 * compare-and-swap decides who has the chunk, not these reads). */
#define chunk_get(k, field) __atomic_load_n(&(k)->field, __ATOMIC_RELAXED)
#define chunk_set(k, field, v) \
	__atomic_store_n(&(k)->field, (v), __ATOMIC_RELAXED)

/* Caller holds the blob stripe lock of the blob being created. */
enum alloc_outcome tmem_alloc_space(struct tmem *t, struct tmem_ctx *c,
				    unsigned pool, uint32_t size,
				    uint32_t *loc);
/* What tmem_alloc_space would say now, taking nothing: ALLOC_OK when one
 * of c's open chunks of pool has room for size bytes or a free chunk is
 * left that pool may take, otherwise ALLOC_CAPPED, ALLOC_LATER or
 * ALLOC_FULL.  Read without chunk_lock: a hint, that a put retried on
 * its answer corrects. */
enum alloc_outcome tmem_alloc_outlook(struct tmem *t, struct tmem_ctx *c,
				      unsigned pool, uint32_t size);
void tmem_alloc_release(struct tmem *t, uint32_t loc, uint32_t size);
void tmem_chunk_free(struct tmem *t, uint32_t c);
uint32_t tmem_hole_pop(struct tmem *t);
void tmem_hole_push(struct tmem *t, uint32_t c);
bool tmem_chunk_lock(struct tmem *t, long wait_ms);
void tmem_chunk_close(struct tmem *t, uint32_t c);
/* Fault the pages of [off, off + len) of the segment in for writing, as a
 * write would, but where a write to a full /dev/shm gets SIGBUS, say so:
 * 0, or -errno (-ENOMEM: no memory; -ENOSPC: no room in /dev/shm, where
 * madvise says EFAULT; -EINTR or -EAGAIN still after TMEM_FAULT_TRIES
 * tries), with some of the pages perhaps faulted in. */
#define TMEM_FAULT_TRIES 4
int tmem_fault_in(struct tmem *t, uint64_t off, uint64_t len);
int tmem_chunk_fault(struct tmem *t, uint32_t c);
int tmem_chunk_fault_range(struct tmem *t, uint32_t c, uint32_t n);
void tmem_chunk_stamp(struct tmem *t, uint32_t c, uint32_t n);
void tmem_chunk_punch(struct tmem *t, uint32_t c);
void tmem_ctx_close_chunks(struct tmem *t, struct tmem_ctx *c);
enum evict_outcome tmem_evict_chunk(struct tmem *t, unsigned for_pool,
				    bool own_only);
typedef bool (*tmem_walk_fn)(struct tmem *t, uint32_t c, uint32_t id,
			     uint32_t loc, uint32_t size, void *arg);
bool tmem_chunk_walk(struct tmem *t, uint32_t c, enum tmem_kind kind,
		     bool try_only, tmem_walk_fn fn, void *arg);

#endif /* TMEM_ALLOC_INTERNAL_H */
