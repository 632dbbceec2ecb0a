# pool scripts (included from Makefile.am)

# scripts/bench-pool: the pool benchmark (not a test; see its header).
EXTRA_DIST += \
	bench-pool \
	$(NULL)

# capture-pages: copy the resident anonymous pages of a workload.
noinst_PROGRAMS += capture-pages
capture_pages_SOURCES = capture-pages.c
