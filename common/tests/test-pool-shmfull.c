/* tmem: a full /dev/shm refuses, it does not crash.
 *
 * The segment is a file on /dev/shm, a tmpfs: a write to one of its pages
 * that the file does not hold yet, with the tmpfs full, gets SIGBUS, the
 * end of the swap server.  So every page a request, the grower or an open
 * writes must be in the file before it is written, or faulted in first
 * with the answer looked at.  Each case runs in a process of its own with
 * a small tmpfs of its own on /dev/shm (a user and mount namespace: the
 * test is skipped where they cannot be made), fills it with another file
 * and goes on; a case passes if its process is not killed by a signal and
 * what it was refused was refused with ENOSPC:
 *
 * - open: a server opened with only a little room left (several amounts,
 *   so that the room runs out in each part of what the open writes) either
 *   opens or fails with ENOSPC;
 * - sync: a process without a grower, whose puts take chunks themselves,
 *   takes the chunks the chunk table's first page describes, then
 *   /dev/shm is filled and puts go on: the next chunks' records are on
 *   the table's later pages (a read of a page the file lacks is SIGBUS
 *   on a full tmpfs too, so the whole table is in the file from the
 *   start);
 * - grower: the same with a server's grower taking the chunks, which
 *   says once, not on every pass, that it cannot fault chunks in;
 * - records: a process without a grower stores zero pages (index entries
 *   only, no chunk) once /dev/shm is full: its puts take entries from
 *   pages of the index the file does not hold yet;
 * - pool: once /dev/shm is full, a second sub-pool is made and written:
 *   its counters are on pages not yet touched.
 *
 * After a case's refusals, room is given back and its puts must succeed.
 * Before the fixed records were in the file from the start, the open
 * with 1 MiB free and the sub-pool's case died of SIGBUS (and the open
 * with 1.5 MiB free in a put after it). */
#include <config.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include "test-pool.h"
#include "tmem-internal.h"

#define SHM_SIZE  "24m"
#define POOL_SIZE (64 << 20)
#define FILLER	  "/dev/shm/tmem-test-filler"

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd == -1)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* Become root of a user namespace with a mount namespace of our own (as
 * unshare -rm does).  false: this system does not let us. */
static bool enter_namespace(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1) {
		fprintf(stderr, "unshare: %s\n", strerror(errno));
		return false;
	}
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
	if (!write_file("/proc/self/uid_map", map))
		return false;
	snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
	if (!write_file("/proc/self/gid_map", map))
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		fprintf(stderr, "making mounts private: %s\n", strerror(errno));
		return false;
	}
	return true;
}

/* A case's own tmpfs on /dev/shm, in a mount namespace of its own. */
static void small_shm(void)
{
	CHECK(unshare(CLONE_NEWNS) == 0);
	CHECK(mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=" SHM_SIZE) == 0);
}

static int filler = -1;

/* Fill /dev/shm but for leave bytes.  The filler's size. */
static off_t fill_shm(off_t leave)
{
	off_t off = 0;

	filler = open(FILLER, O_CREAT | O_RDWR, 0600);
	CHECK(filler >= 0);
	while (posix_fallocate(filler, off, 4096) == 0)
		off += 4096;
	if (leave)
		CHECK(ftruncate(filler, off > leave ? off - leave : 0) == 0);
	return off;
}

static void free_shm(void)
{
	CHECK(unlink(FILLER) == 0);
	close(filler);
}

/* Put page (seed i) under key i, waiting a little while it is refused
 * (the grower may be mapping records).  0 or the last -errno. */
static int put_patient(struct tmem *t, uint32_t p, uint64_t i, unsigned tries)
{
	struct timespec ms = {0, 1000000};
	unsigned char page[4096];
	unsigned k;
	int r;

	page_random(page, i);
	for (k = 0;; k++) {
		r = tmem_put(t, p, 1, i, page);
		if (r != -ENOSPC || k == tries)
			return r;
		nanosleep(&ms, NULL);
	}
}

/* Puts from key *i on while they are stored; the first refusal must be
 * ENOSPC. */
static void put_until_refused(struct tmem *t, uint32_t p, uint64_t *i,
			      uint64_t limit)
{
	int r = 0;

	for (; *i < limit; (*i)++) {
		r = put_patient(t, p, *i, 20);
		if (r)
			break;
	}
	CHECK(r == 0 || r == -ENOSPC);
}

/* With room again, puts are stored and read back. */
static void put_after_room(struct tmem *t, uint32_t p, uint64_t from)
{
	unsigned char page[4096], got[4096];
	uint64_t i;

	for (i = from; i < from + 64; i++)
		CHECK_RC(put_patient(t, p, i, 3000), 0);
	for (i = from; i < from + 64; i++) {
		page_random(page, i);
		CHECK_RC(tmem_get(t, p, 1, i, got), 0);
		CHECK(memcmp(page, got, sizeof page) == 0);
	}
}

static void case_open(off_t leave)
{
	struct tmem_options o;
	struct tmem *t;
	uint64_t i = 0;
	uint32_t p;
	int r;

	small_shm();
	fill_shm(leave);
	test_options(&o, test_segment_name("shmfull"), POOL_SIZE);
	o.grower = true;
	r = tmem_open(&o, &t);
	printf("open with %lld KiB free: %s\n", (long long)leave >> 10,
	       r ? tmem_strerror(r) : "opened");
	CHECK(r == 0 || r == -ENOSPC);
	if (r)
		return;
	CHECK_RC(tmem_start(t), 0);
	r = tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p);
	CHECK(r == 0 || r == -ENOSPC);
	if (r == 0)
		put_until_refused(t, p, &i, 4096);
	free_shm();
	if (r == 0)
		put_after_room(t, p, i + 1);
	tmem_close(t);
}

static unsigned chunk_warnings;

static void count_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (strstr(msg, "cannot fault chunk"))
		chunk_warnings++;
	test_log(opaque, level, msg);
}

/* Puts of a process with a grower (or without: its puts take chunks
 * themselves) until chunks up to the last on the chunk table's first page
 * are taken but the next, then /dev/shm is full: puts go on until
 * refused. */
static void case_table(bool grower)
{
	uint32_t per_page = 4096 / sizeof(struct tmem_chunk), p;
	struct tmem_options o;
	struct tmem *t;
	uint64_t i = 0;

	small_shm();
	test_options(&o, test_segment_name("shmfull"), POOL_SIZE);
	o.grower = grower;
	o.log = count_log;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	/* Stop a few chunks short: the grower keeps a reserve ahead. */
	while (__atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED) +
		       (grower ? 24 : 2) <
	       per_page)
		CHECK_RC(put_patient(t, p, i++, 3000), 0);
	fill_shm(0);
	printf("%s: chunks to %u taken, /dev/shm full\n",
	       grower ? "grower" : "sync",
	       __atomic_load_n(&t->hdr->hole_bump, __ATOMIC_RELAXED));
	put_until_refused(t, p, &i, i + 4096);
	printf("%s: %llu pages stored, then refused\n",
	       grower ? "grower" : "sync", (unsigned long long)i);
	if (grower) {
		struct timespec st = {0, 500000000};

		/* Ten grower periods at least, each failing again. */
		nanosleep(&st, NULL);
		printf("grower: said %u times that it cannot fault chunks in\n",
		       chunk_warnings);
		CHECK(chunk_warnings == 1);
	}
	free_shm();
	put_after_room(t, p, i + 1);
	tmem_close(t);
}

static void case_records(void)
{
	unsigned char zero[4096] = {0};
	struct tmem_options o;
	struct tmem *t;
	uint64_t i;
	uint32_t p;
	int r = 0;

	small_shm();
	test_options(&o, test_segment_name("shmfull"), POOL_SIZE);
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(tmem_put(t, p, 2, 0, zero), 0);
	fill_shm(0);
	for (i = 1; i < 20000 && !r; i++)
		r = tmem_put(t, p, 2, i, zero);
	printf("records: %llu zero pages stored with /dev/shm full, then "
	       "%s\n",
	       (unsigned long long)i - 1 - (r != 0),
	       r ? tmem_strerror(r) : "no refusal");
	CHECK(r == 0 || r == -ENOSPC);
	free_shm();
	for (; i < 20000; i++)
		CHECK_RC(tmem_put(t, p, 2, i, zero), 0);
	tmem_close(t);
}

static void case_pool(void)
{
	struct tmem_options o;
	struct tmem *t;
	uint32_t p, q;
	uint64_t i = 0;
	int r;

	small_shm();
	test_options(&o, test_segment_name("shmfull"), POOL_SIZE);
	o.grower = true;
	CHECK_RC(tmem_open(&o, &t), 0);
	CHECK_RC(tmem_start(t), 0);
	CHECK_RC(tmem_pool_open(t, "swap", TMEM_PERSISTENT, 0, 0, &p), 0);
	CHECK_RC(put_patient(t, p, i++, 3000), 0);
	fill_shm(0);
	r = tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &q);
	printf("pool: a sub-pool made with /dev/shm full: %s\n",
	       r ? tmem_strerror(r) : "made");
	CHECK(r == 0 || r == -ENOSPC);
	if (r == 0)
		put_until_refused(t, q, &i, 4096);
	free_shm();
	if (r)
		CHECK_RC(tmem_pool_open(t, "cache", TMEM_EPHEMERAL, 0, 0, &q),
			 0);
	put_after_room(t, q, i + 1);
	tmem_close(t);
}

/* Run a case in a process of its own: it passes if it exits 0. */
static bool run(const char *what, void (*fn)(long), long arg)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		setvbuf(stdout, NULL, _IONBF, 0);
		fn(arg);
		exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status)) {
		printf("%s: FAIL: killed by %s\n", what,
		       strsignal(WTERMSIG(status)));
		return false;
	}
	if (WEXITSTATUS(status)) {
		printf("%s: FAIL: exit %d\n", what, WEXITSTATUS(status));
		return false;
	}
	return true;
}

static void run_open(long leave)
{
	case_open((off_t)leave);
}

static void run_table(long grower)
{
	case_table(grower != 0);
}

static void run_records(long unused)
{
	(void)unused;
	case_records();
}

static void run_pool(long unused)
{
	(void)unused;
	case_pool();
}

int main(void)
{
	static const long leave_kib[] = {0,   64,   256,  512,
					 768, 1024, 1536, 4096};
	bool ok = true;
	size_t k;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!enter_namespace()) {
		printf("no user and mount namespace here: skipped\n");
		return 77;
	}
	for (k = 0; k < sizeof leave_kib / sizeof leave_kib[0]; k++)
		ok &= run("open", run_open, leave_kib[k] << 10);
	ok &= run("sync", run_table, 0);
	ok &= run("grower", run_table, 1);
	ok &= run("records", run_records, 0);
	ok &= run("pool", run_pool, 0);
	return ok ? 0 : 1;
}
