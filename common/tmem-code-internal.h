/* tmem: tmem-code.c's function for the other pool files: locking the code
 * the requests run. */
#ifndef TMEM_CODE_INTERNAL_H
#define TMEM_CODE_INTERNAL_H

/* An address inside each loaded object a request runs: the pool's own
 * code, zstd's, and the C library's (locks, memcpy). */
extern const void *const tmem_request_code[];
extern const unsigned tmem_request_code_count;

/* Lock the code and constants of each loaded object a request runs: the pool's
 * own, zstd's and the C library's (tmem_lock_code on each of
 * tmem_request_code).  0, or the first error as -errno (the others are still
 * locked). */
int tmem_lock_request_code(void);

#endif /* TMEM_CODE_INTERNAL_H */
