# pool scripts (included from Makefile.am)
