/* tmem: tmem-code.c's function for the other pool files: locking the code
 * the requests run. */
#ifndef TMEM_CODE_INTERNAL_H
#define TMEM_CODE_INTERNAL_H

#define TMEM_REQUEST_CODE_MAX 5

/* Fill addr with an address inside each loaded object a request runs, or
 * could run: the pool's own code, zstd's, the C library's (twice: its
 * constants and its mutex lock, which may name one object) and the
 * dynamic loader's when the program has one.  Returns how many. */
unsigned tmem_request_code(const void *addr[TMEM_REQUEST_CODE_MAX]);

/* Lock the code, constants and data of each loaded object a request runs
 * (tmem_lock_code on each of tmem_request_code).  0, or the first error as
 * -errno (the others are still locked). */
int tmem_lock_request_code(void);

#endif /* TMEM_CODE_INTERNAL_H */
