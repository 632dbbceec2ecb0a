/* tmem: tmem-blob.c's functions for the other pool files: blobs: stored pages
 * shared by dedup. */
#ifndef TMEM_BLOB_INTERNAL_H
#define TMEM_BLOB_INTERNAL_H

#include "tmem-alloc-internal.h"
#include "tmem-handle.h"

int tmem_blob_find(struct tmem *t, struct tmem_ctx *c, unsigned pool,
		   unsigned d, uint32_t hash, const void *page, uint32_t *id);
enum alloc_outcome tmem_blob_create(struct tmem *t, struct tmem_ctx *c,
				    unsigned pool, unsigned d, uint32_t hash,
				    const void *data, uint32_t len,
				    uint32_t *id);
void tmem_blob_unref(struct tmem *t, uint32_t id);
void tmem_blob_unref_locked(struct tmem *t, uint32_t id);
bool tmem_blob_unlink_chain(struct tmem *t, uint32_t id);
uint64_t tmem_dbucket_of(struct tmem *t, unsigned d, uint32_t hash);
void tmem_blob_resize(struct tmem *t, unsigned d, unsigned bits);
void tmem_blob_stripe_fit(struct tmem *t, unsigned d);

#endif /* TMEM_BLOB_INTERNAL_H */
