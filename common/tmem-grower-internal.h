/* tmem: tmem-grower.c's functions for the other pool files: the grower thread.
 */
#ifndef TMEM_GROWER_INTERNAL_H
#define TMEM_GROWER_INTERNAL_H

#include "tmem-handle.h"

void tmem_grower_wake(struct tmem *t);

/* Records a put takes from the bump of its kind's half of the entry and
 * blob tables: a process's grower keeps this many ahead of each bump
 * mapped in (t->ahead), so that a put never waits in the page allocator
 * for a page of the index (the swap device's writes must not need memory
 * to make memory).  A put that leaves fewer than half of them wakes the
 * growers; one that gets to the end while the grower is held up (the
 * kernel's reclaim, or a guest's one vCPU busy with the request threads)
 * or cannot fault them in (memory short, /dev/shm full) is refused for
 * now (ALLOC_RECORD_LATER, reject RECORDS_LATER) and retried, as for a
 * chunk. */
#define TMEM_AHEAD_RECORDS 4096
/* This process serves persistent sub-pool pool (own_persistent): with a
 * grower running, its slot says so (SLOT_GROWER_PERSISTENT). */
void tmem_serve_persistent(struct tmem *t, unsigned pool);
/* This process destroyed persistent sub-pool pool: it serves it no more
 * (its slot may become another process's sub-pool, whose blobs this one's
 * compaction must then leave alone). */
void tmem_unserve_persistent(struct tmem *t, unsigned pool);
/* Whether the calling thread is t's grower. */
bool tmem_on_grower_thread(const struct tmem *t);
int tmem_segment_prepare(struct tmem *t, const struct tmem_options *opts);

#endif /* TMEM_GROWER_INTERNAL_H */
