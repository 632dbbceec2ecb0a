/* tmem: the library's version string, for --version and --dump-plugin. */
#include <config.h>

#include "tmem.h"

const char *tmem_version(void)
{
	return PACKAGE_VERSION;
}
