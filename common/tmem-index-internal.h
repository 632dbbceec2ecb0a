/* tmem: tmem-index.c's functions for the other pool files: the index of keys.
 */
#ifndef TMEM_INDEX_INTERNAL_H
#define TMEM_INDEX_INTERNAL_H

#include "tmem-handle.h"

unsigned tmem_key_stripe(enum tmem_kind kind, unsigned pool, uint64_t object,
			 uint64_t index, uint64_t *bucket);
uint32_t tmem_index_find(struct tmem *t, unsigned s, uint64_t bucket,
			 unsigned pool, uint64_t object, uint64_t index,
			 uint32_t **linkp);
int tmem_index_alloc(struct tmem *t, unsigned s, uint32_t *e);
void tmem_index_remove(struct tmem *t, unsigned s, uint32_t *link, uint32_t e);
void tmem_entry_release(struct tmem *t, struct tmem_entry *en);
void tmem_index_drop_where(struct tmem *t, unsigned pool, bool all_objects,
			   uint64_t object);
void tmem_index_sweep_ghosts(struct tmem *t);
void tmem_index_link(struct tmem *t, unsigned s, uint64_t bucket, uint32_t e);
void tmem_index_resize(struct tmem *t, unsigned s, unsigned bits);
unsigned tmem_bits_for(uint64_t used, uint64_t max_buckets);
uint32_t tmem_record_new(struct tmem *t, bool blobs, unsigned s);

#endif /* TMEM_INDEX_INTERNAL_H */
