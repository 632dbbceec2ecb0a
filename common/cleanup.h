/* tmem: scope-bound cleanup for locals and locks, as nbdkit does it.
 *
 * CLEANUP_FREE frees a heap pointer when it goes out of scope;
 * CLEANUP_CLOSE closes a file descriptor (-1 is ignored).  A variable can
 * be released early by setting it to NULL / -1, which is how a function
 * hands ownership to its caller after success.
 */
#ifndef TMEM_CLEANUP_H
#define TMEM_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free(void *ptr)
{
	free(*(void **)ptr);
}
#define CLEANUP_FREE __attribute__((cleanup(cleanup_free)))

static inline void cleanup_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define CLEANUP_CLOSE __attribute__((cleanup(cleanup_close)))

#endif /* TMEM_CLEANUP_H */
