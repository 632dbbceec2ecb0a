/* fc-fsx: a seeded random-operation tester for tmem-fuse-cache.
 *
 *   fc-fsx [-s SEED] [-n OPS] [-f FILES] [-p PAUSE_MS] [-v] MOUNT SOURCE
 *
 * MOUNT is a tmem-fuse-cache mount of SOURCE.  The tester keeps a model of
 * a few files (their bytes, or absence) and applies random writes,
 * truncates, appends, renames, unlinks and opens with O_TRUNC, each made
 * either through the mount or directly in the source, then reads at random
 * offsets (again through either side) and checks every byte against the
 * model.  Every operation opens and closes its own descriptor, so what is
 * tested is the close-to-open contract.  Reads through the mount often
 * first drop the kernel's cached pages (POSIX_FADV_DONTNEED), so that they
 * reach the daemon and its pool; every so often it pauses longer than the
 * daemon's timestamp granularity so that files become cacheable.
 *
 * The same seed gives the same run; on failure the seed, the operation and
 * the last operations are printed.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 16
#define MAX_SIZE  (320 * 1024)
#define MAX_WRITE (48 * 1024)
#define LOG_LINES 24

struct model {
	bool exists;
	size_t size;
	unsigned char *data; /* MAX_SIZE bytes */
};

static struct model files[MAX_FILES];
static int nfiles = 6;
static uint64_t rng;
static uint64_t seed;
static long op_no;
static const char *mount_dir, *source_dir;
static char logbuf[LOG_LINES][160];
static int verbose;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void note(const char *fmt, ...)
{
	va_list ap;
	char *line = logbuf[op_no % LOG_LINES];
	int n = snprintf(line, 160, "%6ld ", op_no);
	va_start(ap, fmt);
	vsnprintf(line + n, 160 - n, fmt, ap);
	va_end(ap);
	if (verbose)
		fprintf(stderr, "%s\n", line);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr,
		"fc-fsx: FAILED at operation %ld (seed %" PRIu64 "): ", op_no,
		seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nlast operations:\n");
	for (long i = op_no - LOG_LINES + 1; i <= op_no; i++)
		if (i >= 0 && logbuf[i % LOG_LINES][0])
			fprintf(stderr, "  %s\n", logbuf[i % LOG_LINES]);
	fprintf(stderr, "rerun: fc-fsx -s %" PRIu64 " -n %ld MOUNT SOURCE\n",
		seed, op_no + 1);
	exit(1);
}

static void path_of(char *buf, size_t len, bool via_mount, int i)
{
	snprintf(buf, len, "%s/fsx/file%d", via_mount ? mount_dir : source_dir,
		 i);
}

static const char *side(bool via_mount)
{
	return via_mount ? "mnt" : "src";
}

/* Bytes for a write: random, zero or one repeated byte (the pool stores
 * the last two specially). */
static void fill(unsigned char *buf, size_t len)
{
	int kind = (int)rnd_below(10);
	if (kind == 0) {
		memset(buf, 0, len);
	} else if (kind == 1) {
		memset(buf, (int)rnd_below(256), len);
	} else {
		for (size_t i = 0; i < len; i++) {
			if (i % 8 == 0)
				rnd();
			buf[i] = (unsigned char)(rng >> (8 * (i % 8)));
		}
	}
}

static void model_write(struct model *m, size_t off, const void *buf,
			size_t len)
{
	if (off > m->size)
		memset(m->data + m->size, 0, off - m->size);
	memcpy(m->data + off, buf, len);
	if (off + len > m->size)
		m->size = off + len;
	m->exists = true;
}

static void model_truncate(struct model *m, size_t size)
{
	if (size > m->size)
		memset(m->data + m->size, 0, size - m->size);
	m->size = size;
}

static void op_write(int i, bool via_mount, bool append, bool trunc)
{
	static unsigned char buf[MAX_WRITE];
	struct model *m = &files[i];
	char path[4096];
	size_t base = trunc ? 0 : m->exists ? m->size : 0;
	size_t len = 1 + rnd_below(MAX_WRITE);
	size_t off = append ? base : rnd_below(MAX_SIZE - 1);

	if (off + len > MAX_SIZE)
		len = MAX_SIZE - off;
	if (append && base + len > MAX_SIZE) {
		/* full: no append; make it a plain overwrite at 0 */
		append = false;
		off = 0;
	}
	fill(buf, len);
	path_of(path, sizeof(path), via_mount, i);
	note("%s write file%d off=%zu len=%zu%s%s", side(via_mount), i, off,
	     len, append ? " append" : "", trunc ? " O_TRUNC" : "");
	int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : 0) |
		    (trunc ? O_TRUNC : 0);
	int fd = open(path, flags, 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	ssize_t n = append ? write(fd, buf, len) : pwrite(fd, buf, len, off);
	if (n != (ssize_t)len)
		die("write %s: %s", path, n < 0 ? strerror(errno) : "short");
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
	if (trunc || !m->exists)
		model_truncate(m, 0);
	m->exists = true;
	model_write(m, off, buf, len);
}

static void op_truncate(int i, bool via_mount)
{
	struct model *m = &files[i];
	char path[4096];
	size_t size = rnd_below(4) == 0 ? 0 : rnd_below(MAX_SIZE);

	if (!m->exists)
		return;
	path_of(path, sizeof(path), via_mount, i);
	note("%s truncate file%d to %zu", side(via_mount), i, size);
	if (truncate(path, (off_t)size) < 0)
		die("truncate %s: %s", path, strerror(errno));
	model_truncate(m, size);
}

static void op_rename(int i, int j, bool via_mount)
{
	char a[4096], b[4096];
	if (!files[i].exists || i == j)
		return;
	path_of(a, sizeof(a), via_mount, i);
	path_of(b, sizeof(b), via_mount, j);
	note("%s rename file%d -> file%d%s", side(via_mount), i, j,
	     files[j].exists ? " (over)" : "");
	if (rename(a, b) < 0)
		die("rename %s %s: %s", a, b, strerror(errno));
	unsigned char *d = files[j].data;
	files[j] = files[i];
	files[i].data = d;
	files[i].exists = false;
	files[i].size = 0;
}

static void op_unlink(int i, bool via_mount)
{
	char path[4096];
	if (!files[i].exists)
		return;
	path_of(path, sizeof(path), via_mount, i);
	note("%s unlink file%d", side(via_mount), i);
	if (unlink(path) < 0)
		die("unlink %s: %s", path, strerror(errno));
	files[i].exists = false;
	files[i].size = 0;
}

static void op_read(int i, bool via_mount, bool whole)
{
	static unsigned char buf[MAX_SIZE + 4096];
	struct model *m = &files[i];
	char path[4096];
	size_t off = whole ? 0 : rnd_below(MAX_SIZE);
	size_t len = whole ? MAX_SIZE + 4096 : 1 + rnd_below(64 * 1024);
	bool drop = via_mount && rnd_below(2);

	path_of(path, sizeof(path), via_mount, i);
	note("%s read file%d off=%zu len=%zu%s", side(via_mount), i, off, len,
	     drop ? " (dropped kernel cache)" : "");
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT && !m->exists)
			return;
		die("open %s: %s (model: %s)", path, strerror(errno),
		    m->exists ? "exists" : "absent");
	}
	if (!m->exists)
		die("open %s succeeded, but the file was removed", path);
	if (drop)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + got);
		if (n < 0)
			die("read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	size_t want = off >= m->size ? 0 : m->size - off;
	if (want > len)
		want = len;
	if (got != want)
		die("read %s off=%zu len=%zu: got %zu bytes, expected %zu "
		    "(size %zu)",
		    path, off, len, got, want, m->size);
	for (size_t k = 0; k < got; k++)
		if (buf[k] != m->data[off + k])
			die("read %s: byte at %zu is 0x%02x, expected 0x%02x",
			    path, off + k, buf[k], m->data[off + k]);
}

static void usage(void)
{
	fprintf(stderr, "usage: fc-fsx [-s SEED] [-n OPS] [-f FILES] "
			"[-p PAUSE_MS] [-v] MOUNT SOURCE\n");
	exit(2);
}

int main(int argc, char *argv[])
{
	long nops = 3000;
	long pause_ms = 60;
	int c;

	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	while ((c = getopt(argc, argv, "s:n:f:p:v")) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			nops = strtol(optarg, NULL, 0);
			break;
		case 'f':
			nfiles = atoi(optarg);
			if (nfiles < 2 || nfiles > MAX_FILES)
				usage();
			break;
		case 'p':
			pause_ms = strtol(optarg, NULL, 0);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	mount_dir = argv[optind];
	source_dir = argv[optind + 1];
	rng = seed ? seed : 1;
	for (int k = 0; k < 4; k++)
		rnd();

	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/fsx", mount_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	for (int i = 0; i < nfiles; i++) {
		char path[4096];
		files[i].data = malloc(MAX_SIZE);
		if (!files[i].data)
			die("out of memory");
		path_of(path, sizeof(path), true, i);
		if (unlink(path) < 0 && errno != ENOENT)
			die("unlink %s: %s", path, strerror(errno));
	}
	printf("fc-fsx: seed %" PRIu64 ", %ld operations, %d files\n", seed,
	       nops, nfiles);

	long counts[8] = {0};
	for (op_no = 0; op_no < nops; op_no++) {
		int i = (int)rnd_below(nfiles);
		bool via_mount = rnd_below(3) != 0;
		int r = (int)rnd_below(100);
		if (r < 20) {
			op_write(i, via_mount, false, false);
			counts[0]++;
		} else if (r < 26) {
			op_write(i, via_mount, true, false);
			counts[1]++;
		} else if (r < 29) {
			op_write(i, via_mount, false, true);
			counts[2]++;
		} else if (r < 35) {
			op_truncate(i, via_mount);
			counts[3]++;
		} else if (r < 39) {
			op_rename(i, (int)rnd_below(nfiles), via_mount);
			counts[4]++;
		} else if (r < 42) {
			op_unlink(i, via_mount);
			counts[5]++;
		} else if (r < 44) {
			note("pause %ld ms", pause_ms);
			usleep(pause_ms * 1000);
			counts[7]++;
		} else {
			op_read(i, rnd_below(5) != 0, rnd_below(8) == 0);
			counts[6]++;
		}
	}
	/* A last full check of every file through the mount. */
	for (int i = 0; i < nfiles; i++)
		op_read(i, true, true);
	printf("fc-fsx: passed: %ld writes, %ld appends, %ld O_TRUNC "
	       "writes, %ld truncates, %ld renames, %ld unlinks, %ld reads, "
	       "%ld pauses\n",
	       counts[0], counts[1], counts[2], counts[3], counts[4], counts[5],
	       counts[6], counts[7]);
	return 0;
}
