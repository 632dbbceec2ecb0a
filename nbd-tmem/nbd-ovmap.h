/* nbd-tmem: the overflow slot map's format, shared with tmemctl.
 *
 * /dev/shm/POOL.nbd-EXPORT.ovmap: this header in the first page, then one
 * record per slot of the overflow file.  A record says which device page
 * the slot holds, the checksum of its 4096 bytes, and a check over
 * (label, slot, page, data checksum): a record changed in any byte fails
 * its check, and bytes changed in the file, or a record naming another
 * page, fail the data checksum, which is seeded by label and page.  So
 * a page is never read back from a slot that is not its own.
 */
#ifndef NBD_OVMAP_H
#define NBD_OVMAP_H

#include <stdbool.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define OV_MAP_MAGIC	"TMEMOVM2"
#define OV_MAP_PATH_MAX 3968

struct ov_map_header {
	char magic[8];
	uint64_t device_pages;
	uint64_t slots;
	uint64_t label; /* the sub-pool label this map belongs to */
	uint64_t file_dev, file_ino;
	char path[OV_MAP_PATH_MAX]; /* the overflow file, for tmemctl */
};

struct ov_slot {
	uint64_t page1;	  /* device page + 1; 0: the slot is free */
	uint32_t datasum; /* ov_datasum of its bytes */
	uint32_t check;	  /* ov_slot_check of the above */
};

/* Checksum of a slot's bytes, bound to the export's life and the page. */
static inline uint32_t ov_datasum(uint64_t label, uint64_t page,
				  const void *data)
{
	return (uint32_t)XXH3_64bits_withSeed(
		data, 4096, label ^ (page * 0x9e3779b97f4a7c15ULL));
}

static inline uint32_t ov_slot_check(uint64_t label, uint64_t slot,
				     uint64_t page1, uint32_t datasum)
{
	uint64_t v[4] = {label, slot, page1, datasum};

	return (uint32_t)XXH3_64bits(v, sizeof v);
}

static inline bool ov_slot_sound(uint64_t label, uint64_t slot,
				 const struct ov_slot *r)
{
	return r->check == ov_slot_check(label, slot, r->page1, r->datasum);
}

#endif /* NBD_OVMAP_H */
