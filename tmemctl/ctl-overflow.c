/* tmemctl check --deep: the nbd plugin's overflow files.
 *
 * Each export with an overflow file keeps its slot map in
 * /dev/shm/SEGMENT.nbd-EXPORT.ovmap (nbd-ovmap.h), which names the file.
 * Every used slot's record must pass its check and its bytes their
 * checksum, as the plugin verifies on every read.  Read-only: the map and
 * the file are opened for reading only, and a running server is not
 * stopped (a slot it rewrites meanwhile may be reported; run again).
 *
 * Any user can create files in /dev/shm, so a map is trusted only as far
 * as it is checked: a regular file of the segment's owner that no one
 * else may read or write, long enough for the slots it claims, whose path
 * is NUL-terminated and names a regular file (opened without following a
 * symbolic link or waiting on a FIFO) with the device and inode the map
 * records.  Anything else is reported as damage; nothing is read from it.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbd-ovmap.h"
#include "tmemctl.h"

static unsigned check_map(const char *map_path, const char *export_name,
			  uid_t owner)
{
	static const struct ov_slot free_rec;
	const struct ov_map_header *h;
	const struct ov_slot *rev;
	unsigned char *buf = NULL;
	unsigned bad = 0;
	struct stat st, fst;
	uint64_t slot, used = 0;
	void *m = NULL;
	int fd, ffd = -1;

	fd = open(map_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ctl_error("%s: cannot read the overflow map: %s", map_path,
			  strerror(errno));
		bad++;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != owner ||
	    (st.st_mode & 077) != 0) {
		ctl_error("%s: not a private regular file of the segment's "
			  "owner (uid %u, mode 0600): not read",
			  map_path, (unsigned)owner);
		bad++;
		goto out;
	}
	if ((uint64_t)st.st_size < sizeof(*h)) {
		ctl_error("%s: truncated: shorter than its header", map_path);
		bad++;
		goto out;
	}
	/* A copy, not a mapping: a server restarting meanwhile may truncate
	 * the map, which would fault a reader of a mapping (SIGBUS). */
	m = malloc((size_t)st.st_size);
	if (m == NULL ||
	    pread(fd, m, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
		ctl_error("%s: cannot read the overflow map: %s", map_path,
			  m ? "it changed while being read (run again)"
			    : strerror(ENOMEM));
		bad++;
		goto out;
	}
	h = m;
	if (memcmp(h->magic, OV_MAP_MAGIC, 8) != 0) {
		ctl_error("%s: not an overflow map of this version", map_path);
		bad++;
		goto out;
	}
	/* The slots start at the second page: a file shorter than that holds
	 * none. */
	if ((uint64_t)st.st_size < 4096 ||
	    h->slots > ((uint64_t)st.st_size - 4096) / sizeof(*rev)) {
		ctl_error("%s: truncated: %llu slots do not fit", map_path,
			  (unsigned long long)h->slots);
		bad++;
		goto out;
	}
	if (memchr(h->path, '\0', sizeof(h->path)) == NULL) {
		ctl_error("%s: the overflow file's path is not terminated",
			  map_path);
		bad++;
		goto out;
	}
	rev = (const struct ov_slot *)((const char *)m + 4096);
	ffd = open(h->path,
		   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (ffd < 0 || fstat(ffd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    (uint64_t)fst.st_dev != h->file_dev ||
	    (uint64_t)fst.st_ino != h->file_ino) {
		ctl_error("export %s: overflow file %s: %s", export_name,
			  h->path,
			  ffd < 0 ? strerror(errno)
			  : !S_ISREG(fst.st_mode)
				  ? "not a regular file"
				  : "not the file the map describes");
		bad++;
		goto out;
	}
	if (posix_memalign((void **)&buf, 4096, 4096) != 0) {
		bad++;
		goto out;
	}
	for (slot = 0; slot < h->slots; slot++) {
		const struct ov_slot *r = &rev[slot];

		if (memcmp(r, &free_rec, sizeof(*r)) == 0)
			continue;
		used++;
		if (!ov_slot_sound(h->label, slot, r) || r->page1 == 0 ||
		    r->page1 > h->device_pages) {
			ctl_error("export %s: overflow slot %llu: its map "
				  "record fails its check (the page it holds "
				  "is unknown)",
				  export_name, (unsigned long long)slot);
			bad++;
			continue;
		}
		if (pread(ffd, buf, 4096, (off_t)(slot * 4096)) != 4096 ||
		    r->datasum != ov_datasum(h->label, r->page1 - 1, buf)) {
			ctl_error("export %s: page %llu (overflow slot %llu): "
				  "the stored page fails its checksum",
				  export_name,
				  (unsigned long long)(r->page1 - 1),
				  (unsigned long long)slot);
			bad++;
		}
	}
	printf("export %s: %llu overflow pages verified in %s\n", export_name,
	       (unsigned long long)used, h->path);
out:
	free(buf);
	if (ffd >= 0)
		close(ffd);
	free(m);
	if (fd >= 0)
		close(fd);
	return bad;
}

unsigned ctl_check_overflow(struct ctl *c)
{
	char prefix[TMEM_NAME_MAX + 8], path[512], export_name[256];
	struct dirent *d;
	struct stat seg_st;
	unsigned bad = 0;
	size_t n, len;
	DIR *dir;

	snprintf(path, sizeof path, "/dev/shm/%s", c->segment);
	/* The owner of the segment itself, not of what a link names. */
	if (lstat(path, &seg_st) != 0 || !S_ISREG(seg_st.st_mode))
		return 0;
	snprintf(prefix, sizeof prefix, "%s.nbd-", c->segment);
	n = strlen(prefix);
	dir = opendir("/dev/shm");
	if (dir == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		len = strlen(d->d_name);
		if (strncmp(d->d_name, prefix, n) != 0 || len <= n + 6 ||
		    strcmp(d->d_name + len - 6, ".ovmap") != 0)
			continue;
		snprintf(export_name, sizeof export_name, "%.*s",
			 (int)(len - n - 6), d->d_name + n);
		snprintf(path, sizeof path, "/dev/shm/%s", d->d_name);
		bad += check_map(path, export_name, seg_st.st_uid);
	}
	closedir(dir);
	return bad;
}
