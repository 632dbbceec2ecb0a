/* tmem: the code a serving process's requests run, locked in memory.
 *
 * A server locks what it touches (mlockall with MCL_ONFAULT, the segment
 * on fault), so code it has not run yet -- the path a request takes only
 * after a peer died, an error branch, a rarely used part of zstd -- stays
 * an unmapped file page the kernel may drop under memory pressure; the
 * first request that runs it then faults and reads it from disk, on the
 * swap path, when memory is shortest.  Locking the segments of each
 * loaded object the requests run (code, constants, the relocated data the
 * loader made read-only, and data) maps them and keeps every page.
 * They are small (the pool's own code, libzstd, libc and the dynamic
 * loader: about 3 MiB) and mostly shared with every other process on the
 * machine.  The loader is among them although no request should call it
 * (the pool's thread-local variables are initial-exec, the plugin is
 * linked -z now): a program that binds lazily resolves its first call of
 * each library function there.  A writable segment (data and bss) is
 * locked too, whole when it is at most TMEM_CODE_BSS_MAX (libc's is
 * 74 KiB): a rare path's first write to it would otherwise allocate a
 * page.  A larger one (nbdkit's is 192 MiB, most of it never touched)
 * gets its file-backed part only, its data: the bss is left to lock on
 * fault.  mlock makes a private copy of each page of a writable segment
 * not yet written (about 100 KiB a process in all).
 */
#include <config.h>

#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "tmem-code-internal.h"
#include "tmem.h"

/* The largest writable segment locked whole. */
#define TMEM_CODE_BSS_MAX (1024 * 1024)

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

		size_t len = ph->p_memsz;

		/* RELRO (written by the loader, read-only since) is the
		 * start of the writable segment, inside its file part. */
		if (len == 0 || ph->p_type != PT_LOAD)
			continue;
		if ((ph->p_flags & PF_W) && len > TMEM_CODE_BSS_MAX)
			len = ph->p_filesz;
		end = (start + len + page - 1) & ~(page - 1);
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

/* Does this object have calls to bind (a PLT) and no mark to bind them at
 * load?  An object dlopened with RTLD_NOW is bound all the same: a warning
 * too many, never one too few. */
static int object_binds_lazily(struct dl_phdr_info *info, size_t size,
			       void *arg)
{
	bool *lazy = arg, plt = false, now = false;

	(void)size;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const ElfW(Dyn) * d;

		if (ph->p_type != PT_DYNAMIC)
			continue;
		d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		for (; d->d_tag != DT_NULL; d++) {
			if (d->d_tag == DT_JMPREL)
				plt = true;
			else if (d->d_tag == DT_BIND_NOW ||
				 (d->d_tag == DT_FLAGS &&
				  (d->d_un.d_val & DF_BIND_NOW)) ||
				 (d->d_tag == DT_FLAGS_1 &&
				  (d->d_un.d_val & DF_1_NOW)))
				now = true;
		}
	}
	*lazy = plt && !now;
	return *lazy; /* 1 ends the walk */
}

bool tmem_binds_lazily(void)
{
	const char *env = getenv("LD_BIND_NOW");
	bool lazy = false;

	if (env && *env)
		return false;
	dl_iterate_phdr(object_binds_lazily, &lazy);
	return lazy;
}

/* Addresses of constants, not of functions: in a program built without
 * -fPIE, the address of a library function the program calls is its PLT
 * stub in the program, which would lock the program instead.  A string a
 * library returns is in that library's read-only data. */
unsigned tmem_request_code(const void *addr[TMEM_REQUEST_CODE_MAX])
{
	unsigned n = 0;

	addr[n++] = (const void *)tmem_request_code; /* this object */
	addr[n++] = ZSTD_versionString();
	addr[n++] = gnu_get_libc_version();
	/* Before glibc 2.34 the lock functions were in libpthread. */
	addr[n++] = (const void *)pthread_mutex_lock;
	/* The loader's base, its first mapped byte; 0 when the program
	 * has no interpreter (static) or the loader was run as a program. */
	if (getauxval(AT_BASE))
		addr[n++] = (const void *)getauxval(AT_BASE);
	return n;
}

int tmem_lock_request_code(void)
{
	const void *addr[TMEM_REQUEST_CODE_MAX];
	unsigned n = tmem_request_code(addr);
	int r, first = 0;

	for (unsigned i = 0; i < n; i++) {
		r = tmem_lock_code(addr[i]);
		if (r && !first)
			first = r;
	}
	return first;
}
