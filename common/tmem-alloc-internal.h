/* tmem: tmem-alloc.c's functions for the other pool files: space in chunks,
 * chunk states, eviction. */
#ifndef TMEM_ALLOC_INTERNAL_H
#define TMEM_ALLOC_INTERNAL_H

#include "tmem-handle.h"

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

#endif /* TMEM_ALLOC_INTERNAL_H */
