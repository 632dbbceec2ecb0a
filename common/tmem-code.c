/* tmem: the code a serving process's requests run, locked in memory.
 *
 * A server locks what it touches (mlockall with MCL_ONFAULT, the segment
 * on fault), so code it has not run yet -- the path a request takes only
 * after a peer died, an error branch, a rarely used part of zstd -- stays
 * an unmapped file page the kernel may drop under memory pressure; the
 * first request that runs it then faults and reads it from disk, on the
 * swap path, when memory is shortest.  Locking the read-only segments
 * of each loaded object the requests run (code, constants, and the
 * relocated data the loader made read-only) maps them and keeps every page.
 * They are small (the pool's own code, libzstd, libc: about 3 MiB) and
 * mostly shared with every other process on the machine.  Writable
 * segments are left to lock on fault: their data is written when the
 * object is loaded, and their bss can be large (nbdkit's is 192 MiB, most
 * of it never touched).
 */
#include <config.h>

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "tmem-code-internal.h"
#include "tmem.h"

struct code_walk {
	uintptr_t addr; /* an address inside the object, 0: the program */
	int found;	/* the object was seen */
	int err;	/* the first mlock error, as -errno */
};

static bool holds(const struct dl_phdr_info *info, uintptr_t addr)
{
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && addr >= start &&
		    addr - start < ph->p_memsz)
			return true;
	}
	return false;
}

static int lock_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct code_walk *w = arg;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)size;
	/* dl_iterate_phdr visits the program first; 1 ends the walk. */
	if (w->addr && !holds(info, w->addr))
		return 0;
	w->found = 1;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr, end;

		/* RELRO: written by the loader, read-only since. */
		if (ph->p_memsz == 0 ||
		    !((ph->p_type == PT_LOAD && !(ph->p_flags & PF_W)) ||
		      ph->p_type == PT_GNU_RELRO))
			continue;
		end = (start + ph->p_memsz + page - 1) & ~(page - 1);
		start &= ~(page - 1);
		if (mlock((void *)start, end - start) == -1 && !w->err)
			w->err = -errno;
	}
	return 1;
}

int tmem_lock_code(const void *addr)
{
	struct code_walk w = {.addr = (uintptr_t)addr};

	dl_iterate_phdr(lock_object, &w);
	if (!w.found)
		return -ENOENT;
	return w.err;
}

const void *const tmem_request_code[] = {
	(const void *)tmem_put,
	(const void *)ZSTD_compressCCtx,
	(const void *)pthread_mutex_lock,
	(const void *)memcpy,
};
const unsigned tmem_request_code_count =
	sizeof tmem_request_code / sizeof tmem_request_code[0];

int tmem_lock_request_code(void)
{
	int r, first = 0;

	for (unsigned i = 0; i < tmem_request_code_count; i++) {
		r = tmem_lock_code(tmem_request_code[i]);
		if (r && !first)
			first = r;
	}
	return first;
}
