/* tmem: the one size parser and the boolean parser.
 *
 * Every front-end and the config file read sizes through tmem_parse_size,
 * so that "size=4G" or "size=25%" means the same thing to the nbdkit plugin,
 * the FUSE daemon, tmemctl and tmem.conf.  nbdkit_parse_size cannot be used
 * here: it reports through nbdkit_error, and common/ depends on no
 * front-end.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tmem-config.h"

/* Physical RAM in bytes: sysconf first, /proc/meminfo if that fails
 * (some sandboxes hide _SC_PHYS_PAGES).  0 if neither answers. */
static uint64_t size_phys_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psize = sysconf(_SC_PAGESIZE);
	unsigned long long kib;
	char line[256];
	uint64_t ram = 0;
	FILE *fp;

	if (pages > 0 && psize > 0)
		return (uint64_t)pages * (uint64_t)psize;

	fp = fopen("/proc/meminfo", "re");
	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof line, fp)) {
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
			ram = (uint64_t)kib * 1024;
			break;
		}
	}
	fclose(fp);
	return ram;
}

/* Parse a run of decimal digits at *p, advancing *p.  -EINVAL if there
 * is none, -ERANGE if the value does not fit in 64 bits. */
static int size_parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int tmem_parse_size(const char *str, bool allow_percent, uint64_t *out)
{
	const char *p = str;
	unsigned shift = 0;
	uint64_t v, ram;
	int r;

	if (str == NULL)
		return -EINVAL;
	r = size_parse_digits(&p, &v);
	if (r < 0)
		return r;

	if (*p == '%') {
		if (!allow_percent || p[1] != '\0')
			return -EINVAL;
		/* A share of RAM: more than all of it is a mistake. */
		if (v > 100)
			return -ERANGE;
		ram = size_phys_ram();
		if (ram == 0)
			return -ENOTSUP;
		/* ram < 2^64 / 100 on any machine this runs on, but be
		 * exact anyway: divide first, then add the remainder. */
		v = ram / 100 * v + ram % 100 * v / 100;
		/* Round down to whole pages: a RAM fraction is never meant
		 * to the byte, and sizes of devices and pools are in pages. */
		*out = v & ~(uint64_t)(TMEM_PAGE_SIZE - 1);
		return 0;
	}

	switch (*p) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	}
	if (shift != 0) {
		p++;
		if (*p == 'i' || *p == 'I') {
			p++;
			if (*p != 'b' && *p != 'B')
				return -EINVAL;
		}
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		return -EINVAL;

	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int tmem_parse_bool(const char *str, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	size_t i;

	if (str == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(str, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(str, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}
