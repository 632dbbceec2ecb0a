# Pool core sources and unit tests (included from Makefile.am).
libtmem_la_SOURCES += \
	tmem-version.c \
	$(NULL)
