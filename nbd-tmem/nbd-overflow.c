/* nbd-tmem: the overflow file, where pages go when the pool is full.
 *
 * A persistent put that finds no room must not lose the page, and a swap
 * device must not stall: the page is written to a file instead.  The file
 * is allocated in full at start and every block of it written once then
 * (posix_fallocate alone leaves "unwritten" extents, and the first write
 * into one converts it in a journal transaction): a spilled page is a
 * plain block write, with no block allocation and no file-system metadata
 * work when the system is short of memory.  The file lives on a
 * block-backed file system (tmpfs would only be RAM again, and its pages
 * can be swapped to this very device), and is written with O_DIRECT from
 * the stripes' locked scratch pages, so the page cache never holds a dirty
 * copy that reclaim would have to write back.
 *
 * The file is divided into page-sized slots.  Which slot holds which device
 * page is kept twice: a reverse map (slot → page) in a small shared-memory
 * file beside the pool's segment, so that a restarted server finds what it
 * had spilled, and a forward array (page → slot) in process memory, built
 * from the reverse map at start.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include "nbd-internal.h"
#include "nbd-ovmap.h"

/* The map of an older version: page + 1 per slot, no checksums. */
#define OV_MAP_MAGIC_V1 "TMEMOVM1"

struct nt_overflow {
	int fd;
	uint64_t slots;
	uint64_t device_pages;
	uint64_t label;
	/* Slots whose record failed its check at start: which page they
	 * held is unknown, so a page found nowhere may have been theirs. */
	uint64_t lost;
	/* fwd[p] is protected by page p's stripe lock; so is rev[fwd[p]]. */
	uint32_t *fwd;
	struct ov_slot *rev;
	void *map;
	size_t map_len;
	pthread_mutex_t free_lock;
	uint32_t *free_stack; /* protected by free_lock */
	uint64_t nfree;	      /* protected by free_lock */
};

static size_t map_bytes(uint64_t slots)
{
	return TMEM_PAGE_SIZE + slots * sizeof(struct ov_slot);
}

/* Whether the map m (bytes long) is one of this life of the sub-pool
 * (label) that holds pages: a record in use, whatever the version. */
static bool map_holds(const void *m, uint64_t bytes, uint64_t label)
{
	const struct ov_map_header *h = m;
	const struct ov_slot *rev =
		(const struct ov_slot *)((const char *)m + TMEM_PAGE_SIZE);
	const uint64_t *rev1 = (const uint64_t *)rev;
	uint64_t i, room;

	if (bytes < TMEM_PAGE_SIZE || h->label != label)
		return false;
	room = bytes - TMEM_PAGE_SIZE;
	if (memcmp(h->magic, OV_MAP_MAGIC, 8) == 0 &&
	    h->slots <= room / sizeof(*rev)) {
		for (i = 0; i < h->slots; i++)
			if (rev[i].page1 != 0)
				return true;
	} else if (memcmp(h->magic, OV_MAP_MAGIC_V1, 8) == 0 &&
		   h->slots <= room / sizeof(*rev1)) {
		for (i = 0; i < h->slots; i++)
			if (rev1[i] != 0)
				return true;
	}
	return false;
}

/* Whether the map in fd (of size bytes) holds pages of this life of the
 * sub-pool that a map for another file or size would lose: then we must
 * refuse rather than start afresh. */
static bool map_would_lose(int fd, uint64_t bytes, uint64_t label,
			   const struct nt_overflow *ov, const struct stat *st)
{
	const struct ov_map_header *h;
	bool lose;
	void *m;

	if (bytes < TMEM_PAGE_SIZE)
		return false;
	m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return false;
	h = m;
	lose = (memcmp(h->magic, OV_MAP_MAGIC_V1, 8) == 0 ||
		h->slots != ov->slots || h->file_dev != (uint64_t)st->st_dev ||
		h->file_ino != (uint64_t)st->st_ino) &&
	       map_holds(m, bytes, label);
	munmap(m, bytes);
	return lose;
}

/* Whether fd holds something other than an overflow map (of any
 * version), or nothing: a file of another kind at the map's name (a
 * segment whose name happens to be POOL.nbd-EXPORT.ovmap) is never
 * overwritten. */
static bool map_foreign(int fd, uint64_t bytes)
{
	char magic[8];

	if (bytes == 0)
		return false;
	if (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic)
		return true;
	return memcmp(magic, OV_MAP_MAGIC, 8) != 0 &&
	       memcmp(magic, OV_MAP_MAGIC_V1, 8) != 0;
}

int nt_ov_map_check(const char *map_name, uint64_t label, char *err,
		    size_t errlen)
{
	const struct ov_map_header *h;
	struct stat mst;
	char why[200];
	void *m;
	int fd;

	fd = shm_open(map_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (tmem_file_private(fd, why, sizeof why) < 0) {
		snprintf(err, errlen, "overflow map /dev/shm%s: %s", map_name,
			 why);
		close(fd);
		return -EPERM;
	}
	if (fstat(fd, &mst) < 0 || (uint64_t)mst.st_size < TMEM_PAGE_SIZE) {
		close(fd);
		return 0;
	}
	m = mmap(NULL, (size_t)mst.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return 0;
	h = m;
	if (map_holds(m, (uint64_t)mst.st_size, label)) {
		snprintf(err, errlen,
			 "pages of this export are in the overflow file "
			 "%.*s (the map /dev/shm%s records them): give "
			 "overflow=%.*s again, or reset=true to start afresh",
			 (int)strnlen(h->path, sizeof h->path), h->path,
			 map_name, (int)strnlen(h->path, sizeof h->path),
			 h->path);
		munmap(m, (size_t)mst.st_size);
		return -EEXIST;
	}
	munmap(m, (size_t)mst.st_size);
	return 0;
}

/* Attach the shared map, keeping its contents only if it describes this
 * device, this file and this life of the sub-pool. */
static int map_attach(struct nt_overflow *ov, const char *map_name,
		      const char *path, uint64_t label, const struct stat *st,
		      char *err, size_t errlen)
{
	struct ov_map_header *h;
	struct stat mst;
	char why[200];
	bool keep;
	int fd, r;

	ov->map_len = map_bytes(ov->slots);
	fd = shm_open(map_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		      0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "overflow map /dev/shm%s: %s", map_name,
			 strerror(errno));
		return r;
	}
	r = tmem_file_private(fd, why, sizeof why);
	if (r) {
		snprintf(err, errlen, "overflow map /dev/shm%s: %s", map_name,
			 why);
		close(fd);
		return r;
	}
	if (fstat(fd, &mst) < 0) {
		r = -errno;
		snprintf(err, errlen, "overflow map /dev/shm%s: %s", map_name,
			 strerror(errno));
		close(fd);
		return r;
	}
	if (map_foreign(fd, (uint64_t)mst.st_size)) {
		snprintf(err, errlen,
			 "overflow map /dev/shm%s: the file there is not an "
			 "overflow map (a segment of that name?): not "
			 "overwriting it",
			 map_name);
		close(fd);
		return -EEXIST;
	}
	if (map_would_lose(fd, (uint64_t)mst.st_size, label, ov, st)) {
		snprintf(err, errlen,
			 "overflow: pages of this export are in another "
			 "overflow file or one of another overflow-size "
			 "(see /dev/shm%s): give the same overflow= and "
			 "overflow-size= as before, or reset=true",
			 map_name);
		close(fd);
		return -EEXIST;
	}
	/* A new map has its magic before it has any other byte: a start
	 * killed while making it leaves a map, never a file map_foreign
	 * refuses for ever. */
	if (mst.st_size == 0 && pwrite(fd, OV_MAP_MAGIC, 8, 0) != 8) {
		snprintf(err, errlen, "overflow map /dev/shm%s: writing it: %s",
			 map_name, strerror(errno ? errno : EIO));
		close(fd);
		return -EIO;
	}
	/* mst is from before the magic: a new map's size (0) is never
	 * map_len, which is at least a page. */
	if ((uint64_t)mst.st_size != ov->map_len &&
	    ftruncate(fd, (off_t)ov->map_len) < 0) {
		r = -errno;
		snprintf(err, errlen, "overflow map /dev/shm%s: %s", map_name,
			 strerror(errno));
		close(fd);
		return r;
	}
	ov->map = mmap(NULL, ov->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	close(fd);
	if (ov->map == MAP_FAILED) {
		r = -errno;
		ov->map = NULL;
		snprintf(err, errlen, "overflow map /dev/shm%s: mmap: %s",
			 map_name, strerror(errno));
		return r;
	}
	h = ov->map;
	ov->rev = (struct ov_slot *)((char *)ov->map + TMEM_PAGE_SIZE);
	keep = memcmp(h->magic, OV_MAP_MAGIC, 8) == 0 &&
	       h->device_pages == ov->device_pages && h->slots == ov->slots &&
	       h->label == label && h->file_dev == (uint64_t)st->st_dev &&
	       h->file_ino == (uint64_t)st->st_ino;
	if (!keep) {
		/* Writing every byte also faults the map in before serving;
		 * the magic's place is never zero (see above). */
		memset((char *)ov->map + 8, 0, ov->map_len - 8);
		memcpy(h->magic, OV_MAP_MAGIC, 8);
		h->device_pages = ov->device_pages;
		h->slots = ov->slots;
		h->label = label;
		h->file_dev = st->st_dev;
		h->file_ino = st->st_ino;
	}
	snprintf(h->path, sizeof(h->path), "%s", path);
	return 0;
}

/* Build the forward array and the free list from the reverse map.  A
 * record that fails its check is kept, its slot neither used nor free, and
 * counted lost: the page it held is unknown.  One that cannot be right
 * otherwise (page out of range, page claimed twice) is dropped. */
static void map_load(struct nt_overflow *ov)
{
	static const struct ov_slot free_rec;
	uint64_t slot;

	memset(ov->fwd, 0xff, ov->device_pages * sizeof(uint32_t));
	ov->nfree = 0;
	ov->lost = 0;
	for (slot = ov->slots; slot-- > 0;) {
		struct ov_slot *r = &ov->rev[slot];
		uint64_t v = r->page1;

		if (memcmp(r, &free_rec, sizeof(*r)) != 0 &&
		    !ov_slot_sound(ov->label, slot, r)) {
			ov->lost++;
			continue;
		}
		if (v != 0 && v - 1 < ov->device_pages &&
		    ov->fwd[v - 1] == NT_NO_SLOT) {
			ov->fwd[v - 1] = (uint32_t)slot;
			continue;
		}
		memset(r, 0, sizeof(*r));
		/* Pushed from the top down, so low slots are used first. */
		ov->free_stack[ov->nfree++] = (uint32_t)slot;
	}
}

#define OV_FILL_BYTES (1U << 20) /* one O_DIRECT transfer while filling */
#define OV_FIEMAP_N   64	 /* extents asked for per FIEMAP call */

/* Count the unwritten extents of [0, bytes) and, with buf (OV_FILL_BYTES
 * of zeros, aligned), write zeros over them: they read as zeros, so no
 * content changes.  -EOPNOTSUPP when the file system has no FIEMAP. */
static int unwritten_extents(int fd, uint64_t bytes, void *buf, uint64_t *count)
{
	size_t fm_size = sizeof(struct fiemap) +
			 OV_FIEMAP_N * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, fm_size);
	uint64_t pos = 0;
	int r = 0;

	*count = 0;
	if (fm == NULL)
		return -ENOMEM;
	while (pos < bytes) {
		bool last = false;
		unsigned i;

		memset(fm, 0, fm_size);
		fm->fm_start = pos;
		fm->fm_length = bytes - pos;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = OV_FIEMAP_N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			r = errno == ENOTTY || errno == EOPNOTSUPP ? -EOPNOTSUPP
								   : -errno;
			break;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		for (i = 0; i < fm->fm_mapped_extents && r == 0; i++) {
			const struct fiemap_extent *x = &fm->fm_extents[i];
			uint64_t off = x->fe_logical;
			uint64_t end = x->fe_logical + x->fe_length;

			if (end > bytes)
				end = bytes;
			if (x->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
			pos = end;
			if (!(x->fe_flags & FIEMAP_EXTENT_UNWRITTEN))
				continue;
			++*count;
			while (buf && off < end && r == 0) {
				size_t n = end - off < OV_FILL_BYTES
						   ? (size_t)(end - off)
						   : OV_FILL_BYTES;
				ssize_t w = pwrite(fd, buf, n, (off_t)off);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					r = w < 0 ? -errno : -EIO;
				else
					off += (uint64_t)w;
			}
		}
		if (last || r)
			break;
	}
	free(fm);
	return r;
}

/* Without FIEMAP: read every block and write it back (its content
 * unchanged), which converts whatever the file system left unwritten. */
static int rewrite_all(int fd, uint64_t bytes, void *buf)
{
	uint64_t off;

	for (off = 0; off < bytes; off += OV_FILL_BYTES) {
		size_t n = bytes - off < OV_FILL_BYTES ? (size_t)(bytes - off)
						       : OV_FILL_BYTES;

		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n ||
		    pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return errno ? -errno : -EIO;
	}
	return 0;
}

/* Every block of the file written once, so that a swap write never
 * converts an extent (see the top of this file). */
static int file_write_once(int fd, const char *path, uint64_t bytes, char *err,
			   size_t errlen)
{
	uint64_t left;
	void *buf;
	int r;

	buf = aligned_alloc(TMEM_PAGE_SIZE, OV_FILL_BYTES);
	if (buf == NULL)
		return -ENOMEM;
	memset(buf, 0, OV_FILL_BYTES);
	r = unwritten_extents(fd, bytes, buf, &left);
	if (r == -EOPNOTSUPP)
		r = rewrite_all(fd, bytes, buf);
	else if (r == 0 && (r = fdatasync(fd) < 0 ? -errno : 0) == 0 &&
		 (r = unwritten_extents(fd, bytes, NULL, &left)) == 0 && left)
		r = -EIO;
	if (r == 0)
		r = fdatasync(fd) < 0 ? -errno : 0;
	free(buf);
	if (r < 0)
		snprintf(err, errlen,
			 "overflow file %s: writing it once in full: %s", path,
			 left && r == -EIO ? "the file system still leaves "
					     "extents unwritten"
					   : strerror(-r));
	return r;
}

static int file_open(struct nt_overflow *ov, const char *path, uint64_t bytes,
		     struct stat *st, bool *made, char *err, size_t errlen)
{
	const int flags = O_RDWR | O_DIRECT | O_NOFOLLOW | O_CLOEXEC;
	struct statfs sfs;
	char why[200];
	int r;

	/* *made only for a file this call made (O_EXCL, without O_DIRECT,
	 * which a file system may refuse once the file exists): a failed
	 * start removes it, and no other. */
	r = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	*made = r >= 0;
	if (r >= 0)
		close(r);
	ov->fd = open(path, flags);
	if (ov->fd < 0) {
		r = -errno;
		if (errno == ELOOP)
			snprintf(err, errlen,
				 "overflow file %s is a symbolic link: give "
				 "the file itself",
				 path);
		else if (stat(path, st) == 0 && !S_ISREG(st->st_mode))
			snprintf(err, errlen,
				 "overflow file %s: not a regular file", path);
		else if (r == -EINVAL)
			snprintf(err, errlen,
				 "overflow file %s: this file system does not "
				 "support O_DIRECT (tmpfs?): put it on a "
				 "block-backed file system",
				 path);
		else
			snprintf(err, errlen, "overflow file %s: %s", path,
				 strerror(errno));
		return r;
	}
	if (fstatfs(ov->fd, &sfs) == 0 &&
	    (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)) {
		snprintf(err, errlen,
			 "overflow file %s is on tmpfs/ramfs: that is RAM, "
			 "and its pages may be swapped to this very device; "
			 "put it on a block-backed file system",
			 path);
		return -EINVAL;
	}
	if (fstat(ov->fd, st) < 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "overflow file %s: not a regular file",
			 path);
		return -EINVAL;
	}
	/* Swapped pages are as private as the memory they came from. */
	r = tmem_file_private(ov->fd, why, sizeof why);
	if (r < 0) {
		snprintf(err, errlen, "overflow file %s: %s", path, why);
		return r;
	}
	/* One server's one export per file: each map hands out its slots
	 * from 0.  Held as long as the descriptor (the server's life). */
	if (flock(ov->fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		snprintf(err, errlen,
			 "overflow file %s is in use by another export or "
			 "server: give each its own file",
			 path);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	r = posix_fallocate(ov->fd, 0, (off_t)bytes);
	if (r != 0) {
		snprintf(err, errlen,
			 "overflow file %s: cannot allocate %" PRIu64
			 " bytes: %s",
			 path, bytes, strerror(r));
		return -r;
	}
	return file_write_once(ov->fd, path, bytes, err, errlen);
}

int nt_ov_open(const char *path, uint64_t bytes, uint64_t device_pages,
	       const char *map_name, uint64_t label, struct nt_overflow **out,
	       char *err, size_t errlen)
{
	struct nt_overflow *ov;
	struct stat st;
	bool made;
	int r;

	if (bytes < TMEM_PAGE_SIZE || bytes % TMEM_PAGE_SIZE != 0 ||
	    bytes / TMEM_PAGE_SIZE >= NT_NO_SLOT) {
		snprintf(err, errlen,
			 "overflow-size: must be a non-zero multiple of %d "
			 "below 16T (got %" PRIu64 ")",
			 TMEM_PAGE_SIZE, bytes);
		return -EINVAL;
	}
	ov = calloc(1, sizeof(*ov));
	if (ov == NULL)
		return -ENOMEM;
	ov->fd = -1;
	ov->slots = bytes / TMEM_PAGE_SIZE;
	ov->device_pages = device_pages;
	ov->label = label;
	pthread_mutex_init(&ov->free_lock, NULL);

	/* A file this start creates is removed again if it fails. */
	made = false;
	r = file_open(ov, path, bytes, &st, &made, err, errlen);
	if (r < 0)
		goto err_close;
	ov->fwd = malloc(device_pages * sizeof(uint32_t));
	ov->free_stack = malloc(ov->slots * sizeof(uint32_t));
	if (ov->fwd == NULL || ov->free_stack == NULL) {
		snprintf(err, errlen, "overflow file %s: slot map: %s", path,
			 strerror(ENOMEM));
		r = -ENOMEM;
		goto err_close;
	}
	r = map_attach(ov, map_name, path, label, &st, err, errlen);
	if (r < 0)
		goto err_close;
	map_load(ov);
	*out = ov;
	return 0;

err_close:
	nt_ov_close(ov);
	if (made)
		unlink(path);
	return r;
}

void nt_ov_close(struct nt_overflow *ov)
{
	if (ov == NULL)
		return;
	if (ov->map)
		munmap(ov->map, ov->map_len);
	if (ov->fd >= 0)
		close(ov->fd);
	free(ov->fwd);
	free(ov->free_stack);
	pthread_mutex_destroy(&ov->free_lock);
	free(ov);
}

void nt_ov_touch(struct nt_overflow *ov)
{
	nt_touch_pages(ov->fwd, ov->device_pages * sizeof(uint32_t));
	nt_touch_pages(ov->free_stack, ov->slots * sizeof(uint32_t));
	nt_touch_pages(ov->map, ov->map_len);
}

void nt_ov_unlink_map(const char *map_name)
{
	shm_unlink(map_name);
}

uint32_t nt_ov_lookup(struct nt_overflow *ov, uint64_t page)
{
	return ov->fwd[page];
}

static int full_pio(bool write, int fd, void *buf, uint64_t slot)
{
	off_t off = (off_t)(slot * TMEM_PAGE_SIZE);
	ssize_t n;

	do {
		n = write ? pwrite(fd, buf, TMEM_PAGE_SIZE, off)
			  : pread(fd, buf, TMEM_PAGE_SIZE, off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* The file is allocated in full: a short transfer is an I/O error. */
	return n == TMEM_PAGE_SIZE ? 0 : -EIO;
}

static void slot_free(struct nt_overflow *ov, uint32_t slot)
{
	pthread_mutex_lock(&ov->free_lock);
	ov->free_stack[ov->nfree++] = slot;
	pthread_mutex_unlock(&ov->free_lock);
}

int nt_ov_write(struct nt_overflow *ov, uint64_t page, const void *buf)
{
	uint32_t slot = ov->fwd[page];
	struct ov_slot rec;
	bool fresh = false;
	int r;

	if (slot == NT_NO_SLOT) {
		pthread_mutex_lock(&ov->free_lock);
		if (ov->nfree > 0)
			slot = ov->free_stack[--ov->nfree];
		pthread_mutex_unlock(&ov->free_lock);
		if (slot == NT_NO_SLOT)
			return -ENOSPC;
		fresh = true;
	}
	r = full_pio(true, ov->fd, (void *)buf, slot);
	if (r < 0) {
		if (fresh)
			slot_free(ov, slot);
		return r;
	}
	/* Published only once the data is in the file. */
	rec.page1 = page + 1;
	rec.datasum = ov_datasum(ov->label, page, buf);
	rec.check = ov_slot_check(ov->label, slot, rec.page1, rec.datasum);
	ov->rev[slot] = rec;
	ov->fwd[page] = slot;
	return 0;
}

int nt_ov_read(struct nt_overflow *ov, uint64_t page, uint32_t slot, void *buf)
{
	const struct ov_slot *rec = &ov->rev[slot];
	int r = full_pio(false, ov->fd, buf, slot);

	if (r < 0)
		return r;
	/* Its own page's bytes, or an I/O error (until written or
	 * trimmed: nothing here changes the slot). */
	if (rec->page1 != page + 1 ||
	    rec->datasum != ov_datasum(ov->label, page, buf))
		return -EIO;
	return 0;
}

uint64_t nt_ov_lost(const struct nt_overflow *ov)
{
	return ov->lost;
}

void nt_ov_release(struct nt_overflow *ov, uint64_t page)
{
	uint32_t slot = ov->fwd[page];

	if (slot == NT_NO_SLOT)
		return;
	ov->fwd[page] = NT_NO_SLOT;
	memset(&ov->rev[slot], 0, sizeof(ov->rev[slot]));
	slot_free(ov, slot);
}

int nt_ov_sync(struct nt_overflow *ov)
{
	return fdatasync(ov->fd) < 0 ? -errno : 0;
}

uint64_t nt_ov_slots(const struct nt_overflow *ov)
{
	return ov->slots;
}

uint64_t nt_ov_slots_used(struct nt_overflow *ov)
{
	uint64_t used;

	pthread_mutex_lock(&ov->free_lock);
	used = ov->slots - ov->nfree;
	pthread_mutex_unlock(&ov->free_lock);
	return used;
}
