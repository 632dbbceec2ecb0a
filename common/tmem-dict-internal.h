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
/* Whose pages a dictionary may be trained on and may then compress: a
 * dictionary holds pieces of its training pages, and how small a page
 * compresses with it tells whoever can measure that size how much of the
 * page the dictionary knows (the compression twin of the dedup attack).
 * So its group is the sub-pool its samples came from (DICT_GROUP_SUBPOOL |
 * the sub-pool's id) or, for sub-pools that opted into sharing pages
 * (TMEM_DEDUP_POOL), all of them (DICT_GROUP_SHARED); a sub-pool that
 * shares with no one (TMEM_DEDUP_NONE) is group 0: no dictionary. */
#define DICT_GROUP_SUBPOOL (1ULL << 32)
#define DICT_GROUP_SHARED  (2ULL << 32)

/* A page of group (not 0) that compressed, offered as a training sample:
 * taken only if this process's samples so far are of the same group. */
void tmem_dict_sample(struct tmem *t, const void *page, uint64_t group);
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
