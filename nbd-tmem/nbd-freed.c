/* nbd-tmem: the kernel's swap slot free notice, heard without NBD.
 *
 * NBD has no message for "this swap slot is free": the kernel tells zram
 * (swap_slot_free_notify) and no other device, so the pool keeps a page
 * for every slot ever written.  When the server runs on the machine that
 * swaps to it, it can hear the kernel itself: a kprobe on
 * swap_range_free (nbd-freed.bpf.c, loaded here with libbpf) reports each
 * slot the kernel frees on the swap area that is the device swap-device=
 * names, with the time it was freed, and this thread drops those pages
 * from the pool — what zram does with its notice.
 *
 * Why no live page is dropped:
 * - The kernel frees a slot under the swap device's lock, before any
 *   allocation can hand it out again; so a write of new data to that slot
 *   reaches the server after the free.  nbd-pages.c stamps each page with
 *   the time of its last write, under the page's lock; a free drops the
 *   page only if it was last written before the free (nt_pages_freed,
 *   under the same lock).  Stamps are in units of 2^20 ns, so a write in
 *   the same unit as the free keeps its page (stale, as without this).
 * - Events are only believed once the device is shown to be this
 *   server's: page 0 read through the kernel's device (its swap header,
 *   with mkswap's random UUID) is the page 0 this server holds.  A new
 *   connection asks again; until then a page stays where it is.
 * - A burst of frees can outrun this thread (a process with hundreds of
 *   megabytes swapped out exits in a moment).  A free the ring has no room
 *   for goes to the spill table, one stamp a device page in the kernel's
 *   memory (4 bytes a page: 1 MiB a GiB of device, at most
 *   NT_FREED_SPILL_MAX pages), mapped here; the thread sweeps it when the
 *   probe's spill count moves, and a free's time is compared as above.
 *   A sweep believes the same frees as the ring's reader (the device
 *   confirmed, the free after the last connection's open or close), and
 *   empties the table whether or not it believes them.  Only a free
 *   beyond the table (a device over 64 GiB) is lost, and its page stays
 *   (stale, as without the notice).
 * - Only a swap area that is the whole block device counts (the probe
 *   checks its file's inode): a swap file on a file system on the device
 *   has offsets of its own.
 *
 * The thread is not on the swap path: a request waits for it at most for
 * one page's drop under one stripe lock, as for a trim.  Everything it
 * needs is set up before the process locks its memory (libbpf reads the
 * kernel's BTF then, and gives the memory back).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"

/* The device number of path, a block device; 0 and a message if not. */
static dev_t block_device(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		nbdkit_error("swap-device=%s: %m (load the nbd module first: "
			     "modprobe nbd)",
			     path);
		return 0;
	}
	if (!S_ISBLK(st.st_mode)) {
		nbdkit_error("swap-device=%s: not a block device", path);
		return 0;
	}
	if (strlen(path) >= 256) {
		nbdkit_error("swap-device=%s: name too long", path);
		return 0;
	}
	return st.st_rdev;
}

int nt_freed_check(const char *path)
{
	return block_device(path) ? 0 : -ENODEV;
}

#ifdef HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "nbd-freed.h"
#include "nbd-freed-bpf.h" /* nt_freed_bpf_obj[], built from .bpf.c */

/* How long the thread waits for events at a time: also how long stop
 * may wait for it. */
#define POLL_MS 100
/* How often an unconfirmed device is looked at again while frees come. */
#define CONFIRM_EVERY_MS 1000
/* The most pages the spill table covers (its kernel memory: 64 MiB). */
#define NT_FREED_SPILL_MAX (UINT64_C(16) << 20)
/* The ring's size can be set by TMEM_FREED_RING_BYTES (tests: a small
 * ring spills). */
#define RING_ENV "TMEM_FREED_RING_BYTES"

_Static_assert(NT_FREED_STAMP_SHIFT == NT_STAMP_SHIFT,
	       "the probe stamps frees in the server's units");

static struct {
	bool on;
	struct nt_device *dev;
	char path[256];
	struct bpf_object *obj;
	struct bpf_link *link;
	struct ring_buffer *rb;
	int counts_fd;
	/* The spill table, mapped: the stamp of page p at spill[p]
	 * (struct nt_freed_pair), spill_pages long. */
	_Atomic uint32_t *spill;
	size_t spill_pages, spill_len;
	uint64_t spill_seen; /* the spill count at the last sweep's start */
	pthread_t thread;
	atomic_bool stop;
	/* Bumped by each connection's open and close; the device is
	 * confirmed while confirmed_gen == gen (see above).  Notices older
	 * than epoch_ns (the last bump) are not believed either. */
	_Atomic unsigned gen, confirmed_gen;
	_Atomic uint64_t epoch_ns;
	_Atomic uint64_t last_try_ms; /* 0: look at the next notice */
	unsigned char *page[2];	      /* two aligned pages, the thread's own */
	uint64_t dropped, kept, failed, ignored, outside, swept;
} fr = {.counts_fd = -1, .gen = 1};

/* libbpf's messages go to the debug log (its warnings on a kernel
 * without BTF or kprobes are many lines; the one line that matters is
 * ours). */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	char msg[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	nt_log(true, "libbpf: %s", msg);
	return 0;
}

/* Whether path, read through the kernel, starts with the swap header
 * this server holds as its page 0. */
static bool device_is_ours(void)
{
	static const char magic[] = "SWAPSPACE2";
	ssize_t n;
	int fd, r;

	fd = open(fr.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pread(fd, fr.page[0], TMEM_PAGE_SIZE, 0);
	close(fd);
	if (n != TMEM_PAGE_SIZE || atomic_load(&fr.stop))
		return false;
	if (memcmp(fr.page[0] + TMEM_PAGE_SIZE - 10, magic, 10) != 0)
		return false;
	r = nt_pages_read(fr.page[1], TMEM_PAGE_SIZE, 0);
	return r == 0 && memcmp(fr.page[0], fr.page[1], TMEM_PAGE_SIZE) == 0;
}

/* Whether notices are believed now: the device was confirmed since the
 * last connection opened or closed (looked at again at most once a
 * CONFIRM_EVERY_MS while notices come). */
static bool confirmed(void)
{
	unsigned g = atomic_load(&fr.gen);
	uint64_t t;

	if (atomic_load(&fr.confirmed_gen) == g)
		return true;
	t = nt_now_ns() / 1000000;
	if (t - atomic_load(&fr.last_try_ms) < CONFIRM_EVERY_MS)
		return false;
	atomic_store(&fr.last_try_ms, t);
	if (!device_is_ours() || atomic_load(&fr.stop))
		return false;
	/* A connection that opened or closed during the read made g old:
	 * then the device is not confirmed for the new generation. */
	atomic_store(&fr.confirmed_gen, g);
	nt_log(true,
	       "%s is this server's swap device: dropping the pages of the "
	       "slots the kernel frees",
	       fr.path);
	return atomic_load(&fr.gen) == g;
}

/* A believed free of page p at stamp: drop the page unless written since,
 * and count which (or that the drop failed: the page stays). */
static void freed_page(uint64_t p, uint32_t stamp)
{
	int r = nt_pages_freed(p, stamp);

	if (r == 1)
		fr.dropped++;
	else if (r == 0)
		fr.kept++;
	else
		fr.failed++;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct nt_freed_event *e = data;
	uint64_t p, end;
	uint32_t stamp;

	(void)ctx;
	if (atomic_load(&fr.stop))
		return -ECANCELED; /* ring_buffer__poll stops at once */
	if (size < sizeof *e)
		return 0;
	if (!confirmed() || atomic_load(&fr.stop) ||
	    e->ns < atomic_load(&fr.epoch_ns)) {
		fr.ignored += e->nr;
		return 0;
	}
	stamp = (uint32_t)(e->ns >> NT_STAMP_SHIFT);
	end = e->offset + e->nr;
	for (p = e->offset; p < end; p++) {
		if (p >= fr.dev->pages) {
			fr.outside++;
			continue;
		}
		freed_page(p, stamp);
	}
	return 0;
}

/* A spilled stamp older than this (stamp units: about 13 days) is not
 * believed: 32 bits that old could pass for newer than the epoch. */
#define SPILL_MAX_AGE (UINT32_C(1) << 30)

/* Page p's slot was freed at stamp (a spilled free); what on_event does
 * for a notice.  believe: the device was confirmed at the sweep's start,
 * and no connection opened or closed since.  The stamp is taken back to
 * 64 bits against now (read after the stamp was taken out): one from
 * before the epoch (in its unit or earlier), older than SPILL_MAX_AGE, or
 * later than now is not believed, and its page stays. */
static void spilled_free(uint64_t p, uint32_t stamp, bool believe)
{
	uint64_t now = nt_now_ns() >> NT_STAMP_SHIFT;
	uint64_t epoch = atomic_load(&fr.epoch_ns) >> NT_STAMP_SHIFT;
	uint32_t age = (uint32_t)now - stamp;

	if (!believe || age >= SPILL_MAX_AGE || age > now || now - age <= epoch)
		fr.ignored++;
	else
		freed_page(p, stamp);
}

/* The probe's count of frees spilled (0 if it cannot be read). */
static uint64_t spill_count(void)
{
	__u32 key = NT_FREED_SPILLED;
	__u64 n = 0;

	if (bpf_map_lookup_elem(fr.counts_fd, &key, &n) < 0)
		return 0;
	/* The probe counts after its stores: read them after the count. */
	atomic_thread_fence(memory_order_acquire);
	return n;
}

/* Takes every stamp out of the spill table and acts on it, when the
 * probe's count moved: the count is read first, so a free spilled during
 * the sweep moves it again and brings another.  A device not confirmed
 * empties the table all the same, believing nothing (as on_event does),
 * so that no stamp waits in it for a later connection. */
static void sweep(void)
{
	uint64_t seen = spill_count();
	uint32_t stamp;
	unsigned g;
	bool believe;

	if (seen == fr.spill_seen)
		return;
	fr.spill_seen = seen;
	g = atomic_load(&fr.gen);
	believe = confirmed();
	for (size_t p = 0; p < fr.spill_pages; p++) {
		if ((p & 4095) == 0 && atomic_load(&fr.stop))
			return;
		if (atomic_load_explicit(&fr.spill[p], memory_order_relaxed) ==
		    0)
			continue;
		stamp = atomic_exchange(&fr.spill[p], 0);
		if (stamp == 0)
			continue;
		fr.swept++;
		if (believe && atomic_load(&fr.gen) != g)
			believe = false; /* a connection opened or closed */
		spilled_free(p, stamp, believe);
	}
}

static void *freed_main(void *arg)
{
	uint64_t swept_ms = 0, now_ms;
	int r;

	(void)arg;
	/* The thread's stack, touched (and so locked) before it takes a
	 * stripe lock: a fault there under memory pressure would hold up
	 * every request queued on the stripe. */
	nt_stack_touch();
	while (!atomic_load(&fr.stop)) {
		r = ring_buffer__poll(fr.rb, POLL_MS);
		if (r < 0 && r != -EINTR && r != -ECANCELED) {
			nt_log(false,
			       "swap-device=%s: reading the kernel's free "
			       "notices: %s (slots freed from now on keep "
			       "their pages)",
			       fr.path, strerror(-r));
			break;
		}
		/* After the ring is drained, what did not fit in it: when the
		 * ring is idle, or at most every POLL_MS while it is busy (a
		 * sweep reads the whole table). */
		now_ms = nt_now_ns() / 1000000;
		if (fr.spill && (r == 0 || now_ms - swept_ms >= POLL_MS)) {
			swept_ms = now_ms;
			sweep();
		}
	}
	return NULL;
}

/* The initial time namespace's inode number (the kernel's
 * PROC_TIME_INIT_INO). */
#define TIME_NS_INIT_INO 0xEFFFFFFAu

/* Whether this process's CLOCK_MONOTONIC is the kernel's (the probe's
 * bpf_ktime_get_ns): not so in a time namespace other than the initial
 * one, which may offset it, and then the stamps of writes and frees could
 * not be compared. */
static bool clock_is_kernels(void)
{
	struct stat st;

	if (stat("/proc/self/ns/time", &st) < 0)
		return errno == ENOENT; /* a kernel without time namespaces */
	return st.st_ino == TIME_NS_INIT_INO;
}

static void unload(void)
{
	ring_buffer__free(fr.rb);
	fr.rb = NULL;
	bpf_link__destroy(fr.link);
	fr.link = NULL;
	if (fr.spill)
		munmap((void *)fr.spill, fr.spill_len);
	fr.spill = NULL;
	bpf_object__close(fr.obj);
	fr.obj = NULL;
	fr.counts_fd = -1;
}

/* The spill table's elements: a pair of stamps each. */
static size_t spill_pairs(void)
{
	return (fr.spill_pages + 1) / 2;
}

/* Whether the mapped spill table (fd's) puts page p's stamp where the
 * probe writes it (pair p / 2, half p % 2): written through the kernel at
 * both ends, read here, and cleared.  0, or -EPROTO. */
static int spill_layout_check(int fd)
{
	struct nt_freed_pair v[2] = {{{0xa1, 0xb2}}, {{0xc3, 0xd4}}},
			     zero = {{0}};
	__u32 key[2] = {0, (__u32)(spill_pairs() - 1)};
	size_t at[2] = {0, 2 * (size_t)key[1]};
	bool ok = true;

	for (int i = 0; i < 2; i++) {
		if (bpf_map_update_elem(fd, &key[i], &v[i], BPF_ANY) < 0)
			return -errno;
		ok = ok && fr.spill[at[i]] == v[i].stamp[0] &&
		     fr.spill[at[i] + 1] == v[i].stamp[1];
	}
	for (int i = 0; i < 2; i++) {
		if (bpf_map_update_elem(fd, &key[i], &zero, BPF_ANY) < 0)
			return -errno;
		ok = ok && fr.spill[at[i]] == 0 && fr.spill[at[i] + 1] == 0;
	}
	return ok ? 0 : -EPROTO;
}

/* The ring's size: RING_ENV's if set (a power of two, at least a page, at
 * most 1 GiB), else NT_FREED_RING_BYTES; 0 if RING_ENV is not such. */
static __u32 ring_bytes(void)
{
	const char *v = getenv(RING_ENV);
	unsigned long long n;
	char *end;

	if (v == NULL || *v == '\0')
		return NT_FREED_RING_BYTES;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || *v < '0' || *v > '9' || n < TMEM_PAGE_SIZE ||
	    n > (1ull << 30) || (n & (n - 1)))
		return 0;
	return (__u32)n;
}

int nt_freed_load(const char *path, uint64_t pages)
{
	struct bpf_program *prog;
	struct bpf_map *map, *spill;
	const char *step = "checking the system";
	__u32 key = 0, kdev, ring;
	void *m;
	dev_t d;
	int r, fd;

	d = block_device(path);
	if (d == 0)
		return -ENODEV;
	strcpy(fr.path, path);
	/* Slot offsets are in the kernel's pages, the pool's in its own. */
	if (sysconf(_SC_PAGESIZE) != TMEM_PAGE_SIZE) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	if (!clock_is_kernels()) {
		r = -EXDEV;
		goto fail;
	}
	step = RING_ENV " (a power of two from 4096 to 1073741824)";
	ring = ring_bytes();
	if (ring == 0) {
		r = -EINVAL;
		goto fail;
	}
	libbpf_set_print(libbpf_print);
	step = "loading the BPF program";
	fr.obj = bpf_object__open_mem(nt_freed_bpf_obj, sizeof nt_freed_bpf_obj,
				      NULL);
	if (fr.obj == NULL) {
		r = -errno;
		goto fail;
	}
	fr.spill_pages =
		pages < NT_FREED_SPILL_MAX ? pages : NT_FREED_SPILL_MAX;
	spill = bpf_object__find_map_by_name(fr.obj, "spill");
	r = spill ? bpf_map__set_max_entries(spill, (__u32)spill_pairs())
		  : -ENOENT;
	if (r == 0) {
		map = bpf_object__find_map_by_name(fr.obj, "events");
		r = map ? bpf_map__set_max_entries(map, ring) : -ENOENT;
	}
	if (r < 0)
		goto fail;
	r = bpf_object__load(fr.obj);
	if (r < 0)
		goto fail;
	prog = bpf_object__find_program_by_name(fr.obj, "nt_swap_range_free");
	if (prog == NULL) {
		r = -ENOENT;
		goto fail;
	}
	/* The kernel's dev_t: major in the bits above the 20 of minor. */
	kdev = (__u32)major(d) << 20 | (__u32)minor(d);
	fd = bpf_object__find_map_fd_by_name(fr.obj, "target");
	fr.counts_fd = bpf_object__find_map_fd_by_name(fr.obj, "counts");
	if (fd < 0 || fr.counts_fd < 0) {
		r = -ENOENT;
		goto fail;
	}
	/* The spill table, written by the probe and swept here: mapped
	 * before memory is locked (its pages are the kernel's, resident). */
	step = "mapping the spill table";
	fr.spill_len = spill_pairs() * sizeof(struct nt_freed_pair);
	fr.spill_len = (fr.spill_len + TMEM_PAGE_SIZE - 1) &
		       ~(size_t)(TMEM_PAGE_SIZE - 1);
	m = mmap(NULL, fr.spill_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 bpf_map__fd(spill), 0);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	fr.spill = m;
	step = "checking the spill table's layout";
	r = spill_layout_check(bpf_map__fd(spill));
	if (r < 0)
		goto fail;
	step = "setting the device in the BPF program";
	if (bpf_map_update_elem(fd, &key, &kdev, BPF_ANY) < 0) {
		r = -errno;
		goto fail;
	}
	fd = bpf_object__find_map_fd_by_name(fr.obj, "events");
	fr.rb = ring_buffer__new(fd, on_event, NULL, NULL);
	if (fr.rb == NULL) {
		r = -errno;
		goto fail;
	}
	step = "attaching it to swap_range_free (a kernel without that "
	       "function cannot report frees)";
	nt_log(true,
	       "swap-device=%s: free notice: a ring of %" PRIu32
	       " bytes, a spill table for %zu pages (%zu KiB)",
	       path, ring, fr.spill_pages, fr.spill_len / 1024);
	fr.link = bpf_program__attach_kprobe(prog, false, "swap_range_free");
	if (fr.link == NULL) {
		r = -errno;
		goto fail;
	}
	return 1;

fail:
	unload();
	/* Not fatal: the device works as without the notice. */
	fprintf(stderr,
		"nbdkit: tmem: warning: swap-device=%s: cannot hear the "
		"kernel's swap slot frees: %s: %s; the pool keeps a page for "
		"every slot ever written (needs root, a kernel with BTF and "
		"kprobes, 4 KiB pages, and the initial time namespace)\n",
		path, step, strerror(-r));
	return 0;
}

int nt_freed_start(struct nt_device *dev)
{
	int r;

	if (fr.obj == NULL)
		return 0;
	fr.dev = dev;
	fr.page[0] = aligned_alloc(TMEM_PAGE_SIZE, 2 * TMEM_PAGE_SIZE);
	if (fr.page[0] == NULL)
		return -ENOMEM;
	memset(fr.page[0], 0, 2 * TMEM_PAGE_SIZE); /* faulted in (locked) */
	fr.page[1] = fr.page[0] + TMEM_PAGE_SIZE;
	r = pthread_create(&fr.thread, NULL, freed_main, NULL);
	if (r) {
		free(fr.page[0]);
		return -r;
	}
	pthread_setname_np(fr.thread, "tmem-freed"); /* ps -L, top -H */
	fr.on = true;
	return 0;
}

void nt_freed_reconfirm(void)
{
	atomic_store(&fr.epoch_ns, nt_now_ns());
	atomic_fetch_add(&fr.gen, 1);
	atomic_store(&fr.last_try_ms, 0);
}

void nt_freed_stop(void)
{
	__u32 key;
	__u64 lost = 0;

	if (fr.on) {
		struct timespec until;

		atomic_store(&fr.stop, true);
		/* The thread may be reading page 0 of a device whose server
		 * (this one) no longer answers.  It is left behind then, with
		 * its libbpf objects and pages: when the read returns it sees
		 * stop and touches nothing else (and the plugin stays mapped:
		 * -z nodelete). */
		until = nt_deadline_ms(5000);
		if (pthread_clockjoin_np(fr.thread, NULL, CLOCK_MONOTONIC,
					 &until) != 0) {
			nt_log(false,
			       "swap-device=%s: the free notice thread did "
			       "not stop within 5 s (reading %s?)",
			       fr.path, fr.path);
			return;
		}
		key = NT_FREED_LOST;
		if (fr.counts_fd >= 0)
			bpf_map_lookup_elem(fr.counts_fd, &key, &lost);
		nt_log(true,
		       "swap-device=%s: pages dropped on the kernel's "
		       "notice %" PRIu64 ", kept (written again since) "
		       "%" PRIu64 ", kept (the drop failed) %" PRIu64
		       ", notices before the device was "
		       "confirmed %" PRIu64 ", swept from the spill table "
		       "(ring full) %" PRIu64 ", lost %" PRIu64
		       ", outside the device %" PRIu64,
		       fr.path, fr.dropped, fr.kept, fr.failed, fr.ignored,
		       fr.swept, (uint64_t)lost, fr.outside);
		free(fr.page[0]);
		fr.on = false;
	}
	unload();
}

#else /* !HAVE_BPF */

int nt_freed_load(const char *path, uint64_t pages)
{
	(void)pages;
	fprintf(stderr,
		"nbdkit: tmem: warning: swap-device=%s: this plugin was "
		"built without libbpf, so it cannot hear the kernel's swap "
		"slot frees; the pool keeps a page for every slot ever "
		"written\n",
		path);
	return 0;
}

int nt_freed_start(struct nt_device *dev)
{
	(void)dev;
	return 0;
}

void nt_freed_reconfirm(void)
{
}

void nt_freed_stop(void)
{
}

#endif /* HAVE_BPF */
