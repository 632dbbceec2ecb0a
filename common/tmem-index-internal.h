/* tmem: tmem-index.c's functions for the other pool files: the index of keys.
 */
#ifndef TMEM_INDEX_INTERNAL_H
#define TMEM_INDEX_INTERNAL_H

#include "tmem-alloc-internal.h"
#include "tmem-handle.h"

unsigned tmem_key_stripe(enum tmem_kind kind, unsigned pool, uint64_t object,
			 uint64_t index, uint64_t *bucket);
uint32_t tmem_index_find(struct tmem *t, unsigned s, uint64_t bucket,
			 unsigned pool, uint64_t object, uint64_t index,
			 uint32_t **linkp);
enum alloc_outcome tmem_index_alloc(struct tmem *t, unsigned s, uint32_t *e);
void tmem_index_remove(struct tmem *t, unsigned s, uint32_t *link, uint32_t e);
void tmem_entry_release(struct tmem *t, struct tmem_entry *en);
void tmem_entry_read_mark(struct tmem *t, struct tmem_entry *en, uint32_t len);
void tmem_entry_read_forget(struct tmem *t, const struct tmem_entry *en);
bool tmem_index_drop_where(struct tmem *t, unsigned pool, bool all_objects,
			   uint64_t object);
void tmem_index_sweep_ghosts(struct tmem *t);
void tmem_index_link(struct tmem *t, unsigned s, uint64_t bucket, uint32_t e);
void tmem_index_resize(struct tmem *t, unsigned s, unsigned bits);
unsigned tmem_bits_for(uint64_t used, uint64_t max_buckets);
uint32_t tmem_free_pop(struct tmem *t, bool blobs, unsigned s, bool *later);
uint32_t tmem_record_new(struct tmem *t, bool blobs, unsigned s, bool *later);

/* The check an entry with this key and value carries; bhash is the blob's
 * content hash for ENTRY_BLOB, else 0. */
uint32_t tmem_entry_check(uint64_t object, uint64_t index, uint32_t value,
			  uint32_t bhash);
/* Store what a key holds, value and check at once. */
static inline void entry_publish(struct tmem_entry *en, uint32_t value,
				 uint32_t bhash)
{
	uint32_t check = tmem_entry_check(en->object, en->index, value, bhash);
	union {
		struct {
			uint32_t value, check;
		} s;
		uint64_t vc;
	} u = {.s = {value, check}};

	__atomic_store_n(&en->vc, u.vc, __ATOMIC_RELEASE);
	en->flags = 0;
}
/* Whether a blob id can be an entry's of a pool of this kind, and a blob
 * record's location and length lie inside the data area: what a damaged
 * segment may break, tested before anything is dereferenced. */
static inline bool blob_id_valid(struct tmem *t, uint32_t id,
				 enum tmem_kind kind)
{
	uint64_t half = t->geo->nr_blobs / 2;

	return id != 0 && id < t->geo->nr_blobs &&
	       (kind == TMEM_EPHEMERAL) == (id >= half);
}
bool tmem_blob_sane(struct tmem *t, const struct tmem_blob *b);
/* tmem_blob_sane, and its chunk names blob id at its location (the raw
 * slot's id, or the header before its bytes) in a chunk of its kind (raw
 * pages only in raw chunks): a location changed by damage to another
 * blob's place fails it, and releasing that place would free another
 * blob's bytes. */
bool tmem_blob_placed(struct tmem *t, uint32_t id, const struct tmem_blob *b);
/* Where an entry of a damaged index would lead: a link to a record that
 * is not in the table. */
static inline bool entry_id_valid(struct tmem *t, uint32_t e)
{
	return e < t->geo->nr_entries;
}
/* A lookup that trusts nothing: like tmem_index_find, but it stops at a
 * link out of the table or a chain longer than the stripe's records, and
 * on a miss checks the chain's entries, so that a damaged entry that may
 * have been this key's is reported in *bad (0: none; a damaged chain is
 * reported as UINT32_MAX). */
uint32_t tmem_index_find_checked(struct tmem *t, unsigned s, uint64_t bucket,
				 unsigned pool, uint64_t object, uint64_t index,
				 uint32_t **linkp, uint32_t *bad);
/* Caller holds index stripe s.  Whether a key may be in bucket's chain
 * and out of a lookup's reach: the chain is broken (a link out of the
 * table, or a loop), or it holds an entry that fails its check and that
 * no repair has relinked since (ENTRY_F_RELINKED): a changed link may
 * have cut the chain there. */
bool tmem_index_chain_suspect(struct tmem *t, unsigned s, uint64_t bucket);
/* Whether an entry's check holds (reads its blob's hash: caller holds the
 * entry's index stripe; a blob it holds cannot go). */
bool tmem_entry_sound(struct tmem *t, const struct tmem_entry *en);

#endif /* TMEM_INDEX_INTERNAL_H */
