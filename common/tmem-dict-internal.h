/* tmem: tmem-dict.c's functions for the other pool files: the trained zstd
 * dictionary. */
#ifndef TMEM_DICT_INTERNAL_H
#define TMEM_DICT_INTERNAL_H

#include "tmem-handle.h"

/* At open: workspaces (and, in a process that may train, the sample
 * buffer); at tmem_start: the trainer thread; at close: both go. */
int tmem_dict_init(struct tmem *t);
int tmem_dict_start(struct tmem *t);
void tmem_dict_fini(struct tmem *t);
/* A page that compressed, offered as a training sample. */
void tmem_dict_sample(struct tmem *t, const void *page);
/* Load the segment's dictionary if it is ready and not loaded yet; true
 * when this process can use it.  Without wait, false when another thread
 * is loading it (a put then compresses without). */
bool tmem_dict_load(struct tmem *t, bool wait);
static inline bool tmem_dict_usable(struct tmem *t, bool wait)
{
	return atomic_load_explicit(&t->dict_loaded, memory_order_acquire) ||
	       tmem_dict_load(t, wait);
}
static inline unsigned dict_state_of(uint64_t v)
{
	return (unsigned)(v & 0xff);
}

#endif /* TMEM_DICT_INTERNAL_H */
