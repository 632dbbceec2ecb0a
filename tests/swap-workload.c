/* swap-workload: a memory workload larger than RAM that checks its own data.
 *
 * It allocates about 1.5 x the machine's RAM (or --mib), fills it page by
 * page with content a swap device must hand back exactly — about 20% zero
 * pages, 20% duplicates of a few template pages, 40% text-like pages and
 * 20% random pages, the mix a compressing, deduplicating swap device is
 * built for — then touches every page again in several passes, each in a
 * new random order, verifying it and rewriting about half.  A last pass
 * verifies every page.  Every page's content is a function of (seed, page
 * number, generation), so verification needs no second copy of the data.
 *
 * Output: one line per pass and a summary with mismatches per kind, major
 * faults and peak swap use.  Exit status 0 when every page matched, 1 on any
 * mismatch or when memory could not be had, 2 on a usage error.
 *
 * --corrupt N flips one byte in N pages after the first pass, behind the
 * kernel's back, so that a test can check that mismatches are caught.
 *
 * --wait-for PATH waits after the first pass until PATH exists: a small
 * run left idle beside a big one has its pages swapped out, and verifies
 * them when told (tests/vm/guest-swap: pages that must survive another
 * process's exit).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <unistd.h>

#define PAGE 4096

enum kind { K_ZERO, K_DUP, K_TEXT, K_RANDOM, K_COUNT };
static const char *const kind_name[K_COUNT] = {"zero", "duplicate", "text",
					       "random"};

/* A few templates only, so that duplicates really do repeat. */
#define N_TEMPLATES 8

static uint64_t seed = 1;

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t s = a * 0x2545f4914f6cdd1dULL ^ b ^ seed;

	return splitmix64(&s);
}

static enum kind page_kind(size_t i)
{
	unsigned pct = mix(i, 0x6b696e64) % 100;

	if (pct < 20)
		return K_ZERO;
	if (pct < 40)
		return K_DUP;
	if (pct < 80)
		return K_TEXT;
	return K_RANDOM;
}

static const char *const words[64] = {
	"the",	    "swap",    "page",	    "memory",  "pool",	  "kernel",
	"device",   "block",   "zero",	    "write",   "read",	  "cache",
	"compress", "dedup",   "flush",	    "evict",   "server",  "client",
	"socket",   "request", "reply",	    "index",   "hash",	  "slot",
	"and",	    "of",      "to",	    "in",      "a",	  "is",
	"for",	    "with",    "on",	    "that",    "by",	  "from",
	"when",	    "every",   "then",	    "not",     "only",	  "this",
	"lorem",    "ipsum",   "dolor",	    "sit",     "amet",	  "tempor",
	"magna",    "aliqua",  "veniam",    "nostrud", "ullamco", "laboris",
	"nisi",	    "commodo", "consequat", "duis",    "aute",	  "irure",
	"velit",    "esse",    "fugiat",    "nulla",
};

/* Text-like content: words from a small vocabulary in lines, with a
 * header naming the page so that a page handed back in the wrong place is
 * caught even when its body would pass. */
static void fill_text(unsigned char *p, uint64_t key, size_t page, unsigned gen)
{
	uint64_t state = key;
	size_t n = (size_t)snprintf((char *)p, PAGE, "page %zu gen %u\n", page,
				    gen);
	unsigned col = 0;

	while (n < PAGE) {
		uint64_t r = splitmix64(&state);

		for (int k = 0; k < 10 && n < PAGE; k++, r >>= 6) {
			const char *w = words[r & 63];
			size_t len = strlen(w);

			for (size_t j = 0; j < len && n < PAGE; j++)
				p[n++] = (unsigned char)w[j];
			col += len + 1;
			if (n < PAGE)
				p[n++] = col > 72 ? '\n' : ' ';
			if (col > 72)
				col = 0;
		}
	}
}

static void fill_random(unsigned char *p, uint64_t key, size_t page,
			unsigned gen)
{
	uint64_t state = key;
	uint64_t *w = (uint64_t *)p;

	w[0] = page;
	w[1] = gen;
	for (size_t j = 2; j < PAGE / 8; j++)
		w[j] = splitmix64(&state);
}

/* The content page i must have at generation gen. */
static void expected(unsigned char *p, size_t i, unsigned gen)
{
	switch (page_kind(i)) {
	case K_ZERO:
		memset(p, 0, PAGE);
		break;
	case K_DUP: {
		unsigned t = mix(i, gen) % N_TEMPLATES;

		fill_text(p, mix(t, 0x74656d70), t, 0);
		break;
	}
	case K_TEXT:
		fill_text(p, mix(i, gen + 0x10000), i, gen);
		break;
	default:
		fill_random(p, mix(i, gen + 0x20000), i, gen);
		break;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long meminfo_kib(const char *file, const char *key)
{
	FILE *f = fopen(file, "r");
	char line[256];
	long v = -1;
	size_t klen = strlen(key);

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void shuffle(uint32_t *order, size_t n)
{
	static uint64_t state = 0x5eed;

	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = splitmix64(&state) % (i + 1);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: swap-workload [--mib N | --ram-factor F] [--passes N]\n"
		"                     [--seed N] [--corrupt N] [--wait-for "
		"PATH]\n"
		"  --mib N         memory to use, in MiB (default: F x RAM)\n"
		"  --ram-factor F  multiple of MemTotal to use (default 1.5)\n"
		"  --passes N      passes over the pages, >= 2 (default 4)\n"
		"  --seed N        content seed (default 1)\n"
		"  --corrupt N     damage N pages after the fill "
		"(self-test)\n"
		"  --wait-for PATH after the fill, wait until PATH exists\n");
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mib", required_argument, NULL, 'm'},
		{"ram-factor", required_argument, NULL, 'f'},
		{"passes", required_argument, NULL, 'p'},
		{"seed", required_argument, NULL, 's'},
		{"corrupt", required_argument, NULL, 'c'},
		{"wait-for", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long mib = 0, passes = 4, corrupt = 0, v;
	double factor = 1.5;
	const char *wait_for = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'm':
			if (!parse_ulong(optarg, 1UL << 30, &mib) || mib == 0) {
				fprintf(stderr,
					"swap-workload: --mib: '%s' is not a "
					"positive number of MiB\n",
					optarg);
				return 2;
			}
			break;
		case 'f':
			factor = strtod(optarg, &end);
			if (end == optarg || *end || !(factor > 0) ||
			    factor > 100) {
				fprintf(stderr,
					"swap-workload: --ram-factor: '%s' is "
					"not a number in (0, 100]\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			if (!parse_ulong(optarg, 1000, &passes) || passes < 2) {
				fprintf(stderr,
					"swap-workload: --passes: '%s' is not "
					"a number from 2 to 1000\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			if (!parse_ulong(optarg, ULONG_MAX, &v)) {
				fprintf(stderr,
					"swap-workload: --seed: '%s' is not a "
					"number\n",
					optarg);
				return 2;
			}
			seed = v;
			break;
		case 'c':
			if (!parse_ulong(optarg, 1UL << 30, &corrupt)) {
				fprintf(stderr,
					"swap-workload: --corrupt: '%s' is not "
					"a number\n",
					optarg);
				return 2;
			}
			break;
		case 'w':
			wait_for = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "swap-workload: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (mib == 0) {
		long total = meminfo_kib("/proc/meminfo", "MemTotal");

		if (total <= 0) {
			fprintf(stderr, "swap-workload: cannot read MemTotal "
					"from /proc/meminfo; give --mib\n");
			return 2;
		}
		mib = (unsigned long)(total / 1024 * factor);
		if (mib == 0)
			mib = 1;
	}

	size_t npages = (size_t)mib * (1024 * 1024 / PAGE);
	if (corrupt > npages) {
		fprintf(stderr,
			"swap-workload: --corrupt %lu is more than the %zu "
			"pages\n",
			corrupt, npages);
		return 2;
	}
	/* MAP_NORESERVE: the point is to need swap, not to be refused by
	 * the overcommit heuristic up front. */
	unsigned char *mem =
		mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned char *want = aligned_alloc(PAGE, PAGE);
	unsigned char *gen = calloc(npages, 1);
	uint32_t *order = calloc(npages, sizeof *order);
	if (mem == MAP_FAILED || want == NULL || gen == NULL || order == NULL) {
		fprintf(stderr, "swap-workload: cannot allocate %lu MiB: %s\n",
			mib, strerror(errno));
		return 1;
	}
	/* Transparent huge pages would swap as 4 KiB pages anyway, but
	 * they change what is resident when; keep the test about pages. */
	madvise(mem, npages * PAGE, MADV_NOHUGEPAGE);

	size_t per_kind[K_COUNT] = {0}, bad[K_COUNT] = {0};
	for (size_t i = 0; i < npages; i++)
		per_kind[page_kind(i)]++;
	printf("swap-workload: %zu pages (%lu MiB), %lu passes, seed %" PRIu64
	       "\n",
	       npages, mib, passes, seed);
	printf("swap-workload: zero %zu, duplicate %zu, text %zu, random "
	       "%zu\n",
	       per_kind[K_ZERO], per_kind[K_DUP], per_kind[K_TEXT],
	       per_kind[K_RANDOM]);
	fflush(stdout);

	size_t reported = 0, verified = 0;
	long peak_swap = 0;
	double t0 = now();

	for (unsigned long pass = 0; pass < passes; pass++) {
		double ts = now();
		size_t rewritten = 0;
		bool first = pass == 0, last = pass == passes - 1;

		shuffle(order, npages);
		for (size_t k = 0; k < npages; k++) {
			size_t i = order[k];
			unsigned char *p = mem + i * PAGE;

			if (!first) {
				expected(want, i, gen[i]);
				verified++;
				if (memcmp(p, want, PAGE) != 0) {
					enum kind kd = page_kind(i);

					bad[kd]++;
					if (reported++ < 10) {
						size_t off = 0;

						while (p[off] == want[off])
							off++;
						printf("swap-workload: "
						       "MISMATCH "
						       "page %zu (%s, gen %u) "
						       "at byte %zu\n",
						       i, kind_name[kd], gen[i],
						       off);
					}
					/* Repair it, so that a later pass
					 * counts only new damage. */
					memcpy(p, want, PAGE);
				}
			}
			if (first || (!last && (mix(i, pass + 0x30000) & 1))) {
				if (!first)
					gen[i]++;
				expected(p, i, gen[i]);
				rewritten++;
			}
		}
		if (first && corrupt) {
			/* Flip one byte in each of the first N pages of a
			 * fresh random order. */
			shuffle(order, npages);
			for (size_t k = 0; k < corrupt; k++)
				mem[(size_t)order[k] * PAGE + 100] ^= 0x5a;
		}
		long swap = meminfo_kib("/proc/self/status", "VmSwap");
		if (swap > peak_swap)
			peak_swap = swap;
		printf("swap-workload: pass %lu/%lu: %.1f s, %zu written, "
		       "VmSwap %ld MiB\n",
		       pass + 1, passes, now() - ts, rewritten, swap / 1024);
		fflush(stdout);
		if (first && wait_for) {
			printf("swap-workload: waiting for %s\n", wait_for);
			fflush(stdout);
			while (access(wait_for, F_OK) != 0)
				usleep(100 * 1000);
			swap = meminfo_kib("/proc/self/status", "VmSwap");
			printf("swap-workload: %s is there; VmSwap %ld KiB\n",
			       wait_for, swap);
			fflush(stdout);
		}
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	size_t total_bad = bad[0] + bad[1] + bad[2] + bad[3];
	printf("swap-workload: %s: %zu page checks, %zu mismatches (zero %zu, "
	       "duplicate %zu, text %zu, random %zu) in %.1f s; major faults "
	       "%ld, peak VmSwap %ld MiB\n",
	       total_bad ? "FAILED" : "ok", verified, total_bad, bad[K_ZERO],
	       bad[K_DUP], bad[K_TEXT], bad[K_RANDOM], now() - t0, ru.ru_majflt,
	       peak_swap / 1024);
	return total_bad ? 1 : 0;
}
