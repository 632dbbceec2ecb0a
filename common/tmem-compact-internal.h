/* tmem: tmem-compact.c's functions for the other pool files: compaction of
 * sparse chunks. */
#ifndef TMEM_COMPACT_INTERNAL_H
#define TMEM_COMPACT_INTERNAL_H

#include "tmem-handle.h"

/* Victims at most this live: in the background when free chunks run low,
 * when the pool is idle and sparse, and both to keep persistent sub-pools
 * packed and when a put needs room (see tmem-compact.c and tmem-grower.c). */
#define TMEM_COMPACT_IDLE   (TMEM_CHUNK_SIZE / 4 * 3)
#define TMEM_COMPACT_SPARSE (TMEM_CHUNK_SIZE / 2)
#define TMEM_COMPACT_FULL   (TMEM_CHUNK_SIZE / 8 * 7)
unsigned tmem_compact(struct tmem *t, unsigned max_chunks, uint32_t max_live);
/* The same, taking only chunks of persistent sub-pools. */
unsigned tmem_compact_persistent(struct tmem *t, unsigned max_chunks,
				 uint32_t max_live);

#endif /* TMEM_COMPACT_INTERNAL_H */
