# nbd tests (included from Makefile.am)
