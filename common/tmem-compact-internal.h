/* tmem: tmem-compact.c's functions for the other pool files: compaction of
 * sparse chunks. */
#ifndef TMEM_COMPACT_INTERNAL_H
#define TMEM_COMPACT_INTERNAL_H

#include "tmem-handle.h"

/* Victims at most this live: in the background when free chunks run low,
 * when the pool is idle and sparse, to keep persistent sub-pools packed
 * (moving such a chunk frees at least a sixteenth of it), and when a put
 * needs room (at least a thirty-second: a pool churned at random decays
 * evenly, every chunk about as live as the pool's payload / used, so a
 * fixed bound further down leaves a pool whose payload is above it with
 * nothing to take: see tmem-compact.c and tmem-grower.c). */
#define TMEM_COMPACT_IDLE   (TMEM_CHUNK_SIZE / 4 * 3)
#define TMEM_COMPACT_SPARSE (TMEM_CHUNK_SIZE / 2)
#define TMEM_COMPACT_PACK   (TMEM_CHUNK_SIZE / 16 * 15)
#define TMEM_COMPACT_FULL   (TMEM_CHUNK_SIZE / 32 * 31)
unsigned tmem_compact(struct tmem *t, unsigned max_chunks, uint32_t max_live);
/* The same, taking only chunks of persistent sub-pools; *none says whether
 * it stopped because no chunk was sparse enough (not for a passing reason:
 * another compactor, writers waiting for the grower, no room to move to). */
unsigned tmem_compact_persistent(struct tmem *t, unsigned max_chunks,
				 uint32_t max_live, bool *none);

#endif /* TMEM_COMPACT_INTERNAL_H */
