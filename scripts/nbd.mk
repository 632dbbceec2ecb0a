# nbd scripts (included from Makefile.am)
