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
void tmem_world_stop(struct tmem *t);
void tmem_world_start(struct tmem *t);
static inline bool tmem_repair_pending(struct tmem *t)
{
	return atomic_load_explicit(&t->hdr->needs_repair,
				    memory_order_acquire) != 0;
}

#endif /* TMEM_LOCK_INTERNAL_H */
