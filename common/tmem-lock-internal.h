/* tmem: tmem-lock.c's functions for the other pool files: process-shared robust
 * mutexes, stopping the world. */
#ifndef TMEM_LOCK_INTERNAL_H
#define TMEM_LOCK_INTERNAL_H

#include "tmem-handle.h"

int tmem_mutex_init(pthread_mutex_t *m);
void tmem_lock(struct tmem *t, pthread_mutex_t *m);
bool tmem_trylock(struct tmem *t, pthread_mutex_t *m);
bool tmem_timedlock(struct tmem *t, pthread_mutex_t *m, long ms);
void tmem_unlock(pthread_mutex_t *m);
/* The two halves of the pool, one per kind (its stripes, records and
 * chunks): a bit each in needs_repair and in a world stop. */
#define TMEM_HALF_BIT(kind) (1U << (kind))
#define TMEM_HALVES \
	(TMEM_HALF_BIT(TMEM_PERSISTENT) | TMEM_HALF_BIT(TMEM_EPHEMERAL))
/* The halves lock m guards: its kind's for a stripe lock, both for a
 * header lock. */
unsigned tmem_lock_halves(struct tmem *t, pthread_mutex_t *m);
bool tmem_world_stop(struct tmem *t, unsigned halves, long wait_ms);
void tmem_world_start(struct tmem *t, unsigned halves);
/* Whether a repair of any of the given halves is due. */
static inline bool tmem_repair_pending_in(struct tmem *t, unsigned halves)
{
	return (atomic_load_explicit(&t->hdr->needs_repair,
				     memory_order_acquire) &
		halves) != 0;
}
/* Damage found where it cannot be mended: ask for the repair of half
 * kind (its stripes' next takers wait for it: stripe_lock).  No lock, no
 * allocation: any thread may ask, a swap request's too. */
static inline void tmem_repair_ask(struct tmem *t, unsigned kind)
{
	atomic_fetch_or_explicit(&t->hdr->needs_repair, TMEM_HALF_BIT(kind),
				 memory_order_release);
}
static inline bool tmem_repair_pending(struct tmem *t)
{
	return tmem_repair_pending_in(t, TMEM_HALVES);
}

#endif /* TMEM_LOCK_INTERNAL_H */
