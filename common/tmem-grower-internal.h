/* tmem: tmem-grower.c's functions for the other pool files: the grower thread.
 */
#ifndef TMEM_GROWER_INTERNAL_H
#define TMEM_GROWER_INTERNAL_H

#include "tmem-handle.h"

void tmem_grower_wake(struct tmem *t);
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
