/* tmem: every private header of the pool at once, for tests and tools that
 * look inside a segment.  The pool's own files include what they use:
 *   tmem-layout.h            the shared segment's records and their locks
 *   tmem-handle.h            one process's handle, offsets to addresses
 *   tmem-MODULE-internal.h   what tmem-MODULE.c offers the other files
 */
#ifndef TMEM_INTERNAL_H
#define TMEM_INTERNAL_H

#include "tmem-layout.h"
#include "tmem-handle.h"
#include "tmem-alloc-internal.h"
#include "tmem-blob-internal.h"
#include "tmem-check-internal.h"
#include "tmem-code-internal.h"
#include "tmem-codec-internal.h"
#include "tmem-compact-internal.h"
#include "tmem-dict-internal.h"
#include "tmem-grower-internal.h"
#include "tmem-index-internal.h"
#include "tmem-lock-internal.h"
#include "tmem-segment-internal.h"
#include "tmem-stats-internal.h"

#endif /* TMEM_INTERNAL_H */
