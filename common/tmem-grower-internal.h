/* tmem: tmem-grower.c's functions for the other pool files: the grower thread.
 */
#ifndef TMEM_GROWER_INTERNAL_H
#define TMEM_GROWER_INTERNAL_H

#include "tmem-handle.h"

void tmem_grower_wake(struct tmem *t);
/* Whether the calling thread is t's grower. */
bool tmem_on_grower_thread(const struct tmem *t);
int tmem_segment_prepare(struct tmem *t, const struct tmem_options *opts);

#endif /* TMEM_GROWER_INTERNAL_H */
