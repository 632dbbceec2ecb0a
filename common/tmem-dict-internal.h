/* tmem: tmem-dict.c's functions for the other pool files: the trained zstd
 * dictionaries. */
#ifndef TMEM_DICT_INTERNAL_H
#define TMEM_DICT_INTERNAL_H

#include "tmem-handle.h"

/* At open: workspaces; at tmem_start: the trainer thread (which maps the
 * sample buffer for each round); at close: all of it goes. */
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
 * shares with no one (TMEM_DEDUP_NONE) is group 0: no dictionary.  Each
 * group has its own slot, while there is one free (TMEM_DICT_SLOTS). */
#define DICT_GROUP_SUBPOOL (1ULL << 32)
#define DICT_GROUP_SHARED  (2ULL << 32)

/* The CDict that compresses group's pages in this process (loading the
 * slot's dictionary if it is ready and not loaded yet), or NULL: none
 * ready for it, or none that this process can use.  *claimable: group
 * has no slot of its own and one is free, so it may train one.  Without
 * wait, NULL when another thread is loading (a put then goes without). */
struct tmem_dict_enc *tmem_dict_for(struct tmem *t, uint64_t group, bool wait,
				    bool *claimable);
#ifdef TMEM_TEST_HOOKS
/* Tests: called by tmem_dict_for between finding the group's slot and
 * loading it, so that a test can change the slot there. */
extern void (*tmem_dict_test_found)(struct tmem *t, unsigned slot);
#endif
/* The DDict that reads frames naming dictionary id, or NULL (-ENOKEY):
 * no such dictionary in the segment, or its bytes fail their check. */
void *tmem_dict_ddict(struct tmem *t, uint32_t id);
/* A page of group (not 0) that compressed and has no slot yet, offered
 * as a training sample: taken only into a round of the same group. */
void tmem_dict_sample(struct tmem *t, const void *page, uint64_t group);
/* The dictionaries' part of tmem_segment_info. */
void tmem_dict_info(struct tmem *t, struct tmem_segment_info *info);
static inline unsigned dict_state_of(uint64_t v)
{
	return (unsigned)(v & 0xff);
}

#endif /* TMEM_DICT_INTERNAL_H */
