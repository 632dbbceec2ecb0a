/* test-fuzz-pool: run the fuzz target's checks in an ordinary build.
 *
 * libFuzzer needs clang, so the real fuzzer is built only with
 * --enable-fuzzing.  This driver feeds the same entry points (fuzz-pool.c)
 * in every `make check`: each file or directory named on the command line
 * (or, with none, the seed inputs in fuzz/seeds/pool of the source
 * tree), then a
 * number of pseudo-random inputs, the same ones in every run so that
 * make check is reproducible (libFuzzer's fuzz-short explores).
 *   FUZZ_POOL_SEED  the random inputs' seed (default 1; "time": the clock,
 *                   printed so that a failure can be replayed)
 *   FUZZ_POOL_RUNS  how many random inputs (default 200)
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_pool_summary(void);

#define INPUT_MAX 8192
/* The seeds' directory under seeds/: each target's replay names its own. */
#ifndef FUZZ_SEEDS_NAME
#define FUZZ_SEEDS_NAME "pool"
#endif

static uint8_t buf[INPUT_MAX];

static int run_file(const char *path)
{
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "test-fuzz-pool: %s: %m\n", path);
		return -1;
	}
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

/* Run a file, or every file of a directory; returns how many ran or -1. */
static int run_path(const char *path)
{
	struct dirent *d;
	struct stat sb;
	int count = 0;
	DIR *dir;

	if (stat(path, &sb) < 0) {
		fprintf(stderr, "test-fuzz-pool: %s: %m\n", path);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return run_file(path) < 0 ? -1 : 1;
	dir = opendir(path);
	if (!dir) {
		fprintf(stderr, "test-fuzz-pool: %s: %m\n", path);
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		char sub[4096];

		if (d->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, d->d_name);
		if (run_file(sub) < 0) {
			closedir(dir);
			return -1;
		}
		count++;
	}
	closedir(dir);
	return count;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	const char *env = getenv("FUZZ_POOL_SEED");
	const char *srcdir = getenv("srcdir");
	uint64_t seed, s;
	long runs = 200;
	int replayed = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (getenv("FUZZ_POOL_RUNS"))
		runs = strtol(getenv("FUZZ_POOL_RUNS"), NULL, 10);
	if (env && strcmp(env, "time") == 0)
		seed = (uint64_t)time(NULL);
	else
		seed = env ? strtoull(env, NULL, 0) : 1;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			int n = run_path(argv[i]);

			if (n < 0)
				return 1;
			replayed += n;
		}
	} else {
		char dir[4096];

		if (srcdir)
			snprintf(dir, sizeof dir, "%s/seeds/" FUZZ_SEEDS_NAME,
				 srcdir);
		else
			snprintf(dir, sizeof dir, "%s", FUZZ_SEEDS_DIR);
		replayed = run_path(dir);
		if (replayed < 0)
			return 1;
	}
	printf("test-fuzz-pool: %d seed input(s) passed\n", replayed);

	printf("test-fuzz-pool: %ld random inputs, FUZZ_POOL_SEED=%" PRIu64
	       "\n",
	       runs, seed);
	fflush(stdout);
	s = seed;
	for (long r = 0; r < runs; r++) {
		size_t len = splitmix(&s) % INPUT_MAX;

		for (size_t i = 0; i < len; i += 8) {
			uint64_t w = splitmix(&s);

			memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	fuzz_pool_summary();
	printf("test-fuzz-pool: all passed\n");
	return 0;
}
