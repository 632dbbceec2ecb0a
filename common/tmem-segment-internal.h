/* tmem: tmem-segment.c's functions for the other pool files: logging, geometry
 * and process slots. */
#ifndef TMEM_SEGMENT_INTERNAL_H
#define TMEM_SEGMENT_INTERNAL_H

#include "tmem-handle.h"

void tmem_log(struct tmem *t, enum tmem_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tmem_geometry_compute(uint64_t pool_size, struct tmem_geometry *g);
bool tmem_slot_alive(struct tmem *t, unsigned slot);
/* A sub-pool record's seal: a hash of its state, generation, kind, dedup
 * scope and name, the fields every request trusts.  tmem_pool_reseal
 * sets it; caller holds pool_lock (or stops the world). */
uint32_t tmem_pool_seal(const struct tmem_pool_rec *pr);
void tmem_pool_reseal(struct tmem_pool_rec *pr);

/* A slot's state and repaired change only under slots_lock and are read
 * without it (a hint: is there a dead process to repair after?): stores
 * are atomic, release so that a reader that sees SLOT_ATTACHED sees the
 * pid written before it. */
static inline void slot_set(uint32_t *field, uint32_t v)
{
	__atomic_store_n(field, v, __ATOMIC_RELEASE);
}

/* The reader's half, for a reader without slots_lock. */
static inline uint32_t slot_get(const uint32_t *field)
{
	return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

#endif /* TMEM_SEGMENT_INTERNAL_H */
