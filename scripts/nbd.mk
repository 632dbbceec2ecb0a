# nbd scripts (included from Makefile.am)
EXTRA_DIST += \
	bench-nbd \
	packages-nbd.txt \
	$(NULL)
