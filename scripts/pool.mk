# pool scripts (included from Makefile.am)

# scripts/bench-pool: the pool benchmark (not a test; see its header).
EXTRA_DIST += \
	bench-pool \
	$(NULL)

# capture-pages: copy the resident anonymous pages of a workload.
noinst_PROGRAMS += capture-pages
capture_pages_SOURCES = capture-pages.c

# bench-pool-run: pool put/get against raw zstd on a captured corpus.
noinst_PROGRAMS += bench-pool-run
bench_pool_run_SOURCES = \
	bench-pool-run.c \
	bench-pool.h \
	bench-pool-tmem.c \
	$(NULL)
bench_pool_run_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS) $(XXHASH_CFLAGS)
bench_pool_run_LDADD = ../common/libtmem.la $(ZSTD_LIBS) $(XXHASH_LIBS)
