/* tmem: tmem-compact.c's functions for the other pool files: compaction of
 * sparse chunks. */
#ifndef TMEM_COMPACT_INTERNAL_H
#define TMEM_COMPACT_INTERNAL_H

#include "tmem-handle.h"

/* Victims at most this live: in the background when free chunks run low,
 * and both to keep the pool packed and when a put needs room (see
 * tmem-compact.c and tmem-grower.c). */
#define TMEM_COMPACT_IDLE (TMEM_CHUNK_SIZE / 4 * 3)
#define TMEM_COMPACT_FULL (TMEM_CHUNK_SIZE / 8 * 7)
unsigned tmem_compact(struct tmem *t, unsigned max_chunks, uint32_t max_live);

#endif /* TMEM_COMPACT_INTERNAL_H */
