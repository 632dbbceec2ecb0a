# fuse scripts (included from Makefile.am)
EXTRA_DIST += \
	bench-cache \
	packages-fuse.txt \
	$(NULL)
