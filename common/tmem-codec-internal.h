/* tmem: tmem-codec.c's functions for the other pool files: compression
 * contexts, page classification, hashing, zstd. */
#ifndef TMEM_CODEC_INTERNAL_H
#define TMEM_CODEC_INTERNAL_H

#include "tmem-handle.h"

void *tmem_alloc_touched(size_t size);
void *tmem_map_touched(size_t size);
void tmem_unmap_touched(void *p, size_t size);
int tmem_ctx_init_all(struct tmem *t);
void tmem_ctx_free_all(struct tmem *t);
struct tmem_ctx *tmem_ctx_get(struct tmem *t);
void tmem_ctx_put(struct tmem_ctx *c);
enum entry_type tmem_page_classify(const void *page, uint64_t *pattern);
void tmem_page_fill(void *page, enum entry_type type, uint64_t pattern);
uint64_t tmem_page_hash(const void *page);
/* 0 and *len, or -EIO; raw if the page does not compress enough.  group:
 * the page's dictionary group (tmem-dict-internal.h): only the group's own
 * dictionary compresses it, and a page of a group without one may be
 * taken as a sample to train one. */
int tmem_page_compress(struct tmem *t, struct tmem_ctx *c, const void *page,
		       uint64_t group, uint32_t *len);
/* 0, -EIO (corrupt data) or -ENOKEY (it needs a dictionary this process
 * cannot use: the segment has none of that id, or it failed its
 * checksum). */
int tmem_page_decompress(struct tmem *t, struct tmem_ctx *c, const void *src,
			 uint32_t len, void *page);

#endif /* TMEM_CODEC_INTERNAL_H */
