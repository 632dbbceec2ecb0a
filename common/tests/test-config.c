/* tmem: unit tests of the size parser and the tmem.conf reader.
 *
 * Every key is set from a file and from the command line, every error path
 * is checked against the exact "FILE:LINE: key: what is wrong" message a
 * user would see, and the example tmem.conf shipped with the project is
 * loaded twice: as it is, and with every "#key = value" line uncommented,
 * which must give exactly the defaults it claims.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "tmem-config.h"
#include "tmem-opt.h"

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			failures++;                                            \
		}                                                              \
	} while (0)

/* ---- sizes and booleans -------------------------------------------- */

struct size_case {
	const char *str;
	bool percent;
	int ret;
	uint64_t val;
};

static void test_sizes(void)
{
	static const struct size_case cases[] = {
		{"0", false, 0, 0},
		{"4096", false, 0, 4096},
		{"1K", false, 0, 1024},
		{"1k", false, 0, 1024},
		{"1KB", false, 0, 1024},
		{"1KiB", false, 0, 1024},
		{"1kib", false, 0, 1024},
		{"2M", false, 0, 2ULL << 20},
		{"3G", false, 0, 3ULL << 30},
		{"4T", false, 0, 4ULL << 40},
		{"512B", false, 0, 512},
		{"18446744073709551615", false, 0, UINT64_MAX},
		{"16777215T", false, 0, 16777215ULL << 40},
		{"18446744073709551616", false, -ERANGE, 0},
		{"99999999999999999999999", false, -ERANGE, 0},
		{"16777216T", false, -ERANGE, 0},
		{"17179869184G", false, -ERANGE, 0},
		{"", false, -EINVAL, 0},
		{"G", false, -EINVAL, 0},
		{"-1", false, -EINVAL, 0},
		{"+1", false, -EINVAL, 0},
		{" 1", false, -EINVAL, 0},
		{"1 ", false, -EINVAL, 0},
		{"1.5G", false, -EINVAL, 0},
		{"1Ki", false, -EINVAL, 0},
		{"1X", false, -EINVAL, 0},
		{"1GG", false, -EINVAL, 0},
		{"0x10", false, -EINVAL, 0},
		{"25%", false, -EINVAL, 0},
		{"0%", true, 0, 0},
		{"101%", true, -ERANGE, 0},
		{"99999999999999999999%", true, -ERANGE, 0},
		{"%", true, -EINVAL, 0},
		{"1%%", true, -EINVAL, 0},
		{"1%G", true, -EINVAL, 0},
		{"1G%", true, -EINVAL, 0},
	};
	uint64_t ram, v, prev = 0;
	size_t i;
	int r, pct;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		v = 12345;
		r = tmem_parse_size(cases[i].str, cases[i].percent, &v);
		if (r != cases[i].ret || (r == 0 && v != cases[i].val)) {
			fprintf(stderr,
				"tmem_parse_size(\"%s\", %d) = %d, %llu; "
				"expected %d, %llu\n",
				cases[i].str, cases[i].percent, r,
				(unsigned long long)v, cases[i].ret,
				(unsigned long long)cases[i].val);
			failures++;
		}
		if (r < 0)
			CHECK(v == 12345); /* untouched on error */
	}

	/* Percentages of RAM: whole pages, monotonic, 100% is all of it. */
	ram = (uint64_t)sysconf(_SC_PHYS_PAGES) *
	      (uint64_t)sysconf(_SC_PAGESIZE);
	CHECK(tmem_parse_size("100%", true, &v) == 0);
	CHECK(v == (ram & ~(uint64_t)4095));
	CHECK(tmem_parse_size("50%", true, &v) == 0);
	CHECK(v == ((ram / 2) & ~(uint64_t)4095));
	for (pct = 1; pct <= 100; pct++) {
		char s[8];

		snprintf(s, sizeof s, "%d%%", pct);
		CHECK(tmem_parse_size(s, true, &v) == 0);
		CHECK(v % 4096 == 0);
		CHECK(v >= prev);
		CHECK(v <= ram / 100 * pct + ram % 100);
		CHECK(v + 4096 > ram / 100 * pct);
		prev = v;
	}
	CHECK(tmem_parse_size(NULL, true, &v) == -EINVAL);
}

static void test_bools(void)
{
	static const char *const yes[] = {"1",	 "true", "TRUE", "yes",
					  "Yes", "on",	 "ON"};
	static const char *const no[] = {"0",  "false", "False", "no",
					 "NO", "off",	"Off"};
	static const char *const bad[] = {"",	  "2",	 "y",	    "n",
					  "yes ", " no", "enabled", "-1"};
	bool b;
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		b = false;
		CHECK(tmem_parse_bool(yes[i], &b) == 0 && b);
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		b = true;
		CHECK(tmem_parse_bool(no[i], &b) == 0 && !b);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(tmem_parse_bool(bad[i], &b) == -EINVAL);
	CHECK(tmem_parse_bool(NULL, &b) == -EINVAL);
}

/* ---- helpers ------------------------------------------------------- */

static int load_str(struct tmem_config *cfg, const char *text, char *err,
		    size_t len)
{
	return tmem_config_load_buffer(cfg, "t.conf", text, strlen(text), err,
				       len);
}

/* The effective configuration, without the "; origin" comments. */
static char *dump(const struct tmem_config *cfg, bool origins)
{
	char *buf = NULL, *p, *q;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert(fp);
	assert(tmem_config_print(cfg, fp) == 0);
	fclose(fp);
	if (!origins) {
		/* Drop " ; ..." to the end of each line. */
		for (p = q = buf; *p;) {
			if (p[0] == ' ' && p[1] == ';') {
				while (*p && *p != '\n')
					p++;
				continue;
			}
			*q++ = *p++;
		}
		*q = '\0';
	}
	return buf;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	assert(fp);
	assert(fseek(fp, 0, SEEK_END) == 0);
	n = ftell(fp);
	assert(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert(buf);
	assert(fread(buf, 1, (size_t)n, fp) == (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* ---- the example file ---------------------------------------------- */

static void test_example(void)
{
	struct tmem_config def, cfg;
	char err[1024], *text, *p, *a, *b;
	size_t len;
	int uncommented = 0;

	tmem_config_init(&def);
	tmem_config_init(&cfg);
	CHECK(tmem_config_load(&cfg, EXAMPLE_CONF, err, sizeof err) == 0);
	CHECK(tmem_config_validate(&cfg, err, sizeof err) == 0);
	a = dump(&def, false);
	b = dump(&cfg, false);
	CHECK(strcmp(a, b) == 0);
	free(b);

	/* Uncomment every "#key = value": the documented defaults must be
	 * the real ones. */
	text = read_file(EXAMPLE_CONF, &len);
	for (p = text; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z') {
			p[0] = ' ';
			uncommented++;
		}
	CHECK(uncommented == 28);
	tmem_config_init(&cfg);
	if (tmem_config_load_buffer(&cfg, "example", text, len, err,
				    sizeof err) != 0) {
		fprintf(stderr, "uncommented example: %s\n", err);
		failures++;
	}
	b = dump(&cfg, false);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "example's defaults differ:\n%s\n---\n%s\n", a,
			b);
		failures++;
	}
	/* ...and every key really came from the file. */
	free(b);
	b = dump(&cfg, true);
	CHECK(strstr(b, "; default") == NULL);
	free(a);
	free(b);
	free(text);
}

/* ---- every key ----------------------------------------------------- */

static const char all_keys[] = "; every key, none at its default\n"
			       "[pool]\n"
			       "name = other.pool_1\n"
			       "size = 1G\n"
			       "level = -5\n"
			       "dedup = no\n"
			       "lock = off\n"
			       "prefault = true\n"
			       "contexts = 4\n"
			       "min-share.swap0 = 128M\n"
			       "max-share.swap0 = 512M\n"
			       "  max-share.cache-a = 64M ; indented\n"
			       "[swap]\n"
			       "size = 4G\n"
			       "overflow = /var/tmp/tmem overflow\n"
			       "export = swap0\n"
			       "socket = /run/other.sock\n"
			       "min-share = 256M\n"
			       "threads = 8\n"
			       "priority = -1\n"
			       "\n"
			       "[cache]\n"
			       "chunk-size = 1M\n"
			       "max-share = 100M\n"
			       "attr-timeout = 0.5\n"
			       "entry-timeout = 0\n"
			       "name = srv\n"
			       "[pool]\n"
			       "# a section may come back\n";

static void check_all_keys(const struct tmem_config *cfg)
{
	uint64_t mn, mx;

	CHECK(strcmp(cfg->pool_name, "other.pool_1") == 0);
	CHECK(cfg->pool_size == 1ULL << 30);
	CHECK(cfg->level == -5);
	CHECK(!cfg->dedup);
	CHECK(!cfg->lock);
	CHECK(cfg->prefault);
	CHECK(cfg->contexts == 4);
	CHECK(cfg->swap_size == 4ULL << 30);
	CHECK(strcmp(cfg->swap_overflow, "/var/tmp/tmem overflow") == 0);
	CHECK(strcmp(cfg->swap_export, "swap0") == 0);
	CHECK(strcmp(cfg->swap_socket, "/run/other.sock") == 0);
	CHECK(cfg->swap_min_share == 256ULL << 20);
	CHECK(cfg->swap_threads == 8);
	CHECK(cfg->swap_priority == -1);
	CHECK(cfg->cache_chunk_size == 1ULL << 20);
	CHECK(cfg->cache_max_share == 100ULL << 20);
	CHECK(cfg->cache_attr_timeout == 0.5);
	CHECK(cfg->cache_entry_timeout == 0.0);
	CHECK(strcmp(cfg->cache_name, "srv") == 0);
	CHECK(cfg->nr_shares == 2);
	CHECK(tmem_config_share(cfg, "swap0", &mn, &mx) == 0);
	CHECK(mn == 128ULL << 20 && mx == 512ULL << 20);
	/* Only max-share.cache-a is given: the minimum stays the caller's. */
	mn = 7;
	CHECK(tmem_config_share(cfg, "cache-a", &mn, &mx) == 0);
	CHECK(mn == 7 && mx == 64ULL << 20);
	CHECK(tmem_config_share(cfg, "nope", &mn, &mx) == -ENOENT);
	CHECK(mn == 7 && mx == 64ULL << 20);
}

static void test_every_key(void)
{
	struct tmem_config cfg, again;
	struct tmem_options opts;
	char err[1024] = "", *a, *b;

	tmem_config_init(&cfg);
	if (load_str(&cfg, all_keys, err, sizeof err) != 0) {
		fprintf(stderr, "all keys: %s\n", err);
		failures++;
	}
	CHECK(tmem_config_validate(&cfg, err, sizeof err) == 0);
	check_all_keys(&cfg);

	memset(&opts, 0, sizeof opts);
	tmem_config_to_options(&cfg, &opts);
	CHECK(strcmp(opts.name, "other.pool_1") == 0);
	CHECK(opts.pool_size == 1ULL << 30);
	CHECK(opts.level == -5 && !opts.dedup && !opts.lock && opts.prefault);
	CHECK(opts.contexts == 4);

	/* One key at a time, for scripts: sizes in bytes. */
	{
		static const char *const get[][3] = {
			{"pool", "size", "1073741824"},
			{"pool", "name", "other.pool_1"},
			{"pool", "level", "-5"},
			{"pool", "dedup", "no"},
			{"pool", "prefault", "yes"},
			{"pool", "min-share.swap0", "134217728"},
			{"pool", "max-share.cache-a", "67108864"},
			{"pool", "min-share.nope", "0"},
			{"swap", "overflow", "/var/tmp/tmem overflow"},
			{"swap", "priority", "-1"},
			{"cache", "attr-timeout", "0.5"},
			{"cache", "chunk-size", "1048576"},
			{"cache", "name", "srv"},
		};
		char v[4200];
		size_t k;

		for (k = 0; k < sizeof get / sizeof get[0]; k++) {
			if (tmem_config_get(&cfg, get[k][0], get[k][1], v,
					    sizeof v) != 0 ||
			    strcmp(v, get[k][2]) != 0) {
				fprintf(stderr,
					"get %s.%s = '%s', expected "
					"'%s'\n",
					get[k][0], get[k][1], v, get[k][2]);
				failures++;
			}
		}
		CHECK(tmem_config_get(&cfg, "pool", "colour", v, sizeof v) ==
		      -ENOENT);
		CHECK(tmem_config_get(&cfg, "swap", "min-share.x", v,
				      sizeof v) == -ENOENT);
		CHECK(tmem_config_get(&cfg, "pool", "min-share.a/b", v,
				      sizeof v) == -ENOENT);
		CHECK(tmem_config_get(&cfg, "disk", "size", v, sizeof v) ==
		      -ENOENT);
	}

	/* What tmem_config_print writes reads back the same. */
	a = dump(&cfg, true);
	CHECK(strstr(a, "size = 1G ; t.conf:4\n") != NULL);
	CHECK(strstr(a, "socket = /run/other.sock ; t.conf:17\n") != NULL);
	tmem_config_init(&again);
	CHECK(load_str(&again, a, err, sizeof err) == 0);
	check_all_keys(&again);
	free(a);
	a = dump(&cfg, false);
	b = dump(&again, false);
	CHECK(strcmp(a, b) == 0);
	free(a);
	free(b);

	/* The same through the command-line names. */
	static const char *const opts_kv[][2] = {
		{"pool", "other.pool_1"},
		{"pool-size", "1G"},
		{"level", "-5"},
		{"dedup", "no"},
		{"lock", "off"},
		{"prefault", "true"},
		{"contexts", "4"},
		{"min-share.swap0", "128M"},
		{"max-share.swap0", "512M"},
		{"max-share.cache-a", "64M"},
		{"size", "4G"},
		{"overflow", "/var/tmp/tmem overflow"},
		{"export", "swap0"},
		{"socket", "/run/other.sock"},
		{"min-share", "256M"},
		{"threads", "8"},
		{"priority", "-1"},
		{"chunk-size", "1M"},
		{"max-share", "100M"},
		{"attr-timeout", "0.5"},
		{"entry-timeout", "0"},
		{"cache-name", "srv"},
	};
	size_t i;

	tmem_config_init(&again);
	for (i = 0; i < sizeof opts_kv / sizeof opts_kv[0]; i++) {
		if (tmem_opt_set(&again, TMEM_OPT_CTL, opts_kv[i][0],
				 opts_kv[i][1], err, sizeof err) != 0) {
			fprintf(stderr, "set_option %s: %s\n", opts_kv[i][0],
				err);
			failures++;
		}
	}
	check_all_keys(&again);
	CHECK(tmem_opt_set(&again, TMEM_OPT_CTL, "config", "/x", err,
			   sizeof err) == -ENOENT);
	CHECK(strcmp(err, "config: unknown key") == 0);
	CHECK(tmem_opt_set(&again, TMEM_OPT_CTL, "name", "x", err,
			   sizeof err) == -ENOENT);
}

/* ---- errors -------------------------------------------------------- */

struct err_case {
	const char *text;
	const char *msg; /* expected error, exactly */
};

static const struct err_case err_cases[] = {
	{"[pool]\n[disk]\nsize = 1G\n",
	 "t.conf:2: [disk]: unknown section (expected [pool], [swap] or "
	 "[cache])"},
	{"[pool]\n\n[Pool]\n",
	 "t.conf:3: [Pool]: unknown section (expected [pool], [swap] or "
	 "[cache])"},
	{"[ pool ]\nsize = 1G\n",
	 "t.conf:1: [ pool ]: unknown section (expected [pool], [swap] or "
	 "[cache])"},
	{"[pool\nsize = 1G\n", "t.conf:1: [pool: missing ']'"},
	/* After ']' only blanks or a comment: a key there was dropped. */
	{"[swap]size = 4G\n",
	 "t.conf:1: [swap]size = 4G: text after ']' (only a ';' or '#' "
	 "comment may follow)"},
	{"[pool] junk\n",
	 "t.conf:1: [pool] junk: text after ']' (only a ';' or '#' comment "
	 "may follow)"},
	{"size = 1G\n",
	 "t.conf:1: size: key before any section (put it under [pool], "
	 "[swap] or [cache])"},
	{"[pool]\nsise = 1G\n", "t.conf:2: sise: unknown key in [pool]"},
	{"[cache]\nexport = x\n", "t.conf:2: export: unknown key in [cache]"},
	{"[swap]\nmin-share.x = 1G\n",
	 "t.conf:2: min-share.x: unknown key in [swap]"},
	{"[pool]\n= 3\n", "t.conf:2: missing key before '='"},
	{"[swap]\noverflow =;e]\n",
	 "t.conf:2: overflow: the value starts with ';' (a comment needs a "
	 "space before it; a value cannot start with ';')"},
	{"[pool]\nlevel = 3\nname =; x\n",
	 "t.conf:3: name: the value starts with ';' (a comment needs a "
	 "space before it; a value cannot start with ';')"},
	{"# c\n[pool]\nsize\n",
	 "t.conf:3: syntax error (expected [section], key = value or a "
	 "comment)"},
	{"[pool]\nlevel = 3\nlevel = 4\n",
	 "t.conf:3: level: set twice in [pool] (first on line 2)"},
	{"[pool]\nsize = 1G\n[swap]\nsize = 1G\n[pool]\nsize = 2G\n",
	 "t.conf:6: size: set twice in [pool] (first on line 2)"},
	{"[pool]\nmin-share.a = 1M\nmin-share.a = 2M\n",
	 "t.conf:3: min-share.a: set twice (first on line 2)"},
	{"[pool]\nsize = lots\n",
	 "t.conf:2: size: 'lots' is not a size (expected a number with an "
	 "optional K, M, G or T suffix, or N% of RAM)"},
	{"[pool]\nsize = 99999999999T\n",
	 "t.conf:2: size: '99999999999T' is too large"},
	{"[pool]\nsize = 18446744073709551616\n",
	 "t.conf:2: size: '18446744073709551616' is too large"},
	{"[pool]\nsize = 120%\n",
	 "t.conf:2: size: '120%' is more than all of RAM"},
	{"[pool]\nsize = 0\n", "t.conf:2: size: must not be 0"},
	{"[pool]\nsize = 64K\n",
	 "t.conf:2: size: '64K' is less than the minimum, 1M"},
	{"[pool]\nsize = 1000000\n",
	 "t.conf:2: size: '1000000' is not a multiple of the page size "
	 "(4096)"},
	{"[pool]\nsize =\n",
	 "t.conf:2: size: '' is not a size (expected a number with an "
	 "optional K, M, G or T suffix, or N% of RAM)"},
	{"[pool]\nsize = 1G # a comment needs ';'\n",
	 "t.conf:2: size: '1G # a comment needs ';'' is not a size "
	 "(expected a number with an optional K, M, G or T suffix, or N% of "
	 "RAM)"},
	{"[pool]\nname = a/b\n",
	 "t.conf:2: name: 'a/b' is not a valid name (1 to 63 letters, "
	 "digits, '.', '_' or '-', not starting with '.' or '-')"},
	{"[pool]\nname =\n",
	 "t.conf:2: name: '' is not a valid name (1 to 63 letters, digits, "
	 "'.', '_' or '-', not starting with '.' or '-')"},
	{"[pool]\nname = .hidden\n",
	 "t.conf:2: name: '.hidden' is not a valid name (1 to 63 letters, "
	 "digits, '.', '_' or '-', not starting with '.' or '-')"},
	{"[pool]\nname = "
	 "a234567890123456789012345678901234567890123456789012345678901234\n",
	 "t.conf:2: name: "
	 "'a234567890123456789012345678901234567890123456789012345678901234' "
	 "is not a valid name (1 to 63 letters, digits, '.', '_' or '-', not "
	 "starting with '.' or '-')"},
	{"[pool]\nlevel = high\n", "t.conf:2: level: 'high' is not an integer"},
	{"[pool]\nlevel = 3.5\n", "t.conf:2: level: '3.5' is not an integer"},
	{"[pool]\nlevel = 23\n", NULL /* range from zstd: checked below */},
	{"[pool]\ndedup = maybe\n",
	 "t.conf:2: dedup: 'maybe' is not a boolean (expected yes/no, "
	 "true/false, on/off or 1/0)"},
	{"[pool]\nlock = 2\n",
	 "t.conf:2: lock: '2' is not a boolean (expected yes/no, true/false, "
	 "on/off or 1/0)"},
	{"[pool]\nprefault = \n",
	 "t.conf:2: prefault: '' is not a boolean (expected yes/no, "
	 "true/false, on/off or 1/0)"},
	{"[pool]\ncontexts = 0\n",
	 "t.conf:2: contexts: '0' is out of range (1 to 62)"},
	{"[pool]\ncontexts = 99999999999999999999\n",
	 "t.conf:2: contexts: '99999999999999999999' is out of range (1 to "
	 "62)"},
	/* The pool's own ranges (tmem_open), not looser ones. */
	{"[pool]\ncontexts = 63\n",
	 "t.conf:2: contexts: '63' is out of range (1 to 62)"},
	{"[pool]\ncontexts = 100\n",
	 "t.conf:2: contexts: '100' is out of range (1 to 62)"},
	{"[pool]\nsize = 16G\n",
	 "t.conf:2: size: '16G' is more than the maximum, 16777088K"},
	/* The command line's own keys are no tmem.conf keys. */
	{"[swap]\noverflow-size = 1G\n",
	 "t.conf:2: overflow-size: unknown key in [swap]"},
	{"[cache]\nadmit = all\n", "t.conf:2: admit: unknown key in [cache]"},
	{"[pool]\nmin-share.a/b = 1M\n",
	 "t.conf:2: min-share.a/b: 'a/b' is not a valid sub-pool name (1 to "
	 "63 letters, digits, '.', '_' or '-', not starting with '.' or '-')"},
	{"[pool]\nmax-share. = 1M\n",
	 "t.conf:2: max-share.: '' is not a valid sub-pool name (1 to 63 "
	 "letters, digits, '.', '_' or '-', not starting with '.' or '-')"},
	{"[pool]\nmax-share.a = big\n",
	 "t.conf:2: max-share.a: 'big' is not a size (expected a number with "
	 "an optional K, M, G or T suffix, or N% of RAM)"},
	{"[swap]\nsize = 4097\n",
	 "t.conf:2: size: '4097' is not a multiple of the page size (4096)"},
	{"[swap]\nexport = -x\n",
	 "t.conf:2: export: '-x' is not a valid name (1 to 63 letters, "
	 "digits, '.', '_' or '-', not starting with '.' or '-')"},
	{"[swap]\nthreads = 0\n",
	 "t.conf:2: threads: '0' is out of range (1 to 1024)"},
	{"[swap]\nthreads = -3\n",
	 "t.conf:2: threads: '-3' is out of range (1 to 1024)"},
	{"[swap]\npriority = -2\n",
	 "t.conf:2: priority: '-2' is out of range (-1 to 32767)"},
	{"[swap]\npriority = 32768\n",
	 "t.conf:2: priority: '32768' is out of range (-1 to 32767)"},
	{"[swap]\nmin-share = 1%%\n",
	 "t.conf:2: min-share: '1%%' is not a size (expected a number with "
	 "an optional K, M, G or T suffix, or N% of RAM)"},
	{"[cache]\nchunk-size = 10%\n",
	 "t.conf:2: chunk-size: '10%': a percentage is not allowed here"},
	{"[cache]\nchunk-size = 1000\n",
	 "t.conf:2: chunk-size: '1000' is not a multiple of the page size "
	 "(4096)"},
	{"[cache]\nchunk-size = 0\n", "t.conf:2: chunk-size: must not be 0"},
	{"[cache]\nchunk-size = 1G\n",
	 "t.conf:2: chunk-size: '1G' is more than the maximum, 64M"},
	{"[cache]\nattr-timeout = soon\n",
	 "t.conf:2: attr-timeout: 'soon' is not a number of seconds"},
	{"[cache]\nattr-timeout = nan\n",
	 "t.conf:2: attr-timeout: 'nan' is not a number of seconds"},
	{"[cache]\nentry-timeout = inf\n",
	 "t.conf:2: entry-timeout: 'inf' is not a number of seconds"},
	{"[cache]\nentry-timeout = -1\n",
	 "t.conf:2: entry-timeout: '-1' is out of range (0 to 86400 "
	 "seconds)"},
	{"[cache]\nentry-timeout = 1e400\n",
	 "t.conf:2: entry-timeout: '1e400' is not a number of seconds"},
	{"[cache]\nname = a b\n",
	 "t.conf:2: name: 'a b' is not a valid name (1 to 63 letters, "
	 "digits, '.', '_' or '-', not starting with '.' or '-')"},
};

static void check_err(const char *text, size_t len, const char *expect)
{
	struct tmem_config cfg;
	char err[1024] = "";
	int r;

	tmem_config_init(&cfg);
	r = tmem_config_load_buffer(&cfg, "t.conf", text, len, err, sizeof err);
	if (r != -EINVAL || strcmp(err, expect) != 0) {
		fprintf(stderr,
			"file:\n%s\nreturned %d with\n  \"%s\"\nexpected "
			"-EINVAL with\n  \"%s\"\n",
			text, r, err, expect);
		failures++;
	}
}

static void test_errors(void)
{
	char expect[256], line[400];
	size_t i;

	for (i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++)
		if (err_cases[i].msg)
			check_err(err_cases[i].text, strlen(err_cases[i].text),
				  err_cases[i].msg);

	snprintf(expect, sizeof expect,
		 "t.conf:2: level: '23' is out of range (%d to %d)",
		 ZSTD_minCLevel(), ZSTD_maxCLevel());
	check_err("[pool]\nlevel = 23\n", 18, expect);

	/* A NUL byte, which a C string API would silently cut at. */
	check_err("[pool]\nlevel = 3\0 junk\n", 22,
		  "t.conf:2: NUL byte in the line");

	/* A line longer than inih's buffer. */
	memset(line, 'x', sizeof line);
	memcpy(line, "[swap]\noverflow = /", 19);
	line[sizeof line - 1] = '\n';
	check_err(line, sizeof line,
		  "t.conf:2: line longer than 198 characters");

	/* More sub-pools with shares than fit. */
	{
		char text[4096];
		size_t n = 0;

		n += (size_t)snprintf(text + n, sizeof text - n, "[pool]\n");
		for (i = 0; i <= TMEM_CONFIG_SHARES_MAX; i++)
			n += (size_t)snprintf(text + n, sizeof text - n,
					      "max-share.p%zu = 1M\n", i);
		check_err(text, n,
			  "t.conf:34: max-share.p32: too many sub-pools with "
			  "shares (at most 32)");
	}

	/* The first error wins, even when inih's own complaint is it. */
	check_err("[pool]\nsize\nlevel = x\n",
		  strlen("[pool]\nsize\nlevel = x\n"),
		  "t.conf:2: syntax error (expected [section], key = value or "
		  "a comment)");
}

/* ---- conflicts ----------------------------------------------------- */

static void check_conflict(const char *text, const char *expect)
{
	struct tmem_config cfg;
	char err[1024] = "";
	int r;

	tmem_config_init(&cfg);
	r = load_str(&cfg, text, err, sizeof err);
	CHECK(r == 0);
	r = tmem_config_validate(&cfg, err, sizeof err);
	if (r != -EINVAL || strcmp(err, expect) != 0) {
		fprintf(stderr,
			"file:\n%s\nvalidated %d with\n  \"%s\"\nexpected "
			"-EINVAL with\n  \"%s\"\n",
			text, r, err, expect);
		failures++;
	}
}

static void test_conflicts(void)
{
	struct tmem_config cfg;
	char err[1024];

	check_conflict("[pool]\nsize = 256M\n[swap]\nmin-share = 512M\n",
		       "t.conf:4: min-share: 512M is more than the pool's "
		       "size (256M)");
	check_conflict("[cache]\nmax-share = 1G\n",
		       "t.conf:2: max-share: 1G is more than the pool's size "
		       "(256M)");
	check_conflict("[pool]\nmin-share.a = 300M\n",
		       "t.conf:2: min-share.a: 300M is more than the pool's "
		       "size (256M)");
	check_conflict("[pool]\nmax-share.a = 300M\n",
		       "t.conf:2: max-share.a: 300M is more than the pool's "
		       "size (256M)");
	check_conflict("[pool]\nmax-share.a = 10M\nmin-share.a = 20M\n",
		       "t.conf:3: min-share.a: 20M is more than max-share.a "
		       "(10M)");
	check_conflict("[pool]\nmin-share.a = 100M\nmin-share.b = 100M\n"
		       "[swap]\nmin-share = 100M\n",
		       "t.conf:3: min-share.b: the reserved shares add up to "
		       "300M, more than the pool can reserve (its size, 256M, "
		       "less one 64K chunk)");
	check_conflict(
		"[pool]\nsize = 16M\nmin-share.a = 8M\nmin-share.b = 8M\n",
		"t.conf:4: min-share.b: the reserved shares add up to "
		"16M, more than the pool can reserve (its size, 16M, "
		"less one 64K chunk)");
	check_conflict("[pool]\nsize = 16777088K\nmin-share.a = 16777024K\n"
		       "min-share.b = 16777088K\n",
		       "t.conf:4: min-share.b: the reserved shares add up to "
		       "33554112K, more than the pool can reserve (its size, "
		       "16777088K, less one 64K chunk)");
	/* max-share.swap alone leaves [swap] min-share in force: counted
	 * and checked against the cap, whatever the keys' order. */
	check_conflict("[pool]\nmax-share.swap = 250M\nmin-share.other = "
		       "100M\n[swap]\nmin-share = 200M\n",
		       "t.conf:3: min-share.other: the reserved shares add up "
		       "to 300M, more than the pool can reserve (its size, "
		       "256M, less one 64K chunk)");
	check_conflict("[pool]\nmax-share.swap = 100M\n[swap]\nmin-share = "
		       "200M\n",
		       "t.conf:4: [swap] min-share: 200M is more than "
		       "max-share.swap (100M)");
	check_conflict("[swap]\nexport = x\n[cache]\nname = x\n",
		       "t.conf:4: name: the cache cannot use 'x', the swap "
		       "device's sub-pool");

	/* The swap device's own entry replaces [swap] min-share. */
	tmem_config_init(&cfg);
	CHECK(load_str(&cfg,
		       "[pool]\nmin-share.swap = 200M\n[swap]\nmin-share = "
		       "200M\n",
		       err, sizeof err) == 0);
	CHECK(tmem_config_validate(&cfg, err, sizeof err) == 0);

	/* A conflict the command line made has no FILE:LINE; one it
	 * resolves is no conflict. */
	tmem_config_init(&cfg);
	CHECK(tmem_config_set(&cfg, "swap", "min-share", "1G", err,
			      sizeof err) == 0);
	CHECK(tmem_config_validate(&cfg, err, sizeof err) == -EINVAL);
	CHECK(strcmp(err, "min-share: 1G is more than the pool's size "
			  "(256M)") == 0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "pool-size", "2G", err,
			   sizeof err) == 0);
	CHECK(tmem_config_validate(&cfg, err, sizeof err) == 0);
}

/* ---- precedence ---------------------------------------------------- */

static void test_precedence(void)
{
	static const char file[] = "[pool]\nsize = 1G\nlevel = 7\n"
				   "min-share.a = 1M\n[swap]\nsize = 8M\n";
	struct tmem_config cfg;
	char err[1024];
	uint64_t mn, mx;
	int order;

	for (order = 0; order < 2; order++) {
		tmem_config_init(&cfg);
		if (order == 0)
			CHECK(load_str(&cfg, file, err, sizeof err) == 0);
		CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "pool-size", "2G", err,
				   sizeof err) == 0);
		CHECK(tmem_config_set(&cfg, "swap", "size", "16M", err,
				      sizeof err) == 0);
		CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "min-share.a", "2M", err,
				   sizeof err) == 0);
		if (order == 1)
			CHECK(load_str(&cfg, file, err, sizeof err) == 0);
		CHECK(cfg.pool_size == 2ULL << 30);
		CHECK(cfg.swap_size == 16ULL << 20);
		CHECK(cfg.level == 7); /* from the file: not overridden */
		CHECK(tmem_config_share(&cfg, "a", &mn, &mx) == 0 &&
		      mn == 2ULL << 20);
	}

	/* The last command-line value wins. */
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "level", "1", err, sizeof err) ==
	      0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "level", "-1", err,
			   sizeof err) == 0);
	CHECK(cfg.level == -1);

	/* An overridden key must still be valid in the file. */
	tmem_config_init(&cfg);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "pool-size", "2G", err,
			   sizeof err) == 0);
	CHECK(load_str(&cfg, "[pool]\nsize = huge\n", err, sizeof err) ==
	      -EINVAL);
	CHECK(strncmp(err, "t.conf:2: size: 'huge' is not a size (", 38) == 0);

	/* Command-line errors: "key: what is wrong". */
	tmem_config_init(&cfg);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "pool-size", "1Q", err,
			   sizeof err) == -EINVAL);
	CHECK(strncmp(err, "pool-size: '1Q' is not a size (", 31) == 0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "pool-size", "99999999T", err,
			   sizeof err) == -ERANGE);
	CHECK(strcmp(err, "pool-size: '99999999T' is too large") == 0);
	CHECK(tmem_config_set(&cfg, "pool", "colour", "red", err, sizeof err) ==
	      -ENOENT);
	CHECK(strcmp(err, "colour: unknown key in [pool]") == 0);
	CHECK(tmem_config_set(&cfg, "disk", "size", "1G", err, sizeof err) ==
	      -ENOENT);
	CHECK(strcmp(err, "[disk]: unknown section") == 0);
	{
		char path[5000];

		memset(path, 'p', sizeof path);
		path[sizeof path - 1] = '\0';
		CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "overflow", path, err,
				   sizeof err) == -ENAMETOOLONG);
		CHECK(strcmp(err, "overflow: longer than 4095 characters") ==
		      0);
		CHECK(cfg.swap_overflow[0] == '\0');
	}
	/* A failed set leaves the old value. */
	CHECK(cfg.pool_size == TMEM_DEFAULT_POOL_SIZE);
}

/* ---- files --------------------------------------------------------- */

static void test_files(void)
{
	struct tmem_config cfg;
	char dir[] = "/tmp/tmem-test-config.XXXXXX", path[256], err[1024];
	FILE *fp;

	assert(mkdtemp(dir));
	tmem_config_init(&cfg);
	snprintf(path, sizeof path, "%s/missing.conf", dir);
	CHECK(tmem_config_load(&cfg, path, err, sizeof err) == -ENOENT);
	CHECK(strstr(err, "missing.conf: No such file or directory") != NULL);
	CHECK(tmem_config_load(&cfg, dir, err, sizeof err) == -EISDIR);
	/* A FIFO is refused, not waited on for a writer. */
	snprintf(path, sizeof path, "%s/fifo.conf", dir);
	assert(mkfifo(path, 0600) == 0);
	CHECK(tmem_config_load(&cfg, path, err, sizeof err) == -EINVAL);
	CHECK(strstr(err, "fifo.conf: not a regular file") != NULL);
	unlink(path);
	/* Comments after a section header are fine, ';' or '#'. */
	snprintf(path, sizeof path, "%s/commented.conf", dir);
	fp = fopen(path, "w");
	assert(fp);
	fputs("[pool] ; the pool\nlevel = 4\n[swap]\t# swap\nsize = 4G\n"
	      "[cache];\n",
	      fp);
	fclose(fp);
	CHECK(tmem_config_load(&cfg, path, err, sizeof err) == 0);
	CHECK(cfg.level == 4);
	CHECK(cfg.swap_size == 4ULL << 30);
	unlink(path);

	snprintf(path, sizeof path, "%s/bad.conf", dir);
	fp = fopen(path, "w");
	assert(fp);
	fputs("\xEF\xBB\xBF[pool]\r\nlevel = 5\r\n\r\n[swap]\r\nsize = x\r\n",
	      fp);
	fclose(fp);
	CHECK(tmem_config_load(&cfg, path, err, sizeof err) == -EINVAL);
	{
		char expect[512];

		snprintf(expect, sizeof expect,
			 "%s:5: size: 'x' is not a size (expected a number "
			 "with an optional K, M, G or T suffix, or N%% of RAM)",
			 path);
		CHECK(strcmp(err, expect) == 0);
	}
	CHECK(cfg.level == 5); /* lines before the error were read */
	unlink(path);
	rmdir(dir);
}

/* ---- the programs' command lines ------------------------------------ */

static void test_programs(void)
{
	static const unsigned progs[] = {TMEM_OPT_PLUGIN, TMEM_OPT_CACHE,
					 TMEM_OPT_CTL};
	struct tmem_config cfg;
	char err[1024], *a;
	size_t i;

	/* One key, one range, one message, whoever is asked. */
	for (i = 0; i < 3; i++) {
		tmem_config_init(&cfg);
		CHECK(tmem_opt_set(&cfg, progs[i], "contexts", "62", err,
				   sizeof err) == 0);
		CHECK(cfg.contexts == TMEM_CONTEXTS_MAX);
		CHECK(tmem_opt_set(&cfg, progs[i], "contexts", "63", err,
				   sizeof err) == -ERANGE);
		CHECK(strcmp(err, "contexts: '63' is out of range (1 to 62)") ==
		      0);
		CHECK(tmem_opt_set(&cfg, progs[i], "pool-size", "16G", err,
				   sizeof err) == -ERANGE);
		CHECK(strcmp(err, "pool-size: '16G' is more than the maximum, "
				  "16777088K") == 0);
		CHECK(tmem_opt_set(&cfg, progs[i], "pool-size", "16777088K",
				   err, sizeof err) == 0);
		CHECK(cfg.pool_size == TMEM_POOL_SIZE_MAX);
		CHECK(cfg.contexts == TMEM_CONTEXTS_MAX); /* kept */
	}

	/* Each program takes its own keys and no others. */
	tmem_config_init(&cfg);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, "chunk-size", "1M", err,
			   sizeof err) == -ENOENT);
	CHECK(strcmp(err, "chunk-size: unknown key") == 0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, "min-share.a", "1M", err,
			   sizeof err) == -ENOENT);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "size", "1M", err,
			   sizeof err) == -ENOENT);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "socket", "/x", err,
			   sizeof err) == -ENOENT);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "reset", "yes", err,
			   sizeof err) == -ENOENT);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CTL, "admit", "all", err,
			   sizeof err) == -ENOENT);
	CHECK(tmem_opt_known(TMEM_OPT_CACHE, "admit=all", 5));
	CHECK(tmem_opt_known(TMEM_OPT_CACHE, "max-share.x", 11));
	CHECK(!tmem_opt_known(TMEM_OPT_CACHE, "max-share.", 10));
	CHECK(!tmem_opt_known(TMEM_OPT_CACHE, "allow_other", 11));
	CHECK(!tmem_opt_known(TMEM_OPT_PLUGIN, "threads", 7));

	/* The command line's own keys. */
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, "reset", "yes", err,
			   sizeof err) == 0);
	CHECK(cfg.swap_reset);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, "overflow-size", "0", err,
			   sizeof err) == -ERANGE);
	CHECK(strcmp(err, "overflow-size: must not be 0") == 0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, "overflow-size", "8M", err,
			   sizeof err) == 0);
	CHECK(cfg.swap_overflow_size == 8ULL << 20);
	CHECK(cfg.cache_admit == TMEM_ADMIT_REPEAT);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "admit", "all", err,
			   sizeof err) == 0);
	CHECK(cfg.cache_admit == TMEM_ADMIT_ALL);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "admit", "most", err,
			   sizeof err) == -EINVAL);
	CHECK(strcmp(err, "admit: 'most' is not 'repeat' or 'all'") == 0);
	CHECK(cfg.cache_admit == TMEM_ADMIT_ALL);
	CHECK(cfg.cache_granularity == 2.0);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "timestamp-granularity", "0.5",
			   err, sizeof err) == 0);
	CHECK(cfg.cache_granularity == 0.5);
	CHECK(tmem_opt_set(&cfg, TMEM_OPT_CACHE, "timestamp-granularity", "-1",
			   err, sizeof err) == -ERANGE);
	CHECK(strcmp(err, "timestamp-granularity: '-1' is out of range (0 to "
			  "86400 seconds)") == 0);
	/* They are no tmem.conf keys: not printed. */
	a = dump(&cfg, false);
	CHECK(strstr(a, "admit") == NULL && strstr(a, "reset") == NULL &&
	      strstr(a, "overflow-size") == NULL &&
	      strstr(a, "granularity") == NULL);
	free(a);
}

int main(void)
{
	test_sizes();
	test_bools();
	test_example();
	test_every_key();
	test_errors();
	test_conflicts();
	test_precedence();
	test_files();
	test_programs();
	if (failures) {
		fprintf(stderr, "test-config: %d failures\n", failures);
		return 1;
	}
	printf("test-config: all passed\n");
	return 0;
}
