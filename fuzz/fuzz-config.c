/* tmem: libFuzzer target on the tmem.conf reader.
 *
 * Feeds arbitrary bytes to tmem_config_load_buffer, then validates and
 * prints whatever was accepted and reads the printed form back: the
 * parser must never crash, must always say what is wrong when it refuses,
 * and what it accepted must survive a round trip through
 * tmem_config_print.  Built only with --enable-fuzzing (clang); run it
 * with "make -C fuzz fuzz-config-run".
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The printed configuration without its " ; origin" comments, which
 * differ between the two reads by design.  inih has already cut any
 * " ;" out of the values, so the first one on a line is the comment. */
static size_t strip_origins(char *buf, size_t len)
{
	size_t i, j;

	for (i = j = 0; i < len;) {
		if (buf[i] == ' ' && i + 1 < len && buf[i + 1] == ';') {
			while (i < len && buf[i] != '\n')
				i++;
			continue;
		}
		buf[j++] = buf[i++];
	}
	return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmem_config cfg, again;
	char err[1024], *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;
	FILE *fp;
	int r;

	tmem_config_init(&cfg);
	err[0] = '\0';
	r = tmem_config_load_buffer(&cfg, "fuzz.conf", (const char *)data, size,
				    err, sizeof err);
	if (r != 0) {
		/* A refusal always names the file and says why. */
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	(void)tmem_config_validate(&cfg, err, sizeof err);

	fp = open_memstream(&buf, &len);
	if (fp == NULL)
		return 0;
	if (tmem_config_print(&cfg, fp) != 0)
		abort();
	fclose(fp);

	/* What was accepted reads back to the same configuration (lines
	 * longer than inih's buffer aside: paths can be longer). */
	tmem_config_init(&again);
	r = tmem_config_load_buffer(&again, "fuzz.conf", buf, len, err,
				    sizeof err);
	if (r == 0) {
		fp = open_memstream(&buf2, &len2);
		if (fp == NULL)
			abort();
		tmem_config_print(&again, fp);
		fclose(fp);
		len = strip_origins(buf, len);
		len2 = strip_origins(buf2, len2);
		if (len != len2 || memcmp(buf, buf2, len) != 0)
			abort();
	} else if (strstr(err, "line longer than") == NULL) {
		abort();
	}
	free(buf);
	free(buf2);
	return 0;
}
