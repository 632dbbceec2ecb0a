/* tmem: tmem-segment.c's functions for the other pool files: logging, geometry
 * and process slots. */
#ifndef TMEM_SEGMENT_INTERNAL_H
#define TMEM_SEGMENT_INTERNAL_H

#include "tmem-handle.h"

void tmem_log(struct tmem *t, enum tmem_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tmem_geometry_compute(uint64_t pool_size, struct tmem_geometry *g);
bool tmem_slot_alive(struct tmem *t, unsigned slot);

#endif /* TMEM_SEGMENT_INTERNAL_H */
