/* tmem: a serving process's requests neither allocate nor fault.
 *
 * The swap server's put, get and flush must not need memory to make
 * memory: no malloc (counted here by wrapping the allocator), no page
 * fault, minor or major (getrusage of the requesting thread).  A process
 * opened like the server (grower, lock) stores and reads pages until it is
 * warm, then each request of a measured run is counted; then a peer that
 * ran a grower of its own (so that it faulted in chunks the server may be
 * handed) dies holding a lock of the server's sub-pool (crash point 6: it
 * was storing one of the server's pages with dedup off), and the server's
 * requests are counted again, after the page cache has dropped what it may
 * of the program's files.  Last, in a process of its own, a server whose
 * grower is held up before it faults the index's next records in (the
 * test hook, as the kernel's reclaim holds it up, or a guest's one vCPU
 * busy with the request threads) stores more zero pages than the grower
 * keeps faulted in ahead: they wait for it (refused, retried), and none
 * faults; and the same server's puts while another process has freed
 * records it took past the server's mark (they head the free lists).
 * And in processes of their own, servers whose grower cannot fault the
 * next records in (the test hook: madvise fails as without memory or
 * room in /dev/shm, asks to be tried again, or is missing): their marks
 * must not pass what the grower mapped, and puts past them wait
 * (refused, retried) until it maps them.  Each count must be 0.  Before
 * any of it, the code its requests run (the pool's, zstd's, the C
 * library's) must be locked in, every page: a path a request runs for the
 * first time would fault otherwise (and did: 1 to 3 faults in the
 * warm-up's requests).
 *
 * Faults are counted whether or not the segment could be locked (a lock
 * on fault needs RLIMIT_MEMLOCK): locking keeps pages in, it does not map
 * them into the server. */
#include <config.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "test-pool.h"
#include "tmem-internal.h"

extern char **environ;

/* ---- counting allocations of the calling thread --------------------- */

static __thread int counting;
static __thread unsigned long allocs;

/* A sanitizer replaces the allocator (and its shadow memory faults): there
 * the requests run and are checked by it, but nothing is counted. */
#ifndef TMEM_SANITIZED
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);

void *malloc(size_t n)
{
	if (counting)
		allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (counting)
		allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		allocs++;
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
	if (counting)
		allocs++;
	return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
	if (counting)
		allocs++;
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}
#endif

/* ---- counting a run of requests ------------------------------------- */

struct tally {
	unsigned long requests, with_alloc, with_fault, allocs, minflt, majflt;
};

static long faults(long *maj)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*maj = ru.ru_majflt;
	return ru.ru_minflt;
}

enum req { PUT, GET, FLUSH };

static int request(struct tally *ty, struct tmem *t, uint32_t p, enum req op,
		   uint64_t object, uint64_t index, void *page)
{
	long min0, maj0, min1, maj1;
	unsigned long a0;
	int r;

	min0 = faults(&maj0);
	a0 = allocs;
	counting = 1;
	switch (op) {
	case PUT:
		r = tmem_put(t, p, object, index, page);
		break;
	case GET:
		r = tmem_get(t, p, object, index, page);
		break;
	default:
		r = tmem_flush_page(t, p, object, index);
	}
	counting = 0;
	min1 = faults(&maj1);
	ty->requests++;
	ty->allocs += allocs - a0;
	ty->minflt += (unsigned long)(min1 - min0);
	ty->majflt += (unsigned long)(maj1 - maj0);
	ty->with_alloc += allocs != a0;
	ty->with_fault += min1 != min0 || maj1 != maj0;
	return r;
}

/* A put as the server makes it: a refusal for want of ready chunks is
 * retried after a millisecond (the grower refills the reserve). */
static void put_retrying(struct tally *ty, struct tmem *t, uint32_t p,
			 uint64_t object, uint64_t index, void *page)
{
	struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
	int r, tries;

	for (tries = 0; tries < 2000; tries++) {
		r = request(ty, t, p, PUT, object, index, page);
		if (r != -ENOSPC)
			break;
		nanosleep(&ms, NULL);
	}
	CHECK_RC(r, 0);
}

/* The stack below run's frame that the requests may use, faulted in
 * before serving, as the nbd plugin's workers do (request_begin, 16 KiB):
 * a rare path (a request that waits for a dead peer's repair) may go
 * deeper than the warm-up's, and stack pages fault in on first touch. */
static void __attribute__((noinline)) stack_touch(void)
{
	volatile unsigned char pad[16 * 1024];

	for (size_t i = 0; i < sizeof pad; i += 512)
		pad[i] = 0;
	pad[sizeof pad - 1] = 0;
}

/* n puts of new pages, then a get of each, then a flush of half. */
static void run(struct tally *ty, struct tmem *t, uint32_t p, uint64_t object,
		uint64_t n)
{
	unsigned char page[4096], back[4096];
	uint64_t i;

	memset(ty, 0, sizeof *ty);
	stack_touch();
	for (i = 0; i < n; i++) {
		page_text(page, object * 100000 + i);
		put_retrying(ty, t, p, object, i, page);
	}
	for (i = 0; i < n; i++) {
		page_text(page, object * 100000 + i);
		CHECK_RC(request(ty, t, p, GET, object, i, back), 0);
		CHECK(memcmp(page, back, 4096) == 0);
	}
	for (i = 0; i < n; i += 2)
		CHECK_RC(request(ty, t, p, FLUSH, object, i, NULL), 0);
}

static bool report(const char *what, const struct tally *ty)
{
	printf("%s: %lu requests, %lu allocated (%lu allocations), %lu "
	       "faulted (%lu minor, %lu major)\n",
	       what, ty->requests, ty->with_alloc, ty->allocs, ty->with_fault,
	       ty->minflt, ty->majflt);
#ifdef TMEM_SANITIZED
	printf("built with a sanitizer: allocations and faults not checked\n");
	return true;
#else
	return ty->with_alloc == 0 && ty->with_fault == 0;
#endif
}

/* ---- chunks mapped in this process ---------------------------------- */

/* How many of the chunks that hold data or wait in the reserve have a
 * page not mapped in this process (/proc/self/pagemap bit 63, present,
 * clear: a page swapped out counts as not mapped).  A server's put into such a
 * page would fault, and under the lock on fault a page not mapped here is not
 * locked here: it may be swapped out, to this very device. */
static unsigned chunks_unmapped(struct tmem *t, unsigned *held)
{
	uint64_t bump = __atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED);
	uint64_t c, i, e[TMEM_CHUNK_SIZE / 4096];
	unsigned missing = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	CHECK(fd >= 0);
	*held = 0;
	for (c = 1; c < bump; c++) {
		unsigned st = SL_STATE(atomic_load(&seg_chunk(t, c)->sl));
		uintptr_t va = (uintptr_t)seg_chunk_data(t, (uint32_t)c);

		if (st == CHUNK_HOLE || st == CHUNK_PUNCHING ||
		    st == CHUNK_GROWING || st == CHUNK_ORPHAN_HOLE)
			continue;
		(*held)++;
		CHECK(pread(fd, e, sizeof e, (off_t)(va / 4096 * 8)) ==
		      (ssize_t)sizeof e);
		for (i = 0; i < TMEM_CHUNK_SIZE / 4096; i++)
			if (!(e[i] >> 63 & 1)) {
				missing++;
				break;
			}
	}
	close(fd);
	return missing;
}

/* ---- code not yet run ------------------------------------------------ */

/* Drop from the page cache every page of the files this process maps
 * that no process maps (the kernel keeps mapped pages): what memory
 * pressure does to a program's code that has not run yet.  The paths a
 * request takes only when a peer died are such code; a server whose code
 * is not locked in would fault it in from disk then. */
static void evict_mapped_files(void)
{
	char line[4096], last[4096] = "";
	FILE *fp = fopen("/proc/self/maps", "r");
	int fd;

	CHECK(fp != NULL);
	while (fp && fgets(line, sizeof line, fp)) {
		char *path = strchr(line, '/');

		if (!path || strncmp(path, "/dev/shm/", 9) == 0)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, last) == 0)
			continue;
		snprintf(last, sizeof last, "%s", path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	if (fp)
		fclose(fp);
}

/* ---- code locked ------------------------------------------------------ */

/* KiB mapped and KiB resident and locked of the file holding addr, over
 * its readable mappings in this process, and the anonymous mapping right
 * after its writable one: the bss past the file's last page (every object
 * checked here has a writable segment under 1 MiB, locked whole).
 * /proc/self/smaps: a mapping's Rss counts if its VmFlags say "lo";
 * smaps' own Locked is a proportional share, less than the pages for pages
 * other processes map too. */
static void locked_kib(const void *addr, const char **file, unsigned long *size,
		       unsigned long *locked)
{
	char line[4096], want[4096];
	unsigned long v, rss = 0, start, end, data_end = 0;
	bool in = false;
	Dl_info di;
	FILE *fp;

	*size = *locked = 0;
	*file = "?";
	CHECK(dladdr(addr, &di) != 0 && di.dli_fname);
	if (!di.dli_fname || !realpath(di.dli_fname, want))
		return;
	*file = di.dli_fname;
	fp = fopen("/proc/self/smaps", "r");
	CHECK(fp != NULL);
	while (fp && fgets(line, sizeof line, fp)) {
		char *path, *sp = strchr(line, ' ');

		if (sp && sscanf(line, "%lx-%lx", &start, &end) == 2 &&
		    strchr(line, '-') < sp) {
			bool bss = start == data_end && !strchr(line, '/') &&
				   !strchr(line, '[') &&
				   strncmp(sp + 1, "rw-p", 4) == 0;

			path = strchr(line, '/');
			if (path)
				path[strcspn(path, "\n")] = '\0';
			/* code, constants, the data of the writable
			 * segment, and its bss */
			in = bss ||
			     (path && strcmp(path, want) == 0 && sp[1] == 'r');
			data_end = in && !bss && sp[2] == 'w' ? end : 0;
		} else if (in && sscanf(line, "Size: %lu kB", &v) == 1)
			*size += v;
		else if (in && sscanf(line, "Rss: %lu kB", &v) == 1)
			rss = v;
		else if (in && strncmp(line, "VmFlags:", 8) == 0 &&
			 strstr(line, " lo "))
			*locked += rss;
	}
	if (fp)
		fclose(fp);
}

/* A process opened to lock has the code, constants and data its requests
 * run in memory, every page of them: the pool's (here in the test program),
 * zstd's, the C library's, the loader's (tmem_request_code). */
static bool code_locked(void)
{
	const void *code[TMEM_REQUEST_CODE_MAX];
	unsigned n = tmem_request_code(code);
	bool ok = n == TMEM_REQUEST_CODE_MAX; /* the loader is among them */
	int r;

	/* Locked already by the open: again, to learn whether it can be. */
	r = tmem_lock_request_code();
	if (r == -EPERM || r == -ENOMEM || r == -EAGAIN) {
		printf("code: cannot be locked here (%s): not checked\n",
		       strerror(-r));
		return true;
	}
	CHECK_RC(r, 0);
	for (unsigned i = 0; i < n; i++) {
		unsigned long size, locked;
		const char *file;

		locked_kib(code[i], &file, &size, &locked);
		printf("code of %s: %lu KiB mapped, %lu KiB locked\n", file,
		       size, locked);
		ok &= size > 0 && locked == size;
	}
#ifdef TMEM_SANITIZED
	return true; /* mlock is a no-op there */
#else
	return ok;
#endif
}

/* ---- the peer -------------------------------------------------------- */

#ifdef TMEM_TEST_HOOKS
extern int tmem_crash_at; /* the library's (tmem-internal.h) */
#else
static int tmem_crash_at;
#endif

static void peer(const char *name)
{
	struct tmem_options o;
	unsigned char page[4096];
	struct tmem *t;
	uint32_t p, e;
	uint64_t i;

	test_options(&o, name, 0);
	o.create = false;
	o.dedup = false;
	o.grower = true;
	o.put_may_grow = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &e), 0);
	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	/* The cache's churn makes its grower fault chunks in. */
	for (i = 0; i < 4000; i++) {
		page_random(page, 500000 + i);
		tmem_put(t, e, 1, i, page);
	}
	/* One of the server's pages again: dies holding its blob stripe. */
	tmem_crash_at = 6;
	page_text(page, 1 * 100000 + 1);
	tmem_put(t, p, 9, 9, page);
	_exit(0);
}

/* This program again in mode (with arg, or NULL), a new process (not a
 * fork: see main): whether it exited with 0. */
static bool run_self(char *self, char *mode, char *arg)
{
	char *args[] = {self, mode, arg, NULL};
	int status;
	pid_t pid;

	CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) ==
	      0);
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- puts past a stalled grower ------------------------------------- */

/* A server (grower, lock) on a new segment, with sub-pool "swap" (*p),
 * that has taken a chunk (the test hooks read at start are due once puts
 * have taken chunks: a process of its own). */
static struct tmem *server_serving(const char *what, uint32_t *p)
{
	unsigned char page[4096];
	struct tmem_options o;
	struct tally ty;
	struct tmem *t;

	test_options(&o, test_segment_name(what), 64 << 20);
	o.grower = true;
	o.lock = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, p), 0);
	page_random(page, 1);
	memset(&ty, 0, sizeof ty);
	put_retrying(&ty, t, *p, 1, 0, page);
	return t;
}

/* A server whose grower's next pass is held up for stall_ms before it
 * faults records in. */
static struct tmem *server_stalled(const char *what, const char *stall_ms,
				   uint32_t *p)
{
	setenv("TMEM_GROWER_STALL_MS", stall_ms, 1);
	setenv("TMEM_GROWER_STALL_IN", "records", 1);
	return server_serving(what, p);
}

/* Zero pages take an index record each and nothing else: 20,000 of them
 * go through the records the grower faulted in ahead (4,096) in a few
 * milliseconds, while the grower is held up for a second before it faults
 * in more. */
static int records_past_stalled_grower(void)
{
	static unsigned char zero[4096], page[4096];
	struct tally ty;
	struct tmem *t;
	uint32_t p;
	uint64_t i;

	t = server_stalled("nofault-records", "1000", &p);
	memset(&ty, 0, sizeof ty);
	stack_touch();
	for (i = 0; i < 20000; i++)
		put_retrying(&ty, t, p, 2, i, zero);
	for (i = 0; i < 20000; i += 997) {
		CHECK_RC(tmem_get(t, p, 2, i, page), 0);
		CHECK(memcmp(page, zero, sizeof zero) == 0);
	}
	tmem_close(t);
	return report("zero pages past a stalled grower", &ty) ? 0 : 1;
}

/* ---- records the grower could not fault in ------------------------- */

/* Pages of the records below each mark (t->ahead) not mapped in this
 * process (/proc/self/pagemap bit 63): a request takes any record below
 * its mark without a fault, so there must be none. */
static unsigned records_unmapped(struct tmem *t)
{
	unsigned blobs, kind, missing = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t n, pg, end, e;

	CHECK(fd >= 0);
	for (blobs = 0; blobs < 2; blobs++)
		for (kind = 0; kind < 2; kind++) {
			n = atomic_load_explicit(&t->ahead[blobs][kind],
						 memory_order_acquire);
			pg = ((uintptr_t)t->base +
			      seg_record_off(t, blobs, kind, 0)) /
			     4096;
			end = (uintptr_t)t->base +
			      seg_record_off(t, blobs, kind, n);
			for (; pg < (end + 4095) / 4096; pg++) {
				CHECK(pread(fd, &e, sizeof e,
					    (off_t)(pg * 8)) == sizeof e);
				missing += !(e >> 63 & 1);
			}
		}
	close(fd);
	return missing;
}

/* The grower's madvise that faults records in fails (the test hook, as
 * the kernel's does without memory or with /dev/shm full: fail is
 * ERRNO:N, its next N calls).  Zero pages take records until the grower
 * is woken to map more, and it fails: its marks must still not pass what
 * is mapped.  Then zero pages past them are refused (retried) until a
 * later pass maps them, and none faults. */
static int puts_past_failing_populate(const char *fail)
{
	static unsigned char zero[4096], page[4096];
	unsigned fails, tries, missing;
	struct tally ty;
	struct tmem *t;
	uint32_t p;
	uint64_t i;
	bool ok;

	setenv("TMEM_POPULATE_FAIL", fail, 1);
	t = server_serving("nofault-populate", &p);
	fails = __atomic_load_n(&t->populate_fails, __ATOMIC_RELAXED);
	CHECK(fails > 0);
	memset(&ty, 0, sizeof ty);
	stack_touch();
	/* Below the records mapped at start, past the half of them at
	 * which the grower is woken to map more. */
	for (i = 0; i < TMEM_AHEAD_RECORDS * 3 / 4; i++)
		put_retrying(&ty, t, p, 2, i, zero);
	for (tries = 0;
	     tries < 200 &&
	     __atomic_load_n(&t->populate_fails, __ATOMIC_RELAXED) == fails;
	     tries++)
		usleep(10000);
	CHECK(__atomic_load_n(&t->populate_fails, __ATOMIC_RELAXED) < fails);
	/* A mark is stored right after its madvise returns. */
	usleep(20000);
	missing = records_unmapped(t);
	printf("%s: record pages below the marks not mapped: %u\n", fail,
	       missing);
	ok = missing == 0;
	for (; i < 20000; i++)
		put_retrying(&ty, t, p, 2, i, zero);
	for (i = 0; i < 20000; i += 997) {
		CHECK_RC(tmem_get(t, p, 2, i, page), 0);
		CHECK(memcmp(page, zero, sizeof zero) == 0);
	}
	missing = records_unmapped(t);
	fails = __atomic_load_n(&t->populate_fails, __ATOMIC_RELAXED);
	printf("%s: failures left %u, record pages below the marks not "
	       "mapped: %u\n",
	       fail, fails, missing);
	ok &= missing == 0 && fails == 0;
	tmem_close(t);
	ok &= report("zero pages while faulting records in fails", &ty);
	return ok ? 0 : 1;
}

/* ---- records another process freed --------------------------------- */

/* The peer of freed_past_stalled_grower: takes records past the server's
 * mark (zero pages), then gives them back to the free lists. */
static void freer(const char *name)
{
	static unsigned char zero[4096];
	struct tmem *t = test_attach(name);
	uint32_t p;
	uint64_t i;

	CHECK_RC(tmem_pool_find(t, "swap", &p), 0);
	for (i = 0; i < 12000; i++)
		CHECK_RC(tmem_put(t, p, 3, i, zero), 0);
	for (i = 0; i < 12000; i++)
		CHECK_RC(tmem_flush_page(t, p, 3, i), 0);
	tmem_close(t);
	_exit(0);
}

/* Records another process took past this one's mark and freed head the
 * free lists while the grower is held up: a put must not read them (they
 * are not mapped here) before it knows that it may take them. */
static int freed_past_stalled_grower(char *self)
{
	static unsigned char zero[4096], page[4096];
	struct tmem_grower_info gi;
	struct tally ty;
	struct tmem *t;
	uint32_t p;
	int i;

	t = server_stalled("nofault-freed", "1500", &p);
	for (i = 0; i < 2000; i++) {
		CHECK_RC(tmem_grower_info(t, &gi), 0);
		if (strcmp(gi.step, "faulting in records") == 0 &&
		    gi.step_ms >= 10)
			break;
		usleep(1000);
	}
	CHECK(run_self(self, "--freer", test_segment));
	CHECK_RC(tmem_grower_info(t, &gi), 0);
	printf("grower: %s for %llu ms\n", gi.step,
	       (unsigned long long)gi.step_ms);
	memset(&ty, 0, sizeof ty);
	stack_touch();
	for (i = 0; i < 2000; i++)
		put_retrying(&ty, t, p, 2, (uint64_t)i, zero);
	for (i = 0; i < 2000; i += 97) {
		CHECK_RC(tmem_get(t, p, 2, (uint64_t)i, page), 0);
		CHECK(memcmp(page, zero, sizeof zero) == 0);
	}
	tmem_close(t);
	return report("zero pages into records another process freed", &ty) ? 0
									    : 1;
}

int main(int argc, char **argv)
{
	struct tmem_options o;
	struct tally warm, steady, after;
	const char *name;
	struct tmem *t;
	uint32_t p;
	int status;
	bool ok;
	pid_t pid;

#ifndef TMEM_TEST_HOOKS
	fprintf(stderr, "built without test hooks\n");
	return 77;
#endif
	if (argc == 3 && strcmp(argv[1], "--peer") == 0)
		peer(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--records") == 0)
		return records_past_stalled_grower();
	if (argc == 3 && strcmp(argv[1], "--freer") == 0)
		freer(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--freed") == 0)
		return freed_past_stalled_grower(argv[0]);
	if (argc == 3 && strcmp(argv[1], "--populate-fail") == 0)
		return puts_past_failing_populate(argv[2]);
	name = test_segment_name("nofault");
	test_options(&o, name, 64 << 20);
	o.grower = true;
	o.lock = true;
	o.dedup = false;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	ok = code_locked();

	run(&warm, t, p, 1, 3000);
	report("warm-up", &warm);
	run(&steady, t, p, 2, 2000);
	ok &= report("serving", &steady);

	/* The peer is a new program, not a fork: after fork every private
	 * page of this process is copy-on-write, and its first write here
	 * would fault -- the test's doing, not the pool's (a server does
	 * not fork while it serves). */
	{
		char *args[] = {argv[0], "--peer", (char *)name, NULL};

		CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args,
				  environ) == 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The chunks the peer faulted in: the server's grower maps (and so
	 * locks) them within a period or two; on a loaded machine its repair
	 * of the dead peer may come first, so give it 10 s. */
	{
		unsigned held, missing = 0, tries;

		for (tries = 0; tries < 200; tries++) {
			struct timespec ms50 = {0, 50 * 1000000L};

			missing = chunks_unmapped(t, &held);
			if (missing == 0)
				break;
			nanosleep(&ms50, NULL);
		}
		printf("chunks held or in reserve: %u, not mapped in the "
		       "server after %u ms: %u\n",
		       held, tries * 50, missing);
		ok &= missing == 0;
	}
	evict_mapped_files();
	run(&after, t, p, 1, 3000);
	ok &= report("serving after a peer died", &after);
	tmem_close(t);
	ok &= run_self(argv[0], "--records", NULL);
	ok &= run_self(argv[0], "--freed", NULL);
	ok &= run_self(argv[0], "--populate-fail", "ENOMEM:50");
	ok &= run_self(argv[0], "--populate-fail", "EFAULT:1");
	ok &= run_self(argv[0], "--populate-fail", "EAGAIN:2");
	ok &= run_self(argv[0], "--populate-fail", "EINVAL:1");
	return ok ? 0 : 1;
}
